"""Features of short-answer spans, computed for all the spans of the sentences read at once.

A question reads a few hundred spans; scoring them one by one in Python was three quarters of the
time an answer took (cProfile, 150 CMRC2018 questions), so each feature here is an array over the
spans, built from per-position tables of the sentences (prefix sums, where the question's words
stand) instead of a loop over each span's characters.  The four sentences a question reads are
joined and their spans computed together (``span_rows``): per sentence, the fixed cost of the numpy
calls was most of the time (2.7 of 4.2 ms per question, 300 CMRC2018 questions).

A span's best single clue is the question's own wording around it: questions are often a sentence
of the text with the answer replaced by a question word (…开创了哪一地区… for …在欧洲…开创…), so the
characters just before and after a span are compared with the question's text before and after its
question word (``slot_left``/``slot_right``).  Every feature is generic: no word list of any corpus.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa_service.core.lexicon import starts_with_surname
from qa_service.core.postag import pseg
from qa_service.qa.features import EXPLAINING, PUNCT, QuestionView
from qa_service.qa.kinds import NUMBER_UNIT, PERSON, SHAPES

_FILLER_FIRST = frozenset("的了是在和与及或也都就还又被把将对为从向由于")
_FILLER_LAST = frozenset("的了是在和与及或也都就还又被把将对为着过")
_COPULA = frozenset("是为叫称即指由于在")
_BREAK = frozenset(PUNCT) | frozenset("的等")
_OPEN, _CLOSE = frozenset("《“（(「‘"), frozenset("》”）)」’")
_LATIN_DIGIT = re.compile(r"[A-Za-z0-9.\-\s]")
_FUNCTION = frozenset("的是在了吗呢有和与及被把将对为从")
SLOT = 8  # characters of question context compared on each side of a span

# The classes of characters the features test, one bit each (_Chars): a character's bits are looked
# up once per distinct character of a sentence, not tested class by class at every position.
_FIRST, _LAST, _COPULA_BIT, _BREAK_BIT, _OPEN_BIT, _CLOSE_BIT = (1 << k for k in range(6))
_PUNCT, _LATIN, _QUESTION, _HEAD, _LEFT_Q, _RIGHT_Q = (1 << k for k in range(6, 12))
_BITS: dict[str, int] = {}
for _bit, _chars in (
    (_FIRST, _FILLER_FIRST),
    (_LAST, _FILLER_LAST),
    (_COPULA_BIT, _COPULA),
    (_BREAK_BIT, _BREAK),
    (_OPEN_BIT, _OPEN),
    (_CLOSE_BIT, _CLOSE),
    (_PUNCT, frozenset(PUNCT)),
):
    for _ch in _chars:
        _BITS[_ch] = _BITS.get(_ch, 0) | _bit

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
    "person_name",
    "place_name",
    "near_left",
    "near_right",
    "sentence_prob",
)


def span_matrix(
    view: QuestionView, sentence: str, spans: Sequence[tuple[int, int, bool]], sentence_prob: float
) -> np.ndarray:
    """One row of SPAN_FEATURES per (start, end, whole clause) span of ``sentence``."""
    return span_rows(view, [(sentence, spans, sentence_prob)])


Sentence = tuple[str, Sequence[tuple[int, int, bool]], float]  # its text, its spans, its probability


def span_rows(view: QuestionView, sentences: Sequence[Sentence]) -> np.ndarray:
    """span_matrix of each (sentence, spans, sentence probability), stacked in order, computed at
    once: the sentences are joined with a space, the padding each one's spans see after and before
    it, and every feature is one array operation over all the spans.  A question reads four
    sentences, and the fixed cost of each sentence's hundred-odd numpy calls was most of the time."""
    parts = [(text, spans, prob) for text, spans, prob in sentences if spans]
    if not parts:
        return np.zeros((0, len(SPAN_FEATURES)))
    texts = [t for t, _, _ in parts]
    counts = [len(spans) for _, spans, _ in parts]
    starts, ends, clauses = zip(*(span for _, spans, _ in parts for span in spans), strict=True)
    s_in, e_in = np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)
    base = np.repeat(np.cumsum([0] + [len(t) + 1 for t in texts[:-1]]), counts)
    spans = _Spans(
        s_in + base,
        e_in + base,
        s_in,
        e_in,
        np.repeat([len(t) for t in texts], counts),
        np.repeat(np.arange(len(parts)), counts),
        np.array(clauses, dtype=np.float64),
        np.repeat([p for _, _, p in parts], counts),
    )
    columns = _columns(view, texts, spans)
    # Filled in place: stacking forty small arrays cost more than computing most of them.
    out = np.empty((len(s_in), len(columns)))
    for k, column in enumerate(columns):
        out[:, k] = column
    return out


@dataclass(frozen=True)
class _Spans:
    """The spans of the joined sentences, one entry per span."""

    s: np.ndarray  # start and end in the joined text
    e: np.ndarray
    s_in: np.ndarray  # start and end in its sentence
    e_in: np.ndarray
    n: np.ndarray  # its sentence's length
    which: np.ndarray  # its sentence's index
    clause: np.ndarray
    prob: np.ndarray  # its sentence's probability


def _columns(view: QuestionView, texts: list[str], sp: _Spans) -> list[np.ndarray | float]:
    """The SPAN_FEATURES columns of the spans of ``texts`` joined with spaces."""
    text, head = " ".join(texts), _head(view)
    s, e, s_in, e_in, n = sp.s, sp.e, sp.s_in, sp.e_in, sp.n
    chars = _Chars(text, view, head)
    # Each character class is one flag per position, read at a span's first character (s), last
    # (e - 1), the one after it (e) and the one before it (s - 1: the padding for a span at 0).
    before, after = chars.flags(_COPULA_BIT)[s - 1], chars.flags(_BREAK_BIT)[e]
    in_question, punct, latin = chars.prefix(_QUESTION), chars.prefix(_PUNCT), chars.prefix(_LATIN)
    # Each sentence's position tables (n + 1 entries, relative to its start) joined end to end
    # span the joined text.
    slots = [_slot_tables(view, t) for t in texts]
    left, right = np.concatenate([a for a, _ in slots])[s], np.concatenate([b for _, b in slots])[e]
    words = [_word_tables(view, t) for t in texts]
    word_ends, word_starts, first_ends = (np.concatenate([w[k] for w in words]) for k in range(3))
    distance = np.minimum(n, np.minimum(s_in - word_ends[s], word_starts[e] - e_in)).astype(np.float64)
    head_ends = np.concatenate([_head_ends(head, t) for t in texts])
    length = (e - s).astype(np.float64)
    log_len = np.log1p(length) / 4
    whole = ((s_in == 0) & (e_in == n)).astype(np.float64)
    explains = float(view.kind in EXPLAINING)
    return [
        1.0,
        left / SLOT,
        right / SLOT,
        (left >= 2) & (right >= 2),
        (in_question[e] - in_question[s]) / np.maximum(1, length),
        first_ends[s] <= e_in,
        distance <= 3,
        np.log1p(distance) / 5,
        log_len,
        chars.flags(_FIRST)[s] | chars.flags(_LAST)[e - 1],
        sp.clause,
        (s_in > 0) & before,
        (e_in >= n) | after,
        punct[e] > punct[s],
        whole,
        log_len * explains,
        whole * explains,
        log_len * float(view.kind in SHAPES),
        *_shape_columns(view, text, s, e),
        head_ends[e] & (e - s >= len(head)),
        chars.flags(_HEAD)[e - 1],
        *_alignment(view, texts, sp),
        (s_in > 0) & (e_in < n) & chars.flags(_OPEN_BIT)[s - 1] & chars.flags(_CLOSE_BIT)[e],
        log_len * float(view.kind == "other"),
        (latin[e] - latin[s]) == length,
        *_names(view, text, s, e),
        *_near_context(view, chars, sp),
        sp.prob,
    ]


_IDEOGRAPHS = re.compile(r"[\u4e00-\u9fff]{2,3}")
_NAME_TAGS = ("nr",)  # jieba's tags of people's names: nr, nrt (transliterated), nrfg


def _names(view: QuestionView, text: str, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """person_name and place_name: whether each span reads as a bare name of the asked kind.

    A person (the shape ``shape_person`` asks a role before it: 区委书记宋洁, not 宋洁): a word jieba's
    dictionary tags as one (柏拉图), two or three ideographs it does not know starting with a surname
    (宋洁, 欧阳修; four were mostly a name glued to the next word: 宋洁实地), or a transliteration
    joined by a dot (卡尔·林奈).  A place: a word the dictionary
    tags as one (香港, 卢安达), which the place shape (a suffix: …省, …岛) does not see; held out it
    raised DRCD's place questions' F1 by 0.07-0.11 (docs/answers.md)."""
    person, place = np.zeros(len(s)), np.zeros(len(s))
    if view.kind not in ("person", "place"):
        return person, place
    tags = pseg.dt.word_tag_tab
    for k, (a, b) in enumerate(zip(s.tolist(), e.tolist(), strict=True)):
        if b - a > 12:
            continue
        t = text[a:b]
        tag = tags.get(t)
        if view.kind == "place":
            place[k] = b - a <= 8 and tag == "ns"
        elif tag is not None:
            person[k] = tag.startswith(_NAME_TAGS)
        elif _IDEOGRAPHS.fullmatch(t):
            person[k] = starts_with_surname(t)
        else:
            person[k] = "·" in t and bool(PERSON.fullmatch(t))
    return person, place


class _Chars:
    """The classes of each character of a text (bits), each distinct character looked up once (a
    sentence of a hundred characters has a few dozen distinct ones), instead of a Python test per
    position and class."""

    def __init__(self, sentence: str, view: QuestionView, head: str) -> None:
        codes = np.frombuffer(sentence.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        distinct, at = np.unique(codes, return_inverse=True)
        chars = [*(chr(c) for c in distinct.tolist()), " "]  # the padding, at position n (and so -1)
        sides = (frozenset(view.left[-SLOT:]), frozenset(view.right[:SLOT]))
        bits = [_BITS.get(ch, 0) | _more_bits(ch, view.chars, head, sides) for ch in chars]
        self.bits = np.array(bits, dtype=np.int64)[np.append(at, len(chars) - 1)]

    def flags(self, bit: int) -> np.ndarray:
        """Whether the character at each position is of the class ``bit`` (length n + 1: at n, and so
        at -1, whether a space is, the padding before and after the sentence)."""
        return (self.bits & bit) != 0

    def prefix(self, bit: int) -> np.ndarray:
        """How many characters before each position are of the class ``bit`` (length n + 1)."""
        return np.concatenate([[0], np.cumsum(self.flags(bit)[:-1], dtype=np.int64)])


def _more_bits(ch: str, question: frozenset[str], head: str, sides: tuple[frozenset[str], frozenset[str]]) -> int:
    """The classes not in _BITS: Latin letters, digits and spaces, the question's characters, the
    asked noun's characters, the characters of the question's text just before and just after its
    question word."""
    latin = _LATIN if _LATIN_DIGIT.fullmatch(ch) else 0
    side = (_LEFT_Q if ch in sides[0] else 0) | (_RIGHT_Q if ch in sides[1] else 0)
    return latin | side | (_QUESTION if ch in question else 0) | (_HEAD if ch in head else 0)


def _near_context(view: QuestionView, chars: _Chars, sp: _Spans) -> tuple[np.ndarray, np.ndarray]:
    """How many of the SLOT characters before a span (in its sentence) are characters of the
    question's text before its question word, over that text's length (at most SLOT; so up to
    SLOT when it is one character), and the same after it with the text after: a softer
    slot_left/slot_right, for a question that rewords the sentence (86%为[哪一种族]所占 of
    [法兰西人]占86%) rather than copying it around the answer."""
    s, e = sp.s, sp.e
    start, end = s - sp.s_in, s - sp.s_in + sp.n  # the sentence's bounds in the joined text
    left, right = chars.prefix(_LEFT_Q), chars.prefix(_RIGHT_Q)
    n_left, n_right = min(SLOT, len(view.left)), min(SLOT, len(view.right))
    before = left[s] - left[np.maximum(start, s - SLOT)]
    after = right[np.minimum(end, e + SLOT)] - right[e]
    return before / max(1, n_left), after / max(1, n_right)


def _shape_columns(view: QuestionView, text: str, s: np.ndarray, e: np.ndarray) -> list[np.ndarray]:
    """shape_<kind> (only the asked kind's shape counts), shape_other, kind_unshaped, number_unit."""
    starts = sorted(set(s.tolist()))
    bounds = (s, s.tolist(), e.tolist())
    shapes = np.column_stack([_fullmatches(p, text, starts, bounds) for p in SHAPES.values()])
    kind_shapes = shapes * np.array([k == view.kind for k in SHAPES], dtype=np.float64)
    any_kind = kind_shapes.any(axis=1)
    return [
        *kind_shapes.T,
        shapes.any(axis=1) & ~any_kind,
        np.full(len(s), view.kind in SHAPES) & ~any_kind,
        # counts for figures only: for other kinds the column is 0, so it is not matched
        _fullmatches(NUMBER_UNIT, text, starts, bounds) if view.kind == "number" else np.zeros(len(s)),
    ]


def _slot_tables(view: QuestionView, sentence: str) -> tuple[np.ndarray, np.ndarray]:
    """For each position: how many characters before it match the end of the question's text
    before its question word, and how many after it match the start of the text after it (≤ SLOT).
    Only where the character next to a position is the question's nearest one can either be more
    than 0, so only those positions (found with str.find) are compared further."""
    n = len(sentence)
    left = np.zeros(n + 1, dtype=np.int64)
    right = np.zeros(n + 1, dtype=np.int64)
    q_left, q_right = view.left[-SLOT:], view.right[:SLOT]
    for at in _occurrences(q_left[-1:], sentence) if q_left else ():
        k = 1
        while k < min(len(q_left), at + 1) and q_left[-1 - k] == sentence[at - k]:
            k += 1
        left[at + 1] = k
    for at in _occurrences(q_right[:1], sentence) if q_right else ():
        k = 1
        while k < min(len(q_right), n - at) and q_right[k] == sentence[at + k]:
            k += 1
        right[at] = k
    return left, right


def _occurrences(word: str, text: str) -> list[int]:
    """Every start of ``word`` in ``text``, overlapping ones too."""
    out, at = [], text.find(word)
    while at >= 0:
        out.append(at)
        at = text.find(word, at + 1)
    return out


def _word_tables(view: QuestionView, sentence: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each position of ``sentence`` (n + 1): the end of the last of the question's words ending
    at or before it, the start of the first starting at or after it, and the earliest end of a word
    starting at or after it.  A span's distance to the nearest question word outside it and whether
    one lies inside it are read from these at its ends, not found by a pass over the spans per word;
    none is a value that reads as farther away than the sentence is long."""
    n = len(sentence)
    last_end = np.full(n + 1, -n - 1, dtype=np.int64)
    next_start = np.full(n + 1, 2 * n + 1, dtype=np.int64)
    first_end = np.full(n + 1, n + 1, dtype=np.int64)  # none: past every span's end
    for w in view.words:
        for at in _occurrences(w, sentence):
            last_end[at + len(w)] = at + len(w)
            next_start[at] = at
            first_end[at] = min(first_end[at], at + len(w))
    last_end = np.maximum.accumulate(last_end)
    next_start = np.minimum.accumulate(next_start[::-1])[::-1]
    first_end = np.minimum.accumulate(first_end[::-1])[::-1]
    return last_end, next_start, first_end


def _fullmatches(
    pattern: re.Pattern[str], text: str, starts: list[int], bounds: tuple[np.ndarray, list[int], list[int]]
) -> np.ndarray:
    """Whether each span (``bounds``: their starts as an array, and starts and ends as lists) is
    wholly one match of ``pattern``.  A pattern without anchors or lookarounds (all of kinds.py's)
    that matches nowhere from a start matches no span from it, so only the spans from the
    ``starts`` it matches from are matched in place, without a copy.  (From a start in joined
    sentences a match may run on into the next one: that only lets more spans through to
    ``fullmatch``, which reads nothing past the span.)"""
    s, s_list, e_list = bounds
    opens = np.zeros(len(text) + 1, dtype=bool)
    opens[[a for a in starts if pattern.match(text, a)]] = True
    out = np.zeros(len(s_list))
    for k in np.flatnonzero(opens[s]).tolist():
        if pattern.fullmatch(text, s_list[k], e_list[k]):
            out[k] = 1.0
    return out


def _head(view: QuestionView) -> str:
    """The noun the question word asks about (哪所[大学], 什么[奖]): the one or two characters
    after it, unless they are a function word."""
    head = view.right[:2]
    if not head or head[0] in _FUNCTION or not "\u4e00" <= head[0] <= "\u9fff":
        return ""
    return head[:1] if len(head) == 2 and head[1] in _FUNCTION else head


def _head_ends(head: str, sentence: str) -> np.ndarray:
    """Whether the asked noun ``head`` (…大学 for 哪所大学) ends at each position (n + 1)."""
    ends = np.zeros(len(sentence) + 1, dtype=bool)
    if head:
        ends[[at + len(head) for at in _occurrences(head, sentence)]] = True
    return ends


def _alignment(view: QuestionView, texts: list[str], sp: _Spans) -> tuple[np.ndarray, np.ndarray]:
    """Of the question's words found in a span's sentence outside the span (each at its first
    place), the share standing on the same side of the span as of the question word in the
    question, and the share on the other side.  One (spans, words) comparison."""
    if not view.words:
        return np.zeros(len(sp.s)), np.zeros(len(sp.s))
    at = np.array([[t.find(w) for w in view.words] for t in texts])[sp.which]  # -1: not found
    on_left = np.array([w in view.left for w in view.words])
    before = at < sp.s_in[:, None]
    outside = (before | (at >= sp.e_in[:, None])) & (at >= 0)
    agrees = before == on_left
    same = (outside & agrees).sum(axis=1).astype(np.float64)
    other = (outside & ~agrees).sum(axis=1).astype(np.float64)
    total = np.maximum(1, same + other)
    return same / total, other / total
