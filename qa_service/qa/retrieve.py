"""Retrieve stage: a question (plus conversation history) -> ranked passages.

Follow-ups such as ``那工业路街道呢？`` carry the topic of the earlier question:
the earlier question is rewritten with the new entity in place of the old
one (``新安路街道怎样开展爱国卫生运动？`` -> ``工业路街道怎样开展爱国卫生运动？``).

Ranking is a ``Ranker``: BM25 here, BM25 fused with dense vectors in hybrid.py.
Both get the whole ``Query``, since a dense model reads the text, not tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from qa_service.core.models import Hit
from qa_service.core.tokenizer import NAME_SUFFIXES, Tokenizer
from qa_service.index.embedded.store import SearchIndex

_FOLLOWUP_START = re.compile(r"^(?:那|那么|那个|还有|另外|此外|其他|其它|它|他|她|这|该|其|同样|再)")
_FOLLOWUP_END = re.compile(r"(?:呢|怎么样|如何|又如何|又怎样)[？?。!！]*$")
MAX_FOLLOWUP_CHARS = 16


@dataclass
class Query:
    question: str  # as asked
    text: str  # after carrying the conversation's topic
    tokens: list[str]
    followup: bool = False


def entities(tokenizer: Tokenizer, text: str) -> list[str]:
    """Organisation and place names in a text (words ending in 街道, 镇, 局, …)."""
    return [w for w in tokenizer.words(text) if len(w) >= 3 and w.endswith(NAME_SUFFIXES)]


def is_followup(question: str) -> bool:
    q = question.strip()
    return len(q) <= MAX_FOLLOWUP_CHARS and bool(_FOLLOWUP_START.match(q) or _FOLLOWUP_END.search(q))


def carry_topic(tokenizer: Tokenizer, previous: str, question: str) -> str:
    """Merge a follow-up into the question it follows."""
    new = entities(tokenizer, question)
    text = previous
    replaced = False
    for n in new:
        suffix = next(s for s in NAME_SUFFIXES if n.endswith(s))
        for old in entities(tokenizer, previous):
            if old != n and old.endswith(suffix) and old in text:
                text = text.replace(old, n)
                replaced = True
    if replaced:
        return text
    core = _FOLLOWUP_END.sub("", _FOLLOWUP_START.sub("", question.strip()))
    return f"{core} {previous}".strip()


def rewrite(tokenizer: Tokenizer, question: str, history: Sequence[dict[str, str]] = ()) -> tuple[str, bool]:
    """The question with the topic of earlier user turns carried into it."""
    topic: str | None = None
    for turn in history:
        if turn.get("role") != "user":
            continue
        content = turn.get("content", "").strip()
        if not content:
            continue
        topic = carry_topic(tokenizer, topic, content) if topic and is_followup(content) else content
    if topic and is_followup(question):
        return carry_topic(tokenizer, topic, question), True
    return question, False


class Ranker(Protocol):
    mode: str  # "bm25" or "hybrid": reported by the API

    def rank(self, query: Query, k: int) -> list[Hit]: ...


class BM25Ranker:
    mode = "bm25"

    def __init__(self, index: SearchIndex) -> None:
        self.index = index

    def rank(self, query: Query, k: int) -> list[Hit]:
        return [
            Hit(chunk=self.index.chunk(i), score=score, rank=r, explain={"bm25": score, "bm25_rank": r})
            for r, (i, score) in enumerate(self.index.search(query.tokens, k))
        ]


class Retriever:
    def __init__(self, index: SearchIndex, ranker: Ranker | None = None) -> None:
        self.index = index
        self.ranker = ranker or BM25Ranker(index)

    def query(self, question: str, history: Sequence[dict[str, str]] = ()) -> Query:
        tok = self.index.tokenizer
        text, followup = rewrite(tok, question, history)
        tokens = tok.tokens(text)
        if followup:
            # What the follow-up itself names (工业路街道) is its point: count it twice more,
            # so the carried topic does not pull back the earlier subject's passages.
            tokens += tok.tokens(question) * 2
        return Query(question=question, text=text, tokens=tokens, followup=followup)

    def search(self, query: Query, k: int) -> list[Hit]:
        return self.ranker.rank(query, k)
