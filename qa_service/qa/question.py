"""Question analysis: a question (plus conversation history) parsed once into a ``Query``.

Every later step (retrieval, scoring, lists, answers, highlights) reads the
parsed question instead of cutting the text again: the question is segmented
once per request.

Follow-ups such as ``那工业路街道呢？`` carry the topic of the earlier question:
the earlier question is rewritten with the new entity in place of the old
one (``新安路街道怎样开展爱国卫生运动？`` -> ``工业路街道怎样开展爱国卫生运动？``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa_service.core.lexicon import NAME_SUFFIXES
from qa_service.core.models import Query
from qa_service.core.tokenizer import Tokenizer
from qa_service.qa.entities import question_names

_FOLLOWUP_START = re.compile(r"^(?:那|那么|那个|还有|另外|此外|其他|其它|它|他|她|这|该|其|同样|再)")
_FOLLOWUP_END = re.compile(r"(?:呢|怎么样|如何|又如何|又怎样)[？?。!！]*$")
MAX_FOLLOWUP_CHARS = 16


def entities(words: list[str]) -> list[str]:
    """Organisation and place names among a text's words (ending in 街道, 镇, 局, …)."""
    return [w for w in words if len(w) >= 3 and w.endswith(NAME_SUFFIXES)]


def is_followup(question: str) -> bool:
    q = question.strip()
    return len(q) <= MAX_FOLLOWUP_CHARS and bool(_FOLLOWUP_START.match(q) or _FOLLOWUP_END.search(q))


def carry_topic(tokenizer: Tokenizer, previous: str, question: str, words: list[str] | None = None) -> str:
    """Merge a follow-up into the question it follows (``words``: the follow-up's, if already cut)."""
    new = entities(tokenizer.words(question) if words is None else words)
    text = previous
    replaced = False
    for n in new:
        suffix = next(s for s in NAME_SUFFIXES if n.endswith(s))
        for old in entities(tokenizer.words(previous)):
            if old != n and old.endswith(suffix) and old in text:
                text = text.replace(old, n)
                replaced = True
    if replaced:
        return text
    core = _FOLLOWUP_END.sub("", _FOLLOWUP_START.sub("", question.strip()))
    return f"{core} {previous}".strip()


def conversation_topic(tokenizer: Tokenizer, history: Sequence[dict[str, str]]) -> str | None:
    """What the earlier user turns were asking, follow-ups merged in."""
    topic: str | None = None
    for turn in history:
        if turn.get("role") != "user":
            continue
        content = turn.get("content", "").strip()
        if not content:
            continue
        topic = carry_topic(tokenizer, topic, content) if topic and is_followup(content) else content
    return topic


def parse_question(tokenizer: Tokenizer, question: str, history: Sequence[dict[str, str]] = ()) -> Query:
    """The question as every later step reads it: rewritten with the conversation's topic if it
    is a follow-up, segmented once, its names found."""
    asked = tokenizer.analyse(question)
    topic = conversation_topic(tokenizer, history) if history else None
    if not (topic and is_followup(question)):
        return Query(
            question=question,
            text=question,
            tokens=list(asked.tokens),
            cut=asked.cut,
            words=asked.words,
            text_tokens=asked.tokens,
            names=question_names(tokenizer, question, asked.words),
        )
    text = carry_topic(tokenizer, topic, question, asked.words)
    merged = tokenizer.analyse(text)
    # What the follow-up itself names (工业路街道) is its point: count it twice more,
    # so the carried topic does not pull back the earlier subject's passages.
    return Query(
        question=question,
        text=text,
        tokens=merged.tokens + asked.tokens * 2,
        followup=True,
        cut=asked.cut,
        words=merged.words,
        text_tokens=merged.tokens,
        names=question_names(tokenizer, text, merged.words),
    )
