"""jieba's part-of-speech tagger (``jieba.posseg``) with its HMM decoded by numpy.

``pseg.cut`` tags the words its dictionary knows by lookup and decodes each run of characters it does
not know with a Viterbi over 256 (position, tag) states, written in Python: a question's names cost
about 1.2 ms, most of a question's parsing.  ``viterbi`` below decodes the same model the same way
(the same sums in the same order, ties to the greatest state as jieba's ``max`` of (score, state)
tuples) with one numpy step per character.  Importing this module puts it in ``jieba.posseg``'s
place; every module of this project tags through ``pseg`` from here, so none tags before it is in.
tests/test_postag.py checks it gives jieba's own paths and scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jieba.posseg as pseg
import numpy as np
from jieba.posseg import viterbi as _jieba_viterbi

__all__ = ["pseg", "viterbi"]

State = tuple[str, str]  # (B/M/E/S, tag)
EMITS_KEPT = 8192  # characters whose emission scores are kept (2 KB each)


class _Model:
    """jieba.posseg's HMM as arrays: states numbered in their order as tuples (the order ties break by)."""

    def __init__(self, start_p: Mapping[State, float], trans_p: Mapping[State, Mapping[State, float]]) -> None:
        self.states: list[State] = sorted(trans_p)
        self.number = {s: i for i, s in enumerate(self.states)}
        n = len(self.states)
        self.start = np.array([start_p[s] for s in self.states])
        self.trans = np.full((n, n), float("-inf"))  # a move jieba's table lacks scores -inf (its MIN_INF)
        self.follows = np.zeros((n, n), bool)  # which moves the table has
        for s0, nexts in trans_p.items():
            for s1, p in nexts.items():
                self.trans[self.number[s0], self.number[s1]] = p
                self.follows[self.number[s0], self.number[s1]] = True
        self.leads = self.follows.any(axis=1)  # states with a move out
        self.all = np.arange(n)
        self._char_states: dict[str, np.ndarray] = {}
        self.emits: dict[str, np.ndarray] = {}  # each character's emission score in every state

    def char_states(self, ch: str, table: Mapping[str, Sequence[State]]) -> np.ndarray:
        found = self._char_states.get(ch)
        if found is None:
            known = table.get(ch)
            found = self.all if known is None else np.array(sorted(self.number[s] for s in known), dtype=np.int64)
            self._char_states[ch] = found
        return found


_MODELS: dict[int, tuple[Any, _Model]] = {}  # by id of the transition table, kept with it


def viterbi(obs: str, states: Mapping[str, Sequence[State]], start_p: Any, trans_p: Any, emit_p: Any) -> tuple:
    """``jieba.posseg.viterbi``'s (probability, route), decoded with numpy."""
    known = _MODELS.get(id(trans_p))
    if known is None or known[0] is not trans_p:
        known = _MODELS[id(trans_p)] = (trans_p, _Model(start_p, trans_p))
    model = known[1]
    n = len(model.states)
    score = np.full(n, np.nan)  # the best path's score ending in each state (nan: none)
    first = model.char_states(obs[0], states)
    score[first] = model.start[first] + _emit(model, emit_p, first, obs[0])
    back: list[np.ndarray] = []  # for each step, the state each state came from (-1: none)
    for ch in obs[1:]:
        prev = np.flatnonzero(~np.isnan(score) & model.leads)
        if not len(prev):  # jieba's max() of nothing would raise: let it
            return _jieba_viterbi(obs, states, start_p, trans_p, emit_p)
        expected = model.follows[prev].any(axis=0)
        cand = model.char_states(ch, states)
        obs_states = cand[expected[cand]]
        if not len(obs_states):
            obs_states = np.flatnonzero(expected) if expected.any() else model.all
        total = (score[prev][:, None] + model.trans[prev[:, None], obs_states]) + _emit(model, emit_p, obs_states, ch)
        best = len(prev) - 1 - np.argmax(total[::-1], axis=0)  # the last of equal maxima: the greatest state
        score = np.full(n, np.nan)
        score[obs_states] = total[best, np.arange(len(obs_states))]
        came = np.full(n, -1, np.int64)
        came[obs_states] = prev[best]
        back.append(came)
    ended = np.flatnonzero(~np.isnan(score))
    state = int(ended[len(ended) - 1 - np.argmax(score[ended][::-1])])
    prob = float(score[state])
    route = [state]
    for came in reversed(back):
        state = int(came[state])
        route.append(state)
    return prob, [model.states[s] for s in reversed(route)]


def _emit(model: _Model, emit_p: Mapping[State, Mapping[str, float]], at: np.ndarray, ch: str) -> np.ndarray:
    """The ``at`` states' scores of emitting ``ch`` (jieba's MIN_FLOAT where its table has none)."""
    every = model.emits.get(ch)
    if every is None:
        every = np.array([emit_p[s].get(ch, -3.14e100) for s in model.states])
        if len(model.emits) < EMITS_KEPT:
            model.emits[ch] = every
    return every[at]


pseg.viterbi = viterbi  # what POSTokenizer calls for a run of characters it does not know
