"""Features of short-answer spans, computed for all the spans of a sentence at once.

A question reads a few hundred spans; scoring them one by one in Python was three quarters of the
time an answer took (cProfile, 150 CMRC2018 questions), so each feature here is an array over the
spans, built from per-position tables of the sentence (prefix sums, where the question's words
stand) instead of a loop over each span's characters.

A span's best single clue is the question's own wording around it: questions are often a sentence
of the text with the answer replaced by a question word (…开创了哪一地区… for …在欧洲…开创…), so the
characters just before and after a span are compared with the question's text before and after its
question word (``slot_left``/``slot_right``).  Every feature is generic: no word list of any corpus.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from qa_service.qa.features import EXPLAINING, PUNCT, QuestionView
from qa_service.qa.kinds import NUMBER_UNIT, SHAPES

_FILLER_FIRST = frozenset("的了是在和与及或也都就还又被把将对为从向由于")
_FILLER_LAST = frozenset("的了是在和与及或也都就还又被把将对为着过")
_COPULA = frozenset("是为叫称即指由于在")
_BREAK = frozenset(PUNCT) | frozenset("的等")
_OPEN, _CLOSE = frozenset("《“（(「‘"), frozenset("》”）)」’")
_LATIN_DIGIT = re.compile(r"[A-Za-z0-9.\-\s]")
_FUNCTION = frozenset("的是在了吗呢有和与及被把将对为从")
SLOT = 8  # characters of question context compared on each side of a span

SPAN_FEATURES = (
    "bias",
    "slot_left",
    "slot_right",
    "slot_both",
    "question_chars",
    "has_question_word",
    "near_question",
    "log_distance",
    "log_length",
    "filler_edge",
    "whole_clause",
    "after_copula",
    "before_break",
    "inner_punct",
    "whole_sentence",
    "explain_length",
    "explain_sentence",
    "short_kind_length",
    *(f"shape_{k}" for k in SHAPES),
    "shape_other",
    "kind_unshaped",
    "number_unit",
    "head_end",
    "head_char",
    "aligned",
    "misaligned",
    "bracketed",
    "other_length",
    "latin_or_digit",
    "sentence_prob",
)


def span_matrix(
    view: QuestionView, sentence: str, spans: Sequence[tuple[int, int, bool]], sentence_prob: float
) -> np.ndarray:
    """One row of SPAN_FEATURES per (start, end, whole clause) span of ``sentence``."""
    if not spans:
        return np.zeros((0, len(SPAN_FEATURES)))
    n = len(sentence)
    starts, ends, clauses = zip(*spans, strict=True)
    s = np.array(starts, dtype=np.int64)
    e = np.array(ends, dtype=np.int64)
    clause = np.array(clauses, dtype=np.float64)
    length = (e - s).astype(np.float64)
    log_len = np.log1p(length) / 4
    padded = sentence + " "  # the character after a span that ends the sentence
    first = [sentence[i] for i in starts]
    last = [sentence[i - 1] for i in ends]
    after = [padded[i] for i in ends]
    before = [sentence[i - 1] if i > 0 else " " for i in starts]
    left, right = _slot_tables(view, sentence)
    left, right = left[s], right[e]
    in_question = _prefix(sentence, view.chars.__contains__)
    punct = _prefix(sentence, PUNCT.__contains__)
    latin = _prefix(sentence, lambda ch: bool(_LATIN_DIGIT.fullmatch(ch)))
    distance, has_word = _question_words(view, sentence, s, e)
    whole = ((s == 0) & (e == n)).astype(np.float64)
    explains = float(view.kind in EXPLAINING)
    head_end, head_char = _head_features(view, sentence, s, e, last)
    aligned, misaligned = _alignment(view, sentence, s, e)
    columns = [
        np.ones(len(s)),
        left / SLOT,
        right / SLOT,
        (left >= 2) & (right >= 2),
        (in_question[e] - in_question[s]) / np.maximum(1, length),
        has_word,
        distance <= 3,
        np.log1p(distance) / 5,
        log_len,
        _member(first, _FILLER_FIRST) | _member(last, _FILLER_LAST),
        clause,
        (s > 0) & _member(before, _COPULA),
        (e >= n) | _member(after, _BREAK),
        punct[e] > punct[s],
        whole,
        log_len * explains,
        whole * explains,
        log_len * float(view.kind in SHAPES),
        *_shape_columns(view, sentence, spans),
        head_end,
        head_char,
        aligned,
        misaligned,
        (s > 0) & (e < n) & _member(before, _OPEN) & _member(after, _CLOSE),
        log_len * float(view.kind == "other"),
        (latin[e] - latin[s]) == length,
        np.full(len(s), sentence_prob),
    ]
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])


def _shape_columns(view: QuestionView, sentence: str, spans: Sequence[tuple[int, int, bool]]) -> list[np.ndarray]:
    """shape_<kind> (only the asked kind's shape counts), shape_other, kind_unshaped, number_unit."""
    shapes = np.column_stack([_fullmatches(p, sentence, spans) for p in SHAPES.values()])
    kind_shapes = shapes * np.array([k == view.kind for k in SHAPES], dtype=np.float64)
    any_kind = kind_shapes.any(axis=1)
    return [
        *kind_shapes.T,
        shapes.any(axis=1) & ~any_kind,
        np.full(len(spans), view.kind in SHAPES) & ~any_kind,
        _fullmatches(NUMBER_UNIT, sentence, spans) * float(view.kind == "number"),
    ]


def _member(chars: list[str], allowed: frozenset[str]) -> np.ndarray:
    return np.array([ch in allowed for ch in chars], dtype=bool)


def _prefix(sentence: str, test: Callable[[str], bool]) -> np.ndarray:
    """How many characters before each position pass ``test`` (length len(sentence) + 1)."""
    return np.concatenate([[0], np.cumsum([bool(test(ch)) for ch in sentence], dtype=np.int64)])


def _slot_tables(view: QuestionView, sentence: str) -> tuple[np.ndarray, np.ndarray]:
    """For each position: how many characters before it match the end of the question's text
    before its question word, and how many after it match the start of the text after it (≤ SLOT)."""
    n = len(sentence)
    left = np.zeros(n + 1, dtype=np.int64)
    right = np.zeros(n + 1, dtype=np.int64)
    q_left, q_right = view.left[-SLOT:], view.right[:SLOT]
    for p in range(n + 1):
        k = 0
        while k < min(len(q_left), p) and q_left[-1 - k] == sentence[p - 1 - k]:
            k += 1
        left[p] = k
        k = 0
        while k < min(len(q_right), n - p) and q_right[k] == sentence[p + k]:
            k += 1
        right[p] = k
    return left, right


def _occurrences(word: str, text: str) -> list[int]:
    """Every start of ``word`` in ``text``, overlapping ones too."""
    out, at = [], text.find(word)
    while at >= 0:
        out.append(at)
        at = text.find(word, at + 1)
    return out


def _question_words(view: QuestionView, sentence: str, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Characters between each span and the nearest of the question's words outside it (the
    sentence's length if none), and whether a question word lies inside the span."""
    distance = np.full(len(s), len(sentence), dtype=np.int64)
    inside = np.zeros(len(s), dtype=bool)
    for w in view.words:
        for at in _occurrences(w, sentence):
            end = at + len(w)
            distance = np.where(end <= s, np.minimum(distance, s - end), distance)
            distance = np.where(at >= e, np.minimum(distance, at - e), distance)
            inside |= (s <= at) & (end <= e)
    return distance.astype(np.float64), inside


def _fullmatches(pattern: re.Pattern[str], sentence: str, spans: Sequence[tuple[int, int, bool]]) -> np.ndarray:
    """Whether each span is wholly one match of ``pattern``.  A pattern without anchors or
    lookarounds (all of kinds.py's) that matches nowhere from a start matches no span from it, so
    most spans cost one set lookup, and the others are matched in place, without a copy."""
    starts = {a for a in {a for a, _, _ in spans} if pattern.match(sentence, a)}
    out = np.zeros(len(spans))
    for k, (a, b, _) in enumerate(spans):
        if a in starts and pattern.fullmatch(sentence, a, b):
            out[k] = 1.0
    return out


def _head(view: QuestionView) -> str:
    """The noun the question word asks about (哪所[大学], 什么[奖]): the one or two characters
    after it, unless they are a function word."""
    head = view.right[:2]
    if not head or head[0] in _FUNCTION or not "\u4e00" <= head[0] <= "\u9fff":
        return ""
    return head[:1] if len(head) == 2 and head[1] in _FUNCTION else head


def _head_features(
    view: QuestionView, sentence: str, s: np.ndarray, e: np.ndarray, last: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Whether a span ends with the asked noun (…大学 for 哪所大学), or with one of its characters
    (金马奖 for 什么奖项, 法国 for 哪个国家)."""
    head = _head(view)
    if not head:
        return np.zeros(len(s)), np.zeros(len(s))
    pairs = zip(s.tolist(), e.tolist(), strict=True)
    ends = np.array([sentence.endswith(head, 0, b) and b - a >= len(head) for a, b in pairs])
    return ends.astype(np.float64), np.array([ch in head for ch in last], dtype=np.float64)


def _alignment(view: QuestionView, sentence: str, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of the question's words found in the sentence outside a span (each at its first place), the
    share standing on the same side of the span as of the question word in the question, and the
    share on the other side."""
    same = np.zeros(len(s))
    other = np.zeros(len(s))
    for w in view.words:
        at = sentence.find(w)
        if at < 0:
            continue
        outside = (at < s) | (at >= e)
        agrees = (at < s) == (w in view.left)
        same += outside & agrees
        other += outside & ~agrees
    found = np.maximum(1, same + other)
    return same / found, other / found
