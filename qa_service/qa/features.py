"""The question as the answer model reads it, and the features of evidence sentences and of the
decision to answer (the features of short-answer spans are in span_features.py).

Every feature is generic: how much of the question a sentence holds, whether it holds the question's
wording around its question word, whether it has the written shape of the kind asked for.  No word
list of any corpus is involved, so the weights fitted on one set carry to text of another kind.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from qa_service.core.models import Query
from qa_service.qa.kinds import WHY_NOT_LAST, has_shape, standard_wording

# The question word a question replaces its answer with (longest first).  Questions written without
# one (德国的第一大邦为？, 该校长为?) ask for what stands where the question ends.
WH = re.compile(
    # …称为什么？ ending a question asks what a thing is called (称为|什么), not why (as 为何 does).
    rf"什么时候|什么地方|什么人|什么样|{WHY_NOT_LAST}|怎么样|啥时候?|啥地方|啥人|啥样|为啥|啥|咋样|咋|多少钱|哪一天|哪一年|几月几[日号]|"
    # 哪一 before any noun (哪一[宗教], 哪两[位]): the noun after it is what is asked, 一 is not.
    r"哪一?[个位种家所年天些座部本首条项国地方场次]|什么|哪里|哪儿|哪些|哪[一两三几][个位名种项条家座]?|哪|谁|"
    # the measure word after 多少 and 几 is the question's, not the text's (多少名 asks for 35名)
    r"多少[个项次名家人条万亿天年月岁种座所件位张部首场期批倍元户辆吨]?|"
    r"几[个项次名家人条万亿天年月岁种座所件位张部首场期批倍世]?|"
    r"(?<![很许众诸较更最])多[久长大高远深重宽快]|"
    r"何(?:时|地|处|种|人|者|年|物|职|事|为)|如何|怎样|怎么|为何|是否|能否|可否"
)
_END = "？?。！!吗呢 "
PUNCT = "，。！？；：、,.!?;:（）()《》“”\"'‘’「」『』【】[] \n\t"
# Kinds whose answer is a clause or a sentence that explains, not a name or a figure.
EXPLAINING = frozenset({"reason", "method", "yesno", "other"})
BOILERPLATE = re.compile(
    r"公众号|微信|扫码|二维码|关注我们|点击|转载|版权|责任编辑|原标题|来源：|投稿|订阅|客户端|下载|分享到|免责声明"
)

# Features also read relative to the best sentence of those read (its value minus the best one's):
# the boosted trees split on a feature's value, and whether a sentence holds more of the question
# than the others is what picks it.  Held out, with the neighbours' coverage, the sentence ranked
# first held the gold 0.02-0.03 more often on CMRC2018 and DRCD (docs/answers.md).
_GAP_OF = ("coverage", "char_overlap", "bigram_overlap", "context_coverage", "slot_left", "slot_right")
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
    "previous_coverage",
    "next_coverage",
    *(f"{name}_gap" for name in _GAP_OF),
)
# Whether the corpus answers the question at all (the abstention model).
ANSWERABLE_FEATURES = (
    "bias",
    "span_prob",
    "sentence_prob",
    "sentence_score",
    "coverage",
    "unknown_share",
    "focus_unknown",
    "names_missing",
    "top_coverage",
    "date_missing",
    "name_unknown",
    # The question's characters and bigrams the evidence sentence holds: with the gap features the
    # sentence score says how much better a sentence is than the others read, less how well the best
    # matches; without these, held out, Wikipedia questions asked of the other set were abstained
    # on 0.03 less often (docs/answers.md).
    "char_overlap",
    "bigram_overlap",
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
    q = standard_wording(query.text)
    content = "".join(ch for ch in q if ch not in PUNCT)
    m = WH.search(q)
    left, right = (q[: m.start()], q[m.end() :]) if m else (q.rstrip(_END), "")
    right = right.rstrip(_END)
    words = tuple(w for w in query.words if len(w) >= 2)
    grams = frozenset(content[i : i + 2] for i in range(len(content) - 1))
    return QuestionView(frozenset(content), grams, words, left, right, kind)


def _best_slot(view: QuestionView, text: str) -> tuple[int, int]:
    """The longest question context (before, after its question word) found anywhere in a text.
    A context found holds the shorter ones, so the first length not found ends the search (most
    sentences hold not even two characters of it)."""
    best_left = best_right = 0
    for n in range(2, min(8, len(view.left)) + 1):
        if view.left[-n:] not in text:
            break
        best_left = n
    for n in range(2, min(8, len(view.right)) + 1):
        if view.right[:n] not in text:
            break
        best_right = n
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
    neighbours: tuple[float, float],
) -> np.ndarray:
    """The features of one sentence but the gaps (``with_gaps`` adds them once all are known).
    ``context_coverage``: how much of the question the sentence holds with the one before it, for
    a sentence that leaves its subject to the one before (…宋洁督导爱国卫生工作。副区长房玉雯陪同。);
    ``neighbours``: how much the sentences before and after it hold (0: none)."""
    left, right = _best_slot(view, sentence)
    # The question's characters and bigrams looked up in the sentence, not the sentence's sets of
    # them built and intersected: a question has a few dozen, a sentence's sets cost more to build.
    return np.array(
        [
            1.0,
            coverage,
            sum(ch in sentence for ch in view.chars) / max(1, len(view.chars)),
            sum(gram in sentence for gram in view.bigrams) / max(1, len(view.bigrams)),
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
            *neighbours,
        ],
        dtype=np.float64,
    )


_GAP_COLUMNS = [SENTENCE_FEATURES.index(name) for name in _GAP_OF]


def with_gaps(rows: np.ndarray) -> np.ndarray:
    """``rows`` (one per sentence read, from ``sentence_features``) with the gap columns added."""
    picked = rows[:, _GAP_COLUMNS]
    return np.hstack([rows, picked - picked.max(axis=0)])


def answerable_features(
    span_prob: float,
    sentence_prob: float,
    sentence_score: float,
    coverage: float,
    unknown_share: float,
    focus_unknown: bool,
    names_missing: bool,
    top_coverage: float,
    date_missing: bool,
    name_unknown: bool,
    overlap: tuple[float, float],
) -> np.ndarray:
    return np.array(
        [
            1.0,
            span_prob,
            sentence_prob,
            sentence_score,
            coverage,
            unknown_share,
            float(focus_unknown),
            float(names_missing),
            top_coverage,
            float(date_missing),
            float(name_unknown),
            *overlap,
        ],
        dtype=np.float64,
    )
