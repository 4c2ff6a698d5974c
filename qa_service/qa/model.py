"""Logistic regressions, fitted on data and shipped as a small JSON file of named weights.

Small enough to write with numpy (Newton's method with an L2 penalty, a few dozen features), so the
service needs no machine-learning library at run time and the weights can be read and diffed.
``Logistic`` scores each row on its own; ``Choice`` (a conditional logit) scores the rows of one
question against each other, which is what picking one short answer out of hundreds of spans, or
one evidence sentence out of a few dozen, is.  A ``Choice`` may add ``Trees`` to its linear score:
boosted regression trees fitted (evaluation/boost.py, with LightGBM) to what the weights get wrong,
such as a feature that counts only together with another.  They are evaluated here with numpy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
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
class Trees:
    """A sum of regression trees over the feature columns, all trees' nodes in flat arrays.

    A row at node i goes to ``left[i]`` when its feature ``feature[i]`` is <= ``threshold[i]``, else to
    ``right[i]``.  A leaf is a node that leads to itself (threshold +inf).  ``value`` is the leaf's
    value (0 for the other nodes).  ``predict`` walks a copy of the trees laid out as complete binary
    trees (``_Complete``): every row walks exactly ``depth`` steps in every tree at once, a few array
    operations over (rows, trees), not a Python loop per tree."""

    feature: np.ndarray  # int64 per node
    threshold: np.ndarray  # float64 per node
    left: np.ndarray  # int64 per node
    right: np.ndarray  # int64 per node
    value: np.ndarray  # float64 per node
    roots: np.ndarray  # int64 root node of each tree
    depth: int

    complete: _Complete | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        complete = _Complete.of(self) if self.depth <= _COMPLETE_DEPTH else None
        object.__setattr__(self, "complete", complete)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The sum over the trees of each row's leaf value."""
        x = np.asarray(x, dtype=np.float64)
        if self.complete is not None:
            return self.complete.predict(x)
        node = np.broadcast_to(self.roots, (len(x), len(self.roots)))
        rows = np.arange(len(x))[:, None]
        for _ in range(self.depth):
            goes_left = x[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(goes_left, self.left[node], self.right[node])
        return self.value[node].sum(axis=1)

    @classmethod
    def from_list(cls, trees: list[dict[str, list[Any]]]) -> Trees:
        """Trees as saved: each has its split nodes' features ``f``, thresholds ``t`` and children
        ``l``/``r`` (a child < 0 is leaf ~child), and its leaves' values ``v``."""
        feature, threshold, left, right, value, roots = [], [], [], [], [], []
        depth = 0
        for tree in trees:
            base, n_split = len(feature), len(tree["f"])
            leaf0 = base + n_split

            def at(child: int, leaf0: int = leaf0, base: int = base) -> int:
                return leaf0 + ~child if child < 0 else base + child

            feature += [int(f) for f in tree["f"]]
            threshold += [float(t) for t in tree["t"]]
            left += [at(c) for c in tree["l"]]
            right += [at(c) for c in tree["r"]]
            value += [0.0] * n_split
            leaves = range(leaf0, leaf0 + len(tree["v"]))
            feature += [0] * len(leaves)
            threshold += [np.inf] * len(leaves)
            left += list(leaves)
            right += list(leaves)
            value += [float(v) for v in tree["v"]]
            roots.append(base if n_split else leaf0)
            depth = max(depth, _depth(tree))
        ints = [np.array(a, dtype=np.int64) for a in (feature, left, right, roots)]
        return cls(ints[0], np.array(threshold), ints[1], ints[2], np.array(value), ints[3], depth)

    def to_list(self) -> list[dict[str, list[Any]]]:
        out = []
        for k, root in enumerate(self.roots.tolist()):
            end = int(self.roots[k + 1]) if k + 1 < len(self.roots) else len(self.feature)
            split = [i for i in range(root, end) if self.left[i] != i]
            leaf0 = root + len(split)

            def local(i: int, leaf0: int = leaf0, root: int = root) -> int:
                return ~(i - leaf0) if i >= leaf0 else i - root

            out.append(
                {
                    "f": self.feature[split].tolist(),
                    "t": self.threshold[split].tolist(),  # exact: a rounded threshold could send a row the other way
                    "l": [local(int(i)) for i in self.left[split]],
                    "r": [local(int(i)) for i in self.right[split]],
                    "v": [round(float(v), 9) for v in self.value[leaf0:end]],
                }
            )
        return out


# Complete trees have 2**depth leaves each: deeper trees (LightGBM's depth is unbounded unless set;
# boost.PARAMS sets 5) are walked node by node instead.
_COMPLETE_DEPTH = 10


@dataclass(frozen=True)
class _Complete:
    """Trees as complete binary trees of one depth, every tree's nodes at a position side by side.

    A tree's node at position p (root 0) has its children at 2p+1 and 2p+2, so a row's walk is
    arithmetic on one index per (row, tree) instead of looking up each node's children; a leaf above
    the full depth has splits padded below it (threshold +inf) and its value in every leaf slot it
    covers, so each path through the padding ends on its value.  Node p of tree k is entry
    ``p * trees + k``: its children are ``2 * entry + (trees - k)`` and that plus ``trees``.
    Walking this way, with ``take`` on flat arrays, took half the time of following ``left`` and
    ``right`` (0.62 against 1.14 ms for the sentence and span trees of a CMRC2018 question, best of
    15 runs), and it sums the same leaf values in the same order: the scores are the same to the bit."""

    feature: np.ndarray  # intp, (2**depth - 1) * trees
    threshold: np.ndarray  # float64, likewise
    value: np.ndarray  # float64, 2**depth * trees: leaf slot l of tree k at l * trees + k
    trees: int
    depth: int

    @classmethod
    def of(cls, t: Trees) -> _Complete:
        n, depth = len(t.roots), t.depth
        splits = 2**depth - 1
        feature = np.zeros((splits, n), dtype=np.intp)
        threshold = np.full((splits, n), np.inf)
        value = np.zeros((splits + 1, n))
        todo = [(int(root), 0, 0, k) for k, root in enumerate(t.roots)]  # (node, position, level, tree)
        while todo:
            node, p, level, k = todo.pop()
            if t.left[node] == node:  # a leaf: its value in every leaf slot under its position
                below = 2 ** (depth - level)
                first = (p + 1) * below - 1 - splits
                value[first : first + below, k] = t.value[node]
                continue
            feature[p, k], threshold[p, k] = t.feature[node], t.threshold[node]
            todo += [(int(t.left[node]), 2 * p + 1, level + 1, k), (int(t.right[node]), 2 * p + 2, level + 1, k)]
        return cls(feature.ravel(), threshold.ravel(), value.ravel(), n, depth)

    def predict(self, x: np.ndarray) -> np.ndarray:
        n, width = x.shape
        flat = x.ravel()
        row = (np.arange(n) * width)[:, None]
        entry = np.tile(np.arange(self.trees), (n, 1))  # every row at every tree's root
        to_left = self.trees - np.arange(self.trees)
        for _ in range(self.depth):
            # not `>`: a row goes left only when its feature is <= the threshold, so a NaN goes right
            goes_right = ~(flat.take(self.feature.take(entry) + row) <= self.threshold.take(entry))
            entry *= 2
            entry += to_left
            entry += goes_right * self.trees
        return self.value.take(entry - (2**self.depth - 1) * self.trees).sum(axis=1)


def _depth(tree: dict[str, list[Any]]) -> int:
    """The longest path from the root to a leaf (0 for a tree that is one leaf)."""
    if not tree["f"]:
        return 0
    best, todo = 0, [(0, 1)]
    while todo:
        node, d = todo.pop()
        best = max(best, d)
        todo += [(c, d + 1) for c in (tree["l"][node], tree["r"][node]) if c >= 0]
    return best


@dataclass(frozen=True)
class Choice(Weights):
    """Conditional logit: P(row i is the one to pick) = softmax over the rows of its group.

    With ``trees``, a row's score is its weights' score plus the trees'.  With ``shortlist`` as well,
    only that many rows, the best by the weights, are scored by the trees: the others cannot be
    picked (their probability is 0).  A question reads about a thousand spans and the trees are many
    array operations, so the span scorer's trees read the weights' best few dozen."""

    trees: Trees | None = None
    shortlist: int | None = None

    def scores(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        z = x @ self.weights
        if self.trees is None:
            return z
        if self.shortlist is None or len(z) <= self.shortlist:
            return z + self.trees.predict(x)
        best = np.argsort(-z, kind="stable")[: self.shortlist]
        out = np.full(len(z), -np.inf)
        out[best] = z[best] + self.trees.predict(x[best])
        return out

    def with_trees(self, trees: Trees, shortlist: int | None = None) -> Choice:
        return replace(self, trees=trees, shortlist=shortlist)

    def prob(self, x: np.ndarray) -> np.ndarray:
        """The probability of each row of ``x`` (one group) being the one to pick."""
        return self.softmax(self.scores(x))

    @staticmethod
    def softmax(z: np.ndarray) -> np.ndarray:
        """The probabilities of the rows of one group from their ``scores``, for a caller that needs
        both without scoring the rows (walking the trees) twice."""
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
        text = json.dumps(data, ensure_ascii=False, indent=1)
        boosted = [(k, c) for k, c in (("sentence", self.sentence), ("span", self.span)) if isinstance(c, Choice)]
        trees = {k: (list(c.names), c.shortlist, c.trees) for k, c in boosted if c.trees is not None}
        if trees:  # one line per tree, after the weights: the file stays readable and its diffs short
            parts = []
            for name, (names, shortlist, tree_set) in trees.items():
                head = f'"features": {json.dumps(names)}, "shortlist": {json.dumps(shortlist)}'
                lines = ",\n".join("   " + json.dumps(t, separators=(",", ":")) for t in tree_set.to_list())
                parts.append(f'  "{name}": {{{head}, "trees": [\n{lines}\n  ]}}')
            text = text[:-2] + ',\n "trees": {\n' + ",\n".join(parts) + "\n }\n}"
        path.write_text(text + "\n", "utf-8")

    @classmethod
    def load(cls, path: Path, names: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]) -> AnswerModel:
        """The model in ``path``; ``names`` are the feature names of the sentence, span and
        answerable scorers, which the file must give weights for."""
        data = json.loads(path.read_text("utf-8"))
        choices = []
        for key, feature_names in (("sentence", names[0]), ("span", names[1])):
            choice = Choice.from_dict(feature_names, data[key])
            trees = data.get("trees", {}).get(key)
            if trees is not None:
                # Trees read feature columns by position: a feature added or moved since the fit would
                # silently send rows down the wrong branches.
                if trees["features"] != list(feature_names):
                    raise ValueError(f"the answer model's {key} trees were fitted on other features: re-fit it")
                choice = choice.with_trees(Trees.from_list(trees["trees"]), trees["shortlist"])
            choices.append(choice)
        return cls(
            choices[0],
            choices[1],
            Logistic.from_dict(names[2], data["answerable"]),
            float(data["threshold"]),
            data.get("meta", {}),
        )
