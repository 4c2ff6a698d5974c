"""Logistic regressions, fitted on data and shipped as a small JSON file of named weights.

Small enough to write with numpy (Newton's method with an L2 penalty, a few dozen features), so the
service needs no machine-learning library at run time and the weights can be read and diffed.
``Logistic`` scores each row on its own; ``Choice`` (a conditional logit) scores the rows of one
question against each other, which is what picking one short answer out of hundreds of spans, or
one evidence sentence out of a few dozen, is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


_W = TypeVar("_W", bound="Weights")


@dataclass(frozen=True)
class Weights:
    """Named weights, one per feature column, as the JSON file keeps them."""

    names: tuple[str, ...]
    weights: np.ndarray

    def to_dict(self) -> dict[str, float]:
        return {n: round(float(v), 6) for n, v in zip(self.names, self.weights, strict=True)}

    @classmethod
    def from_dict(cls: type[_W], names: tuple[str, ...], weights: dict[str, float]) -> _W:
        missing = [n for n in names if n not in weights]
        if missing:
            raise ValueError(f"the answer model lacks weights for {missing}: re-fit it")
        return cls(tuple(names), np.array([weights[n] for n in names], dtype=np.float64))


@dataclass(frozen=True)
class Logistic(Weights):
    """P(a row is positive), each row on its own."""

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


@dataclass(frozen=True)
class Choice(Weights):
    """Conditional logit: P(row i is the one to pick) = softmax over the rows of its group."""

    def scores(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.weights

    def prob(self, x: np.ndarray) -> np.ndarray:
        """The probability of each row of ``x`` (one group) being the one to pick."""
        z = self.scores(x)
        e = np.exp(z - z.max())
        return e / e.sum()

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        target: np.ndarray,
        groups: np.ndarray,
        names: tuple[str, ...],
        l2: float = 1.0,
        group_weight: np.ndarray | None = None,
        iterations: int = 60,
    ) -> Choice:
        """Weights maximising sum_g w_g sum_i target_i log P(i | g), with an L2 penalty.  Rows of a
        group must be consecutive; ``target`` sums to one in each group (a group with no right row
        teaches nothing: leave it out); ``group_weight`` is per group, in order.  Newton's method
        with step halving, since the full step can overshoot on the first iterations."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(target, dtype=np.float64)
        if x.shape[1] != len(names):
            raise ValueError(f"{x.shape[1]} feature columns but {len(names)} names")
        groups = np.asarray(groups)
        new = np.r_[True, groups[1:] != groups[:-1]]
        starts, gid = np.flatnonzero(new), np.cumsum(new) - 1
        gw = np.ones(len(starts)) if group_weight is None else np.asarray(group_weight, dtype=np.float64)
        w = np.zeros(x.shape[1])

        def loss_and_prob(beta: np.ndarray) -> tuple[float, np.ndarray]:
            z = x @ beta
            z = z - np.maximum.reduceat(z, starts)[gid]
            logp = z - np.log(np.add.reduceat(np.exp(z), starts))[gid]
            return float(-(gw[gid] * y * logp).sum() + 0.5 * l2 * beta @ beta), np.exp(logp)

        loss, p = loss_and_prob(w)
        for _ in range(iterations):
            grad = x.T @ ((p - y) * gw[gid]) + l2 * w
            mean = np.add.reduceat(x * p[:, None], starts)  # each group's expected row
            hess = (x * (p * gw[gid])[:, None]).T @ x - (mean * gw[:, None]).T @ mean + l2 * np.eye(len(w))
            step, t = np.linalg.solve(hess, grad), 1.0
            while True:
                new_loss, new_p = loss_and_prob(w - t * step)
                if new_loss <= loss or t < 1e-4:
                    break
                t /= 2
            w, loss, p = w - t * step, new_loss, new_p
            if np.abs(t * step).max() < 1e-6:
                break
        return cls(tuple(names), w)


@dataclass(frozen=True)
class AnswerModel:
    """The fitted scorers of evidence sentences and short-answer spans, and the probability below
    which the service abstains."""

    sentence: Choice
    span: Choice
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
            Choice.from_dict(names[0], data["sentence"]),
            Choice.from_dict(names[1], data["span"]),
            Logistic.from_dict(names[2], data["answerable"]),
            float(data["threshold"]),
            data.get("meta", {}),
        )
