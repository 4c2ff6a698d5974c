"""Boosted trees on top of a fitted conditional logit (``qa-service fit`` only, not the service).

The trees learn what the linear weights get wrong: LightGBM grows them on the same objective the
weights were fitted on, the conditional logit's (each question's rows compete in one softmax), started
from the weights' scores, so each tree corrects the sum before it.  LightGBM is a fitting tool here:
the trees are saved as plain arrays (model.Trees) and the service evaluates them with numpy, so
answering needs no machine-learning library.  Held out (docs/answers.md, "Fitting"), the trees raised
short-answer F1 on the news and bulletin sets and on DRCD, and left CMRC2018 level.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from qa_service.qa.model import Choice, Trees

# Chosen on `qa-service fit`'s two held-out folds among a handful of settings (docs/answers.md).
# Depth 5 scored level with unbounded depth (12) and the service walks half the steps.
TREES = 150
PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "max_depth": 5,
    "min_data_in_leaf": 100,
    "min_sum_hessian_in_leaf": 1e-3,
    "feature_fraction": 0.9,
    "lambda_l2": 1.0,
    "use_missing": False,  # every split is a plain <=, as model.Trees evaluates it
    "num_threads": 2,  # 1 below SMALL rows
    "deterministic": True,
    "force_row_wise": True,
    "seed": 7,
    "verbose": -1,
}

# Fewer rows than this are boosted on one thread: OpenMP's threads wait by spinning, and on a busy
# machine a small fit on two threads was seen to take a minute instead of a second.
SMALL = 100_000


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError as exc:  # pragma: no cover - the dev and fit extras install it
        raise SystemExit("qa-service fit needs LightGBM: pip install 'qa-service[fit]'") from exc
    return lightgbm


def softmax_objective(groups: np.ndarray, group_weight: np.ndarray) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """The conditional logit's gradient and (diagonal) Hessian in each row's score, for LightGBM.
    ``groups``: consecutive group ids of the rows; ``group_weight``: one weight per group, in order."""
    new = np.r_[True, groups[1:] != groups[:-1]]
    starts, gid = np.flatnonzero(new), np.cumsum(new) - 1
    row_weight = np.asarray(group_weight, dtype=np.float64)[gid]

    def objective(scores: np.ndarray, data: Any) -> tuple[np.ndarray, np.ndarray]:
        target = data.get_label()
        z = scores - np.maximum.reduceat(scores, starts)[gid]
        e = np.exp(z)
        p = e / np.add.reduceat(e, starts)[gid]
        return row_weight * (p - target), np.maximum(row_weight * p * (1 - p), 1e-9)

    return objective


def boost(
    choice: Choice,
    x: np.ndarray,
    target: np.ndarray,
    groups: np.ndarray,
    group_weight: np.ndarray | None = None,
    shortlist: int | None = None,
    trees: int = TREES,
) -> Choice:
    """``choice`` (fitted on the same rows) with trees fitted to its residual.  Rows as for
    ``Choice.fit``: groups consecutive, ``target`` summing to one in each."""
    lgb = _lightgbm()
    x = np.asarray(x, dtype=np.float64)
    groups = np.asarray(groups)
    n_groups = int(np.count_nonzero(np.r_[True, groups[1:] != groups[:-1]])) if len(groups) else 0
    gw = np.ones(n_groups) if group_weight is None else np.asarray(group_weight, dtype=np.float64)
    data = lgb.Dataset(x, label=np.asarray(target, dtype=np.float64), init_score=x @ choice.weights)
    params = {**PARAMS, "objective": softmax_objective(groups, gw)}
    if len(x) < SMALL:
        params["num_threads"] = 1
    booster = lgb.train(params, data, num_boost_round=trees)
    return choice.with_trees(trees_of(booster.dump_model()), shortlist)


def trees_of(dump: dict[str, Any]) -> Trees:
    """model.Trees of a LightGBM model dump (``Booster.dump_model()``)."""
    return Trees.from_list([_tree(t["tree_structure"]) for t in dump["tree_info"]])


def _tree(root: dict[str, Any]) -> dict[str, list[Any]]:
    """One tree as Trees.from_list reads it: split nodes numbered depth first, leaves ~k."""
    tree: dict[str, list[Any]] = {"f": [], "t": [], "l": [], "r": [], "v": []}

    def walk(node: dict[str, Any]) -> int:
        if "leaf_value" in node:
            tree["v"].append(float(node["leaf_value"]))
            return ~(len(tree["v"]) - 1)
        if node["decision_type"] != "<=" or node.get("missing_type", "None") != "None":
            raise ValueError(f"a split Trees cannot evaluate: {node['decision_type']}, {node.get('missing_type')}")
        at = len(tree["f"])
        tree["f"].append(int(node["split_feature"]))
        tree["t"].append(float(node["threshold"]))
        tree["l"].append(0)
        tree["r"].append(0)
        tree["l"][at] = walk(node["left_child"])
        tree["r"][at] = walk(node["right_child"])
        return at

    walk(root)
    return tree
