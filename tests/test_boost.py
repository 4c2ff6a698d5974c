"""Boosted trees on the conditional logit: fitted with LightGBM, evaluated with numpy (qa/model.py)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from qa_service.evaluation.boost import PARAMS, boost, trees_of
from qa_service.qa.model import AnswerModel, Choice, Logistic, Trees

NAMES = ("bias", "a", "b", "c")


def _xor_groups(n_groups: int, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups of ``rows`` rows; the right row is the one whose two features agree (both high or both
    low, at random) while the others' disagree: no weighted sum of them tells it apart."""
    rng = np.random.default_rng(seed)
    n = n_groups * rows
    high = rng.random(n) < 0.5
    x = np.column_stack([np.ones(n), np.where(high, 0.9, 0.1), np.where(high, 0.1, 0.9), rng.random(n)])
    target = np.zeros(n)
    right = np.arange(n_groups) * rows + rng.integers(rows, size=n_groups)
    x[right, 2] = x[right, 1]
    target[right] = 1.0
    return x, target, np.repeat(np.arange(n_groups), rows)


def _picked_right(choice: Choice, x: np.ndarray, target: np.ndarray, rows: int) -> float:
    right = [target[i : i + rows][int(np.argmax(choice.prob(x[i : i + rows])))] for i in range(0, len(x), rows)]
    return float(np.mean(right))


def test_trees_learn_what_the_weights_cannot():
    x, target, groups = _xor_groups(1000, 5, seed=1)
    linear = Choice.fit(x, target, groups, NAMES, l2=0.1)
    boosted = boost(linear, x, target, groups)
    test_x, test_target, _ = _xor_groups(200, 5, seed=2)
    assert _picked_right(linear, test_x, test_target, 5) < 0.6  # the low-low half at best
    assert _picked_right(boosted, test_x, test_target, 5) > 0.85


def test_numpy_trees_give_lightgbms_predictions():
    rng = np.random.default_rng(3)
    x = rng.random((3000, 5))
    y = np.sin(6 * x[:, 0]) + (x[:, 1] > 0.4) * x[:, 2] - x[:, 3] ** 2
    params = PARAMS | {"min_data_in_leaf": 5, "num_threads": 1}
    booster = lgb.train({**params, "objective": "regression"}, lgb.Dataset(x, y), num_boost_round=30)
    trees = trees_of(booster.dump_model())
    test = rng.random((500, 5))
    test[:50] = x[:50]  # rows on the training values too, where thresholds sit between them
    assert np.allclose(trees.predict(test), booster.predict(test, raw_score=True), rtol=0, atol=1e-9)
    again = Trees.from_list(trees.to_list())
    assert np.allclose(again.predict(test), trees.predict(test), rtol=0, atol=1e-7)  # leaves saved to 9 places


def test_a_tree_that_is_one_leaf_adds_its_value():
    trees = Trees.from_list(
        [
            {"f": [], "t": [], "l": [], "r": [], "v": [0.25]},
            {"f": [0], "t": [0.5], "l": [-1], "r": [-2], "v": [1.0, 2.0]},
        ]
    )
    assert trees.predict(np.array([[0.2], [0.7]])).tolist() == [1.25, 2.25]
    assert trees.depth == 1


def test_a_shortlist_leaves_the_other_rows_no_chance():
    trees = Trees.from_list([{"f": [1], "t": [0.5], "l": [-1], "r": [-2], "v": [5.0, 0.0]}])
    choice = Choice(("bias", "a"), np.array([0.0, 1.0]), trees, shortlist=2)
    x = np.array([[1, 0.9], [1, 0.8], [1, 0.1]])  # the trees favour the last row, outside the shortlist
    p = choice.prob(x)
    assert p[2] == 0.0 and p[:2].sum() == pytest.approx(1.0)
    everything = Choice(("bias", "a"), np.array([0.0, 1.0]), trees)
    assert int(np.argmax(everything.prob(x))) == 2


def test_trees_are_saved_and_loaded_with_the_weights(tmp_path):
    x, target, groups = _xor_groups(200, 4, seed=4)
    span = boost(Choice.fit(x, target, groups, NAMES, l2=0.1), x, target, groups, trees=10, shortlist=3)
    logistic = Logistic(NAMES, np.zeros(4))
    AnswerModel(span, span, logistic, 0.5, {}).save(tmp_path / "m.json")
    back = AnswerModel.load(tmp_path / "m.json", (NAMES, NAMES, NAMES))
    assert back.span.shortlist == 3 and back.span.trees is not None
    assert np.allclose(back.span.scores(x), span.scores(x), atol=1e-4)  # weights are saved to 6 places
    # trees read columns by position: weights for every name are not enough if the columns moved
    moved = (NAMES[0], NAMES[2], NAMES[1], NAMES[3])
    with pytest.raises(ValueError, match="re-fit"):
        AnswerModel.load(tmp_path / "m.json", (NAMES, moved, NAMES))
