"""Logistic regression, fitted on data and shipped as a small JSON file of named weights.

Small enough to write with numpy (Newton's method with an L2 penalty, a few dozen features), so the
service needs no machine-learning library at run time and the weights can be read and diffed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@dataclass(frozen=True)
class Logistic:
    names: tuple[str, ...]
    weights: np.ndarray

    def prob(self, x: np.ndarray) -> np.ndarray:
        """P(positive) of each row of ``x`` (n, features), or of one row."""
        return _sigmoid(np.asarray(x, dtype=np.float64) @ self.weights)

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        names: tuple[str, ...],
        l2: float = 1.0,
        iterations: int = 50,
        sample_weight: np.ndarray | None = None,
    ) -> Logistic:
        """Maximum-likelihood weights with an L2 penalty (not on the bias, the first column); each
        row counts ``sample_weight`` times (default once)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if x.shape[1] != len(names):
            raise ValueError(f"{x.shape[1]} feature columns but {len(names)} names")
        w = np.zeros(x.shape[1])
        penalty = np.full(x.shape[1], l2)
        penalty[0] = 0.0
        for _ in range(iterations):
            p = _sigmoid(x @ w)
            grad = x.T @ (sw * (p - y)) + penalty * w
            hess = (x * (sw * p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-6:
                break
        return cls(tuple(names), w)

    def to_dict(self) -> dict[str, float]:
        return {n: round(float(v), 6) for n, v in zip(self.names, self.weights, strict=True)}

    @classmethod
    def from_dict(cls, names: tuple[str, ...], weights: dict[str, float]) -> Logistic:
        missing = [n for n in names if n not in weights]
        if missing:
            raise ValueError(f"the answer model lacks weights for {missing}: re-fit it")
        return cls(tuple(names), np.array([weights[n] for n in names], dtype=np.float64))


@dataclass(frozen=True)
class AnswerModel:
    """The fitted scorers of evidence sentences and short-answer spans, and the probability below
    which the service abstains."""

    sentence: Logistic
    span: Logistic
    answerable: Logistic
    threshold: float  # answer when answerable.prob >= threshold
    meta: dict[str, Any]

    def save(self, path: Path) -> None:
        data = {
            "sentence": self.sentence.to_dict(),
            "span": self.span.to_dict(),
            "answerable": self.answerable.to_dict(),
            "threshold": round(self.threshold, 6),
            "meta": self.meta,
        }
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", "utf-8")

    @classmethod
    def load(cls, path: Path, names: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]) -> AnswerModel:
        """The model in ``path``; ``names`` are the feature names of the sentence, span and
        answerable scorers, which the file must give weights for."""
        data = json.loads(path.read_text("utf-8"))
        return cls(
            Logistic.from_dict(names[0], data["sentence"]),
            Logistic.from_dict(names[1], data["span"]),
            Logistic.from_dict(names[2], data["answerable"]),
            float(data["threshold"]),
            data.get("meta", {}),
        )
