"""Features of evidence sentences and of short-answer spans, for the fitted answer model.

Every feature is generic: how much of the question a sentence holds, where the question's words
stand around a span, whether a span has the written shape of the kind asked for.  No word list of
any corpus is involved, so the weights fitted on one set carry to text of another kind.

A span's best single clue is the question's own wording around it: questions are often a
sentence of the text with the answer replaced by a question word (…开创了哪一地区… for
…在欧洲…开创…), so the characters just before and after a span are compared with the question's
text before and after its question word (``slot_context``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from qa_service.core.models import Query
from qa_service.qa.kinds import NUMBER_UNIT, SHAPES, has_shape

# The question word a question replaces its answer with (longest first).
WH = re.compile(
    r"什么时候|什么地方|什么人|什么样|为什么|怎么样|多少钱|哪一天|哪一年|几月几[日号]|哪一?[个位种家所年天些座部本首条项]|"
    r"什么|哪里|哪儿|哪些|哪|谁|多少|几[个项次名家人条万亿天年月岁种座所件位张部首场期批倍]?|何时|何地|何处|如何|怎样|怎么|为何|是否"
)
PUNCT = "，。！？；：、,.!?;:（）()《》“”\"'‘’「」『』【】[] \n\t"
_FILLER = re.compile(r"^[的了是在和与及或也都就还又被把将对为从向由于]|[的了是在和与及或也都就还又被把将对为着过]$")
# Kinds whose answer is a clause or a sentence that explains, not a name or a figure.
EXPLAINING = frozenset({"reason", "method", "yesno", "other"})
BOILERPLATE = re.compile(
    r"公众号|微信|扫码|二维码|关注我们|点击|转载|版权|责任编辑|原标题|来源：|投稿|订阅|客户端|下载|分享到|免责声明"
)

SENTENCE_FEATURES = (
    "bias",
    "coverage",
    "char_overlap",
    "bigram_overlap",
    "focus_present",
    "rank0",
    "rank1",
    "score_ratio",
    "kind_shape",
    "slot_left",
    "slot_right",
    "log_length",
    "boilerplate",
    "first_sentence",
    "context_coverage",
    "focus_in_context",
)
# Whether the corpus answers the question at all (the abstention model).
ANSWERABLE_FEATURES = (
    "bias",
    "span_prob",
    "sentence_prob",
    "coverage",
    "unknown_share",
    "focus_unknown",
    "names_missing",
    "top_coverage",
    "date_missing",
)
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
    "sentence_prob",
)


@dataclass(frozen=True)
class QuestionView:
    """What the features read of a question, computed once per question."""

    chars: frozenset[str]
    bigrams: frozenset[str]
    words: tuple[str, ...]
    left: str  # the question's text before its question word
    right: str  # … and after it
    kind: str


def question_view(query: Query, kind: str) -> QuestionView:
    q = query.text
    content = "".join(ch for ch in q if ch not in PUNCT)
    m = WH.search(q)
    left, right = (q[: m.start()], q[m.end() :]) if m else (q, "")
    right = right.rstrip("？?。！!吗呢 ")
    words = tuple(w for w in query.words if len(w) >= 2)
    grams = frozenset(content[i : i + 2] for i in range(len(content) - 1))
    return QuestionView(frozenset(content), grams, words, left, right, kind)


def slot_context(view: QuestionView, before: str, after: str) -> tuple[int, int]:
    """How many characters of the question just before (after) its question word match the text
    just before (after) a span: the longest common suffix and prefix, up to 8."""
    left = 0
    while left < min(8, len(view.left), len(before)) and view.left[-1 - left] == before[-1 - left]:
        left += 1
    right = 0
    while right < min(8, len(view.right), len(after)) and view.right[right] == after[right]:
        right += 1
    return left, right


def _best_slot(view: QuestionView, text: str) -> tuple[int, int]:
    """The longest question context (before, after its question word) found anywhere in a text."""
    best_left = max((n for n in range(2, min(8, len(view.left)) + 1) if view.left[-n:] in text), default=0)
    best_right = max((n for n in range(2, min(8, len(view.right)) + 1) if view.right[:n] in text), default=0)
    return best_left, best_right


def sentence_features(
    view: QuestionView,
    sentence: str,
    coverage: float,
    focus: bool,
    rank: int,
    score_ratio: float,
    first: bool,
    context_coverage: float,
) -> np.ndarray:
    """``context_coverage``: how much of the question the sentence holds with the one before it, for
    a sentence that leaves its subject to the one before (…宋洁督导爱国卫生工作。副区长房玉雯陪同。)."""
    chars = set(sentence)
    grams = {sentence[i : i + 2] for i in range(len(sentence) - 1)}
    left, right = _best_slot(view, sentence)
    return np.array(
        [
            1.0,
            coverage,
            len(view.chars & chars) / max(1, len(view.chars)),
            len(view.bigrams & grams) / max(1, len(view.bigrams)),
            float(focus),
            float(rank == 0),
            float(rank == 1),
            score_ratio,
            float(has_shape(view.kind, sentence)),
            left / 8,
            right / 8,
            math.log1p(len(sentence)) / 6,
            float(bool(BOILERPLATE.search(sentence))),
            float(first),
            context_coverage,
            float(focus) * context_coverage,
        ],
        dtype=np.float64,
    )


def span_features(
    view: QuestionView, sentence: str, start: int, end: int, clause: bool, sentence_prob: float
) -> np.ndarray:
    span = sentence[start:end]
    whole = float(start == 0 and end == len(sentence))
    explains = float(view.kind in EXPLAINING)
    left, right = slot_context(view, sentence[:start], sentence[end:])
    distance = _distance_to_question(view, sentence, start, end)
    shapes = [float(bool(p.fullmatch(span))) for p in SHAPES.values()]
    kind_shapes = [s if k == view.kind else 0.0 for k, s in zip(SHAPES, shapes, strict=True)]
    other = float(any(shapes) and not any(kind_shapes))
    return np.array(
        [
            1.0,
            left / 8,
            right / 8,
            float(left >= 2 and right >= 2),
            sum(ch in view.chars for ch in span) / max(1, len(span)),
            float(any(w in span for w in view.words)),
            float(distance <= 3),
            math.log1p(distance) / 5,
            math.log1p(len(span)) / 4,
            float(bool(_FILLER.search(span))),
            float(clause),
            float(start > 0 and sentence[start - 1] in "是为叫称即指由于在"),
            float(end >= len(sentence) or sentence[end] in PUNCT or sentence[end] in "的等"),
            float(any(ch in PUNCT for ch in span)),
            whole,
            math.log1p(len(span)) / 4 * explains,
            whole * explains,
            math.log1p(len(span)) / 4 * float(view.kind in SHAPES),
            *kind_shapes,
            other,
            float(view.kind in SHAPES and not any(kind_shapes)),
            float(view.kind == "number" and bool(NUMBER_UNIT.fullmatch(span))),
            sentence_prob,
        ],
        dtype=np.float64,
    )


def _distance_to_question(view: QuestionView, sentence: str, start: int, end: int) -> int:
    """Characters between a span and the nearest of the question's words in the sentence."""
    best = len(sentence)
    for w in view.words:
        for m in re.finditer(re.escape(w), sentence):
            if m.end() <= start:
                best = min(best, start - m.end())
            elif m.start() >= end:
                best = min(best, m.start() - end)
    return best


def answerable_features(
    span_prob: float,
    sentence_prob: float,
    coverage: float,
    unknown_share: float,
    focus_unknown: bool,
    names_missing: bool,
    top_coverage: float,
    date_missing: bool,
) -> np.ndarray:
    return np.array(
        [
            1.0,
            span_prob,
            sentence_prob,
            coverage,
            unknown_share,
            float(focus_unknown),
            float(names_missing),
            top_coverage,
            float(date_missing),
        ],
        dtype=np.float64,
    )
