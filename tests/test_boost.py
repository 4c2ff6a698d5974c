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


def _random_tree(rng: np.random.Generator, depth: int, width: int) -> dict[str, list]:
    """A tree as Trees.from_list reads it, of random shape: each node splits with probability 0.7
    until ``depth``; thresholds on a coarse grid, so rows fall on them too."""
    tree: dict[str, list] = {"f": [], "t": [], "l": [], "r": [], "v": []}

    def grow(level: int) -> int:  # the child reference of a new node: >= 0 a split, < 0 leaf ~k
        if level == depth or rng.random() > 0.7:
            tree["v"].append(float(rng.normal()))
            return ~(len(tree["v"]) - 1)
        at = len(tree["f"])
        tree["f"].append(int(rng.integers(width)))
        tree["t"].append(float(rng.integers(10)) / 10)
        tree["l"].append(0)
        tree["r"].append(0)
        tree["l"][at] = grow(level + 1)
        tree["r"][at] = grow(level + 1)
        return at

    if grow(0) < 0:  # a tree that is one leaf has no splits
        assert not tree["f"]
    return tree


def _walked(trees: Trees, x: np.ndarray) -> np.ndarray:
    """Trees.predict by its definition, node by node in Python, summed as numpy sums a row."""
    leaves = np.zeros((len(x), len(trees.roots)))
    for i, row in enumerate(x):
        for k, node in enumerate(trees.roots.tolist()):
            while trees.left[node] != node:
                node = trees.left[node] if row[trees.feature[node]] <= trees.threshold[node] else trees.right[node]
            leaves[i, k] = trees.value[node]
    return leaves.sum(axis=1)


def test_the_complete_layout_walks_every_shape_of_tree_as_the_nodes_do():
    rng = np.random.default_rng(5)
    trees = Trees.from_list([_random_tree(rng, int(rng.integers(0, 6)), 4) for _ in range(60)])
    assert trees.complete is not None and trees.depth == 5
    x = rng.integers(10, size=(200, 4)) / 10  # on the thresholds as often as between them
    x[:10, 0] = np.nan  # a NaN is not <= its threshold: it goes right, in the padding too (feature 0)
    x[10:20, 1] = np.nan
    x[20:40] = rng.normal(size=(20, 4))
    assert np.array_equal(trees.predict(x), _walked(trees, x))  # the same sums, to the bit
    assert trees.predict(np.zeros((0, 4))).shape == (0,)


def test_trees_too_deep_for_the_complete_layout_are_walked_node_by_node():
    chain = {"f": [0] * 12, "t": [i / 12 for i in range(12)], "l": [~i for i in range(12)], "v": list(range(13))}
    chain["r"] = [*range(1, 12), ~12]  # a split's right child is the next split, the last one's a leaf
    trees = Trees.from_list([chain, _random_tree(np.random.default_rng(6), 3, 1)])
    assert trees.depth == 12 and trees.complete is None
    x = np.linspace(-0.1, 1.1, 50)[:, None]
    assert np.array_equal(trees.predict(x), _walked(trees, x))


def test_softmax_of_the_scores_is_the_probability():
    trees = Trees.from_list([{"f": [1], "t": [0.5], "l": [-1], "r": [-2], "v": [2.0, -1.0]}])
    choice = Choice(("bias", "a"), np.array([0.3, 1.5]), trees)
    x = np.array([[1, 0.9], [1, 0.2], [1, 0.5]])
    z = choice.scores(x)
    assert z.tolist() == pytest.approx([0.3 + 1.35 - 1.0, 0.3 + 0.3 + 2.0, 0.3 + 0.75 + 2.0])
    assert np.array_equal(Choice.softmax(z), choice.prob(x))
    assert Choice.softmax(z).sum() == pytest.approx(1.0) and int(np.argmax(Choice.softmax(z))) == 2
