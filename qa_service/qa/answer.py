"""Answer stage: ranked passages -> a short extractive answer, list items, highlights.

The answer is a sentence (or a clause of a long one) copied from a passage,
never generated text.  Sentences are scored by how much of the question's
idf-weighted terms they contain (scoring.py); the words next to the question
word (``谁陪同…`` -> 陪同) weigh triple and must be in the answer, since the
answer sentence is the one that says *who accompanied*, not the one that
repeats the rest of the question.  The sentence must also hold the kind of
thing asked for: a person for 谁, a date for 哪天, a number for 多少.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import jieba.posseg as pseg

from qa_service.core.lexicon import ROLE
from qa_service.core.models import Answer, AnswerItem, Hit, Query
from qa_service.core.text import sentence_spans, strip_ws
from qa_service.core.tokenizer import Tokenizer
from qa_service.qa.listing import dated, list_items, list_spec
from qa_service.qa.scoring import Scorer

# Below this share of the question's weight, the best sentence does not answer
# it.  Calibrated on eval/seed_questions.jsonl (see README, "Evaluation").
ANSWER_THRESHOLD = 0.45
ANSWER_PASSAGES = 5

_NUMBER_Q = re.compile(r"多少|几[个项次名家人条万亿天年月]|百分之|比例|增长|数量|金额")
_DATE_Q = re.compile(r"什么时候|何时|哪天|哪一天|几月几日|几号|哪一年|日期|时间")
_WHO_Q = re.compile(r"谁|哪位|何人|什么人")

_DATE_IN = re.compile(r"\d{1,4}\s*[年月日号]|\d{4}-\d{1,2}|[上下]午|今年|去年|近日|日前")
_NUMBER_IN = re.compile(r"\d|[一二三四五六七八九十两百千万]+[个名家项次条起期人元位所座处件批万]")


def expected_type(question: str) -> str | None:
    """What kind of thing the answer must contain: a person, a date or a number."""
    if _WHO_Q.search(question):
        return "person"
    if _DATE_Q.search(question):
        return "date"
    if _NUMBER_Q.search(question):
        return "number"
    return None


def type_ok(kind: str | None, sentence: str) -> bool:
    if kind == "person":
        return bool(ROLE.search(sentence)) or any(f == "nr" for _, f in pseg.cut(sentence))
    if kind == "date":
        return bool(_DATE_IN.search(sentence))
    if kind == "number":
        return bool(_NUMBER_IN.search(sentence))
    return True


def _shorten(scorer: Scorer, text: str, start: int, end: int, cov: float) -> tuple[int, int]:
    """A clause window of a long sentence that holds (nearly) all of its matching weight."""
    if end - start <= 80:
        return start, end
    cuts = [start] + [m.end() for m in re.finditer(r"[，,：:]", text[start:end]) if start + m.end() < end]
    cuts = [start] + [start + c for c in cuts[1:]] + [end]
    best = (start, end)
    best_len = end - start
    for i in range(len(cuts) - 1):
        for j in range(i + 1, min(i + 4, len(cuts))):
            s, e = cuts[i], cuts[j]
            if e - s < best_len and scorer.coverage(text[s:e]) >= 0.9 * cov:
                best, best_len = (s, e), e - s
    s, e = best
    while e > s and text[e - 1] in "，,：: ":
        e -= 1
    return s, e


def best_sentence(scorer: Scorer, question: str, hits: Sequence[Hit]) -> tuple[int, int, int, float] | None:
    """(passage, start, end, score) of the sentence that best answers."""
    if not hits:
        return None
    top = hits[0].score or 1.0
    best = None
    # The answer to 谁陪同… says 陪同: a sentence without any known focus word only restates the question.
    focus = [f for f in scorer.focus if len(f) >= 2 and f not in scorer.unknown]
    kind = expected_type(question)
    for p, hit in enumerate(hits[:ANSWER_PASSAGES]):
        text = hit.chunk.text
        for s, e in sentence_spans(text):
            sentence = text[s:e]
            if focus and not any(f in sentence.lower() for f in focus):
                continue
            if not type_ok(kind, sentence):
                continue  # 谁… is not answered by a sentence that names nobody
            cov = scorer.coverage(sentence)
            score = cov + 0.15 * hit.score / top
            if best is None or score > best[3] + 1e-9:
                best = (p, s, e, score, cov)
    if best is None:
        return None
    p, s, e, score, cov = best
    s, e = _shorten(scorer, hits[p].chunk.text, s, e, cov)
    return p, s, e, cov


def _off_topic(scorer: Scorer, query: Query, hit: Hit, doc_text: Callable[[str], str] | None) -> bool:
    """The best sentence still cannot answer: the question's key word is unknown to the
    corpus (…什么时候竣工), or a name it asks about is not in the answer's document."""
    if any(len(f) >= 2 for f in scorer.focus & scorer.unknown):
        return True
    if doc_text is None:
        return False
    text = strip_ws(doc_text(hit.chunk.doc_id))
    return any(strip_ws(n) not in text for n in query.names)


def highlights(query: Query, text: str) -> list[list[int]]:
    """Offsets of the question's words in a passage, merged."""
    terms = {w for w in query.words if len(w) >= 2 or w.isascii()}
    spans = []
    for t in terms:
        for m in re.finditer(re.escape(t), text, flags=re.IGNORECASE):
            spans.append((m.start(), m.end()))
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return merged


def compose(
    tokenizer: Tokenizer,
    query: Query,
    pool: Sequence[Hit],
    top_k: int,
    idf: Callable[[str], float | None],
    max_idf: float,
    doc_text: Callable[[str], str] | None = None,
) -> tuple[Answer, list[Hit]]:
    """The answer and the passages to return (top_k best, plus any an item cites)."""
    scorer = Scorer(query, idf, max_idf)
    passages = list(pool[:top_k])
    spec = list_spec(query.question) or (list_spec(query.text) if query.followup else None)
    items: list[tuple[str, list[int]]] = []
    if spec is not None:
        topic = Scorer(query, idf, max_idf, exclude=(spec.label, *spec.heads), topic=True)
        raw = list_items(spec, tokenizer, topic, query, dated(query.text, pool), doc_text)
        # Return every passage an item cites, even from beyond top_k, best first.
        cited = {c for _, ids in raw for c in ids}
        passages = [h for i, h in enumerate(pool) if i < top_k or h.chunk.id in cited]
        position = {h.chunk.id: i for i, h in enumerate(passages)}
        items = [(n, [position[c] for c in ids]) for n, ids in raw]
    found = best_sentence(scorer, query.text, passages)
    answer = Answer(text=None, passage=None, items=[AnswerItem(n, ps) for n, ps in items])
    if found is not None:
        p, s, e, cov = found
        answer.confidence = round(cov, 4)
        if cov >= ANSWER_THRESHOLD and not _off_topic(scorer, query, passages[p], doc_text):
            answer.text = passages[p].chunk.text[s:e]
            answer.passage = p
            answer.span = (s, e)
    return answer, passages
