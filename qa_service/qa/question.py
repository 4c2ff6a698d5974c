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

from qa_service.core.lexicon import NAME_SUFFIXES, asking_words
from qa_service.core.models import Query
from qa_service.core.tokenizer import Analysis, Tokenizer
from qa_service.qa.address import without_address
from qa_service.qa.coordination import coordinated_parts
from qa_service.qa.entities import question_names
from qa_service.qa.enumerate import asks_for_list
from qa_service.qa.kinds import ASKS

_FOLLOWUP_START = re.compile(r"^(?:那|那么|那个|还有|另外|此外|其他|其它|它|他|她|这|该|其|同样|再)")
_FOLLOWUP_END = re.compile(r"(?:呢|怎么样|如何|又如何|又怎样)[？?。!！]*$")
MAX_FOLLOWUP_CHARS = 16
_WHICH = re.compile(r"哪些|哪几个|哪几位|哪几家|哪几|哪个|哪家|哪位|哪")


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
        # 「上街区和河口区的会议分别…」 followed by 那垦利区呢？: both took the new name; it is asked once.
        for n in new:
            text = re.sub(f"{re.escape(n)}(?:(?:以及|[和与及、]){re.escape(n)})+", n, text)
        return text
    # After a list question (哪些街道开展了…？), 那工业路街道呢？ asks the same of one of its kind:
    # 工业路街道开展了…？ -- not the list again.
    for n in new:
        for m in _WHICH.finditer(previous):
            for k in range(min(4, len(n) - 1), 0, -1):  # the asked kind is the name's suffix (街道)
                if previous[m.end() : m.end() + k] == n[-k:]:
                    return previous[: m.start()] + n + previous[m.end() + k :]
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


_CLAUSE = re.compile(r"[^，,；;？?！!。]+")
_LINK = "是在于的了由被"
MAX_SLOTS = 3


def slot_texts(text: str) -> list[str]:
    """The parts of a question that asks two or three things, each a question of its own that keeps
    the subject they share (…研讨会是哪天开的？会上是谁讲的话？ -> …研讨会是哪天开的 / …研讨会，会上是谁
    讲的话); empty for a question asking one thing or a list (分别, 哪些: one answer with items)."""
    clauses = [c.strip() for c in _CLAUSE.findall(text) if c.strip()]
    asking = [i for i, c in enumerate(clauses) if ASKS.search(c)]
    if not 2 <= len(asking) <= MAX_SLOTS or asks_for_list(text) or "分别" in text:
        return []
    first = asking[0]
    lead = clauses[first][: ASKS.search(clauses[first]).start()].rstrip(_LINK)
    context = "，".join([*clauses[:first], lead] if lead else clauses[:first])
    slots = ["，".join(clauses[: first + 1])]
    slots += [f"{context}，{clauses[i]}" if context else clauses[i] for i in asking[1:]]
    return slots


def part_texts(text: str, cut: Sequence[str], names: Sequence[str] = ()) -> tuple[list[str], bool]:
    """The questions a question asks in one (empty if it asks one thing), and whether they ask the
    same of different things: one per thing (A和B分别…, coordination.py), else one per clause asking
    something (``slot_texts``).  ``cut``: its segmentation; ``names``: the proper names in it."""
    parts = coordinated_parts(cut, names)
    if parts and not any(asks_for_list(p) for p in parts):
        return parts, True
    return slot_texts(text), False


def _analyse(tokenizer: Tokenizer, question: str) -> Analysis:
    """The question's analysis, its question words left out of its words and tokens: what it is
    about, not what it asks with (a question word no passage says weighed as its rarest word)."""
    cut = tokenizer.cut(question)
    return tokenizer.analysis(cut, asking_words(cut))


def _slot_queries(tokenizer: Tokenizer, parts: Sequence[str]) -> list[Query]:
    out = []
    for part in parts:
        a = _analyse(tokenizer, part)
        found = question_names(tokenizer, part, a.words)
        out.append(Query(part, part, list(a.tokens), cut=a.cut, words=a.words, text_tokens=a.tokens, names=found))
    return out


def parse_question(tokenizer: Tokenizer, question: str, history: Sequence[dict[str, str]] = ()) -> Query:
    """The question as every later step reads it: rewritten with the conversation's topic if it
    is a follow-up, segmented once, its names found; without what a chat user says around it."""
    question = without_address(question)
    asked = _analyse(tokenizer, question)
    topic = conversation_topic(tokenizer, history) if history else None
    if not (topic and is_followup(question)):
        names = question_names(tokenizer, question, asked.words)
        parts, apart = part_texts(question, asked.cut, names)
        return Query(
            question=question,
            text=question,
            tokens=list(asked.tokens),
            cut=asked.cut,
            words=asked.words,
            text_tokens=asked.tokens,
            names=names,
            slots=_slot_queries(tokenizer, parts),
            apart=apart,
        )
    text = carry_topic(tokenizer, topic, question, asked.words)
    glued = text.endswith(topic)  # no name of the follow-up's took an earlier one's place
    # … and it asks something of its own and names nothing new: it asks about the earlier answer.
    # 那垦利区呢？ asks nothing itself: it swaps the subject, even when 垦利区 is not known as a name.
    about_earlier = (
        glued
        and bool(ASKS.search(question))
        and not any(n not in topic for n in question_names(tokenizer, question, asked.words))
    )
    merged = _analyse(tokenizer, text)
    names = question_names(tokenizer, text, merged.words)
    # Parts come from a question, not from a follow-up glued to the question before it.
    parts, apart = ([], False) if glued else part_texts(text, merged.cut, names)
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
        names=names,
        slots=_slot_queries(tokenizer, parts),
        apart=apart,
        earlier=parse_question(tokenizer, topic) if about_earlier else None,
    )
