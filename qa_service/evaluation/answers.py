"""Fitting and measuring the answer model on SQuAD-style sets (CMRC2018 trial, DRCD dev).

Every paragraph is a document; each question is asked of the whole set (open retrieval), and the
reader sees the retrieved passages, never the gold paragraph.  Figures are reported only on data
the model was not fitted on: fit on one set, measure on the other (and the other way round).

Metrics are CMRC2018's official ones: punctuation and whitespace removed, exact match, and
character F1 over the longest common substring, each the best over the gold answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa_service.core.models import Hit, Query
from qa_service.core.text import strip_ws
from qa_service.core.tokenizer import Tokenizer
from qa_service.evaluation.boost import TREES, boost
from qa_service.evaluation.seed import naive_sentence
from qa_service.index.embedded.store import EmbeddedIndex
from qa_service.index.fusion import FusionSettings
from qa_service.qa.answer import answerable_probability, date_missing, will_answer
from qa_service.qa.features import ANSWERABLE_FEATURES, SENTENCE_FEATURES, question_view
from qa_service.qa.kinds import answer_kind
from qa_service.qa.model import AnswerModel, Choice, Logistic
from qa_service.qa.question import parse_question
from qa_service.qa.reader import READ_SENTENCES, read, sentence_candidates, sentence_words, span_candidates
from qa_service.qa.retrieve import retrieve
from qa_service.qa.scoring import Scorer
from qa_service.qa.span_features import SPAN_FEATURES, span_matrix

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    return _PUNCT.sub("", text or "").lower()


def _lcs(a: str, b: str) -> int:
    """Length of the longest common substring."""
    best = 0
    prev = [0] * (len(b) + 1)
    for ch in a:
        cur = [0] * (len(b) + 1)
        for j, other in enumerate(b, 1):
            if ch == other:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def char_f1(prediction: str | None, golds: Sequence[str]) -> float:
    pred = normalise(prediction or "")
    best = 0.0
    for gold in golds:
        g = normalise(gold)
        n = _lcs(pred, g) if pred and g else 0
        if n:
            p, r = n / len(pred), n / len(g)
            best = max(best, 2 * p * r / (p + r))
    return best


def exact(prediction: str | None, golds: Sequence[str]) -> bool:
    return prediction is not None and normalise(prediction) in {normalise(g) for g in golds}


def contains(text: str | None, golds: Sequence[str]) -> bool:
    return text is not None and any(strip_ws(g) and strip_ws(g) in strip_ws(text) for g in golds)


@dataclass
class Example:
    """One question with what retrieval gave the reader."""

    question: str
    golds: list[str]
    query: Query
    hits: list[Hit]
    scorer: Scorer


def examples_for(
    index: EmbeddedIndex,
    questions: Sequence[tuple[str, list[str]]],
    histories: Sequence[Sequence[dict[str, str]]] | None = None,
) -> list[Example]:
    """Each (question, gold answers) asked of ``index`` (open retrieval, the top 5 passages)."""
    ranker = index.make_ranker(None, FusionSettings())
    out = []
    for n, (question, golds) in enumerate(questions):
        query = parse_question(index.tokenizer, question, histories[n] if histories else ())
        hits = retrieve(ranker, query, 5)[:5]
        out.append(Example(question, golds, query, hits, Scorer(query, index.term_idf, index.max_idf)))
    return out


def _sentence_rows(ex: Example) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    view = question_view(ex.query, answer_kind(ex.query.text))
    cands = sentence_candidates(view, ex.scorer, ex.hits)
    if not cands:
        return np.zeros((0, len(SENTENCE_FEATURES))), np.zeros(0), []
    x = np.stack([c.features for c in cands])
    y = np.array([contains(ex.hits[c.passage].chunk.text[c.start : c.end], ex.golds) for c in cands], dtype=float)
    return x, y, cands


# The span scorer learns to pick one span among a question's spans; each span's share of the right
# pick grows with its character F1 against the gold answer: F1 squared.  Held out (`qa-service fit`'s
# two folds), F1 itself gave lower short-answer F1 on every set and F1 to the fourth a lower mean
# (docs/answers.md, "Fitting").
SPAN_TARGET_POWER = 2


def _fit_sentences(rows: Sequence[tuple[tuple[np.ndarray, np.ndarray, Any], float]], l2: float, trees: int) -> Choice:
    """The sentence scorer: one choice among each question's sentences, the sentences holding the
    gold answer sharing the right pick, then ``trees`` boosted trees on it.  Held out (`qa-service
    fit`), a choice put the gold in the evidence more often than a logistic regression scoring each
    sentence on its own (docs/answers.md)."""
    xs, ys, groups, weights = [], [], [], []
    for (x, y, _), w in rows:
        if y.sum() > 0:  # no sentence read holds the answer: nothing to learn
            xs.append(x)
            ys.append(y / y.sum())
            groups += [len(weights)] * len(y)
            weights.append(w)
    x, y, g, w = np.concatenate(xs), np.concatenate(ys), np.array(groups), np.array(weights)
    linear = Choice.fit(x, y, g, SENTENCE_FEATURES, l2, w)
    return boost(linear, x, y, g, w, trees=trees) if trees else linear


# The span scorer's trees read the span weights' best this many spans of a question (model.Choice):
# held out, F1 was within 0.002 of the trees reading all of them (about a thousand; docs/answers.md).
SPAN_SHORTLIST = 48


def fit_readers(
    examples: Sequence[Example],
    tokenizer: Tokenizer,
    l2: float = 1.0,
    weights: Sequence[float] | None = None,
    trees: int = TREES,
) -> AnswerModel:
    """Fit the sentence scorer, then the span scorer on the spans of the sentences it ranks first and
    of the sentences holding the gold answer, each a conditional logit with ``trees`` boosted trees
    on it (boost.py; 0: none).  The answerable scorer is left empty: evaluation/fit.py fits it.
    ``weights``: how much each question counts (default: once)."""
    weights = list(weights) if weights is not None else [1.0] * len(examples)
    rows = [_sentence_rows(ex) for ex in examples]
    kept = [(r, w) for r, w in zip(rows, weights, strict=True) if len(r[1])]
    sentence = _fit_sentences(kept, l2, trees)
    span_x, span_y, span_g, group_w = [], [], [], []
    for ex, (x, y, cands), w in zip(examples, rows, weights, strict=True):
        if not len(y):
            continue
        probs = sentence.prob(x)
        view = question_view(ex.query, answer_kind(ex.query.text))
        chosen = set(np.argsort(-probs, kind="stable")[:READ_SENTENCES].tolist()) | set(np.flatnonzero(y).tolist())
        question_rows, f1s = [], []
        for i in sorted(chosen):
            c = cands[i]
            chunk = ex.hits[c.passage].chunk
            text = chunk.text[c.start : c.end]
            found = span_candidates(tokenizer, text, sentence_words(chunk, c.start, c.end))
            spans = [(sp.start, sp.end, sp.clause) for sp in found]
            question_rows.append(span_matrix(view, text, spans, float(probs[i])))
            f1s += [char_f1(text[a:b], ex.golds) for a, b, _ in spans]
        target = np.array(f1s) ** SPAN_TARGET_POWER
        if target.sum() > 0:  # a question none of whose spans overlaps the gold teaches nothing
            span_x += question_rows
            span_y.append(target / target.sum())
            span_g += [len(group_w)] * len(f1s)
            group_w.append(w)
    x, y, g, w = np.concatenate(span_x), np.concatenate(span_y), np.array(span_g), np.array(group_w)
    span = Choice.fit(x, y, g, SPAN_FEATURES, l2, w)
    if trees:
        span = boost(span, x, y, g, w, SPAN_SHORTLIST, trees)
    empty = Logistic(ANSWERABLE_FEATURES, np.zeros(len(ANSWERABLE_FEATURES)))
    return AnswerModel(sentence, span, empty, threshold=0.0, meta={})


@dataclass
class AnswerFigures:
    n: int = 0
    answered: float = 0.0
    exact: float = 0.0
    f1: float = 0.0
    contains: float = 0.0
    evidence_contains: float = 0.0
    naive_contains: float = 0.0
    naive_f1: float = 0.0
    curve: list[tuple[float, float, float]] = field(default_factory=list)  # (threshold, coverage, precision)

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("questions", str(self.n)),
            ("answered", f"{self.answered:.3f}"),
            ("short answer exact match", f"{self.exact:.3f}"),
            ("short answer char F1", f"{self.f1:.3f}"),
            ("short answer contains gold", f"{self.contains:.3f}"),
            ("evidence contains gold", f"{self.evidence_contains:.3f}"),
            ("naive sentence contains gold", f"{self.naive_contains:.3f}"),
            ("naive sentence char F1", f"{self.naive_f1:.3f}"),
        ]


def measure(model: AnswerModel, examples: Sequence[Example], tokenizer: Tokenizer, index: Any) -> AnswerFigures:
    """Figures of ``model`` on ``examples`` (which it must not have been fitted on), asked of ``index``."""
    out = AnswerFigures(n=len(examples))
    graded: list[tuple[float, float]] = []  # (probability, F1)
    for ex in examples:
        naive = naive_sentence(ex.question, ex.hits[0].chunk.text if ex.hits else None)
        out.naive_contains += contains(naive, ex.golds)
        out.naive_f1 += char_f1(naive, ex.golds)
        r = read(model, tokenizer, ex.query, ex.scorer, ex.hits)
        if r is None:
            graded.append((0.0, 0.0))
            continue
        text = ex.hits[r.passage].chunk.text
        short, evidence = text[r.span[0] : r.span[1]], text[r.evidence[0] : r.evidence[1]]
        confidence = answerable_probability(model, ex.scorer, ex.query, r, ex.hits[r.passage], index.document_text)
        answered = will_answer(model, confidence, ex.query, ex.hits[r.passage])
        f1 = char_f1(short, ex.golds)
        # The date rule vetoes a reading at any threshold: on the curve it is never answered.
        graded.append((0.0 if date_missing(ex.query.text, ex.hits[r.passage]) else confidence, f1))
        if answered:
            out.answered += 1
            out.exact += exact(short, ex.golds)
            out.f1 += f1
            out.contains += contains(short, ex.golds)
            out.evidence_contains += contains(evidence, ex.golds)
    n = max(1, out.n)
    for name in ("answered", "exact", "f1", "contains", "evidence_contains", "naive_contains", "naive_f1"):
        vars(out)[name] /= n
    out.curve = precision_coverage(graded)
    return out


def precision_coverage(graded: list[tuple[float, float]], steps: int = 10) -> list[tuple[float, float, float]]:
    """(threshold, share answered, mean F1 of those answered) at probability thresholds."""
    probs = np.array([p for p, _ in graded])
    f1 = np.array([f for _, f in graded])
    out = []
    for q in np.linspace(0, 0.9, steps):
        t = float(np.quantile(probs, q)) if len(probs) else 0.0
        kept = probs >= t
        out.append((t, float(kept.mean()) if len(kept) else 0.0, float(f1[kept].mean()) if kept.any() else 0.0))
    return out
