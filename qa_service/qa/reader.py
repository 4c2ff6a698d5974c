"""Reading the best passages: the evidence sentence and, inside it, the short answer.

Candidates are every sentence of the top passages and, in the most likely sentences, every run of
one to eight words that does not cross punctuation, plus the typed shapes (dates, numbers, titles,
names) and whole clauses.  The fitted model (model.py, weights in ``answer_model.json``) weighs the
sentences against each other, then picks one span among the spans of the best sentences; the span's
probability of being the one times its sentence's is the reading's confidence, which the abstention
model reads with the sentence's raw score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import numpy as np

from qa_service.core.models import Chunk, Hit, Query
from qa_service.core.text import sentence_spans
from qa_service.core.tokenizer import Tokenizer
from qa_service.qa.features import (
    ANSWERABLE_FEATURES,
    PUNCT,
    SENTENCE_FEATURES,
    QuestionView,
    question_view,
    sentence_features,
    with_gaps,
)
from qa_service.qa.kinds import ASKS_DAY, DAY, NUMBER_UNIT, SHAPES, answer_kind
from qa_service.qa.model import AnswerModel
from qa_service.qa.neural import SpanProposer
from qa_service.qa.scoring import Scorer
from qa_service.qa.span_features import SPAN_FEATURES, Sentence, span_rows

MODEL_FILE = Path(__file__).resolve().parent / "answer_model.json"
READ_PASSAGES = 3  # sentences come from this many top passages
READ_SENTENCES = 4  # spans come from this many best sentences
MAX_SPAN_WORDS = 8
MAX_CLAUSE_CHARS = 40
_COVERAGE, _CHARS, _BIGRAMS = (SENTENCE_FEATURES.index(n) for n in ("coverage", "char_overlap", "bigram_overlap"))


@dataclass(frozen=True)
class SentenceCandidate:
    passage: int
    start: int
    end: int
    features: np.ndarray


class SpanCandidate(NamedTuple):
    """A tuple, not a frozen dataclass: a question reads a few hundred spans, and building them as
    frozen dataclasses took 0.55 ms of a CMRC2018 question's ~12 ms of answering; it is also the
    (start, end, clause) row span_matrix reads."""

    start: int  # offsets in the sentence
    end: int
    clause: bool


@dataclass(frozen=True)
class Reading:
    passage: int
    evidence: tuple[int, int]  # the sentence, offsets in the passage's text
    span: tuple[int, int]  # the short answer, offsets in the passage's text
    probability: float  # P(this span is the one among those read) × P(its sentence is the one)
    sentence_probability: float  # P(the evidence sentence is the one among the sentences read)
    sentence_score: float  # the sentence scorer's score of it (its gap features weigh it against the others)
    coverage: float  # how much of the question the evidence sentence holds (scoring.Scorer)
    best_coverage: float  # … and the sentence of the top passages that holds most of it
    overlap: tuple[float, float]  # the shares of the question's characters and bigrams the evidence holds


def load_model(path: Path = MODEL_FILE) -> AnswerModel:
    return AnswerModel.load(path, (SENTENCE_FEATURES, SPAN_FEATURES, ANSWERABLE_FEATURES))


def sentence_candidates(view: QuestionView, scorer: Scorer, hits: Sequence[Hit]) -> list[SentenceCandidate]:
    """Every sentence of the top passages, with its features (their gaps to the best sentence among
    them included, so a candidate's features depend on the others read with it)."""
    top = hits[0].score if hits and hits[0].score > 0 else 1.0
    focus = [f for f in scorer.focus if len(f) >= 2]
    where, rows = [], []
    for p, hit in enumerate(hits[:READ_PASSAGES]):
        text = hit.chunk.text
        spans = sentence_spans(text)
        covered = [scorer.coverage(text[s:e]) for s, e in spans]
        before = 0  # where the previous sentence starts
        for n, (s, e) in enumerate(spans):
            sentence = text[s:e]
            low = sentence.lower()
            focused = any(f in low for f in focus)
            context = scorer.coverage(text[before:e])
            neighbours = (covered[n - 1] if n else 0.0, covered[n + 1] if n + 1 < len(spans) else 0.0)
            x = sentence_features(view, sentence, covered[n], focused, p, hit.score / top, n == 0, context, neighbours)
            where.append((p, s, e))
            rows.append(x)
            before = s
    if not rows:
        return []
    x = with_gaps(np.stack(rows))
    return [SentenceCandidate(p, s, e, row) for (p, s, e), row in zip(where, x, strict=True)]


def sentence_words(chunk: Chunk, start: int, end: int) -> list[str] | None:
    """The words of ``chunk.text[start:end]`` as the index cut the passage (None: it did not store
    them).  A sentence ends at punctuation or a line end, where the segmenter's runs end too, so
    these are the words the sentence cut on its own has (tests/test_words.py)."""
    starts = chunk.words() if chunk.words is not None else None
    if starts is None:
        return None
    edges = [start, *starts[(starts > start) & (starts < end)].tolist(), end]
    return [chunk.text[a:b] for a, b in pairwise(edges)]


def span_candidates(tokenizer: Tokenizer, sentence: str, words: Sequence[str] | None = None) -> list[SpanCandidate]:
    """Runs of one to MAX_SPAN_WORDS words inside one clause, typed shapes, and whole clauses.
    ``words``: the sentence's words, if the index stored them (else ``tokenizer`` cuts it)."""
    found: dict[tuple[int, int], bool] = {}
    clause_start = 0
    bounds: list[int] = []  # word starts in the current clause
    edges = {0, len(sentence)}  # every word boundary in the sentence
    pos = 0
    for w in [*(tokenizer.cut(sentence) if words is None else words), "。"]:
        edges.add(pos)
        if w in PUNCT or not w.strip():
            _runs([*bounds, pos], found)
            if 0 < pos - clause_start <= MAX_CLAUSE_CHARS:
                found[(clause_start, pos)] = True
            bounds, clause_start = [], pos + len(w)
        else:
            bounds.append(pos)
        pos += len(w)
    for pattern in (*SHAPES.values(), NUMBER_UNIT):
        for m in pattern.finditer(sentence):
            # A shape that ends or starts inside a word (区委书记宋洁|实地) is not a candidate: on
            # CMRC2018/DRCD answers held the gold a little more often (0.293 -> 0.297, 0.645 -> 0.651),
            # char F1 a little less (0.453 -> 0.452, 0.300 -> 0.293), and none is a broken word.
            # … but jieba glues a figure's unit to the word after it (1|个小微|企业): a figure with
            # its unit need only start at a word's start.
            if m.start() in edges and (m.end() in edges or pattern is NUMBER_UNIT):
                found.setdefault((m.start(), m.end()), False)
    found.setdefault((0, len(sentence.rstrip(PUNCT))), True)  # the whole sentence, for why/how questions
    return [SpanCandidate(s, e, c) for (s, e), c in found.items() if e > s and sentence[s:e].strip()]


def _runs(edges: list[int], found: dict[tuple[int, int], bool]) -> None:
    """Every run of up to MAX_SPAN_WORDS consecutive words, given the words' start offsets and the end."""
    for i, start in enumerate(edges[:-1]):
        for end in edges[i + 1 : i + 1 + MAX_SPAN_WORDS]:
            found.setdefault((start, end), False)


def read(
    model: AnswerModel,
    tokenizer: Tokenizer,
    query: Query,
    scorer: Scorer,
    hits: Sequence[Hit],
    proposer: SpanProposer | None = None,
) -> Reading | None:
    """The most likely evidence sentence and short answer in ``hits``, or None if there is none.
    ``proposer`` (the optional neural reader) adds its spans to each sentence's candidates."""
    view = question_view(query, answer_kind(query.text))
    # Whether a sentence holds the words next to the question word (谁[陪同]) is one of the sentence
    # model's features, not a filter: as a filter it lowered evidence-contains-gold on CMRC2018
    # (0.689 -> 0.654), DRCD (0.820 -> 0.733) and the seed set (0.742 -> 0.726).
    sentences = sentence_candidates(view, scorer, hits)
    if not sentences:
        return None
    x = np.stack([c.features for c in sentences])
    s_score = model.sentence.scores(x)
    s_prob = model.sentence.softmax(s_score)
    read_spans: list[Sentence] = []  # (text, spans, probability) of each sentence read
    where: list[tuple[int, SpanCandidate]] = []  # (sentence, span) of each row
    texts: dict[int, str] = {}  # the text of each sentence read
    for i in np.argsort(-s_prob, kind="stable")[:READ_SENTENCES]:
        cand = sentences[int(i)]
        chunk = hits[cand.passage].chunk
        text = chunk.text[cand.start : cand.end]
        spans = span_candidates(tokenizer, text, sentence_words(chunk, cand.start, cand.end))
        if proposer is not None:
            known = {(c.start, c.end) for c in spans}
            proposed = proposer.propose(query.text, text)
            spans += [SpanCandidate(s, e, False) for s, e, _ in proposed if (s, e) not in known]
        if spans:
            read_spans.append((text, spans, float(s_prob[i])))
            where += [(int(i), c) for c in spans]
            texts[int(i)] = text
    if not read_spans:
        return None
    # One choice among the spans of all the sentences read: the span scorer was fitted to pick the
    # right span against the others (a conditional logit), not to score each span on its own.
    rows = span_rows(view, read_spans)
    probs = model.span.prob(rows)
    j = _typed_pick(view.kind, query.text, probs, rows, where, texts)
    i, span = where[j]
    cand = sentences[i]
    return Reading(
        cand.passage,
        (cand.start, cand.end),
        (cand.start + span.start, cand.start + span.end),
        float(probs[j] * s_prob[i]),
        float(s_prob[i]),
        float(s_score[i]),
        float(cand.features[_COVERAGE]),
        float(x[:, _COVERAGE].max()),  # the coverage of the sentence holding most of the question
        (float(cand.features[_CHARS]), float(cand.features[_BIGRAMS])),
    )


def _typed_pick(
    kind: str,
    question: str,
    probs: np.ndarray,
    rows: np.ndarray,
    where: list[tuple[int, SpanCandidate]],
    texts: dict[int, str],
) -> int:
    """The row of the span to answer with: the most likely, unless a date or a figure is asked, the
    most likely span has no such shape and its own sentence holds one that does (a day for 哪天):
    then the most likely of those.  The span scorer weighs shape as one feature among others, and
    the question's own wording around a span (首台机组[顺利]并网 for 首台机组[哪天]并网) could
    outweigh it beside the date it asked for.  Held out (`qa-service fit`'s two folds), this left
    CMRC2018 and DRCD within 0.001 F1 and raised the seed set's (docs/answers.md)."""
    j = int(np.argmax(probs))
    if kind not in ("date", "number"):
        return j
    shaped = rows[:, SPAN_FEATURES.index(f"shape_{kind}")] > 0
    if kind == "date" and ASKS_DAY.search(question):
        shaped &= np.array([bool(DAY.search(texts[i][c.start : c.end])) for i, c in where])
    if shaped[j]:
        return j
    allowed = shaped & np.array([i == where[j][0] for i, _ in where])
    return int(np.argmax(np.where(allowed, probs, -1.0))) if allowed.any() else j
