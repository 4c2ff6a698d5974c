"""List questions (哪些街道…？): what kind of thing is asked for, and every one found.

The asked kind is the head noun after (or before) the question word: 哪些街道,
哪几位区领导, 有哪些区直部门 (head-final: 部门, not 区), 哪些镇和街道 (both).
Items come from the passages that are about the rest of the question, each with
the passages that name it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa_service.core.lexicon import NAME_SUFFIXES, OFFICE_SUFFIXES, ORG_SUFFIXES, PLACE_SUFFIXES
from qa_service.core.models import Chunk, Hit, Query
from qa_service.core.text import sentence_spans, strip_ws
from qa_service.core.tokenizer import Tokenizer
from qa_service.qa.entities import enumerations, is_name, org_names, person_names
from qa_service.qa.scoring import Scorer

ITEM_TOPIC_FLOOR = 0.25
ITEM_TOPIC_SHARE = 0.6
ITEM_SCORE_SHARE = 0.2

_LIST_Q = re.compile(r"(?:哪些|哪几个|哪几位|哪几家|哪几|有哪|都有谁|包括哪|分别是|几个)")

# Head nouns a 哪些… question asks to list, longest first within each kind.
PERSON_HEADS = ("区领导", "负责人", "领导", "干部", "同志", "人员", "官员", "书记", "人")
ORG_HEADS = ("单位", "部门", "机构", "组织", "企业", "公司", "学校", "医院")
PLACE_HEADS = ("县市区", "县区", "区县", "市县", "县市", "城市", "地区", "区域")
SPOT_HEADS = ("地方", "地点", "场所", "点位", "小区", "市场", "景点")
_LIST_WH = re.compile(r"哪几位|哪几个|哪几家|哪几|哪些|哪个|哪")
_LIST_BEFORE = re.compile(r"(?:都有|有|是|包括|分别是|都是)(?:哪些|哪几个|哪几位|哪几)[？?。\s]*$")


@dataclass
class ListSpec:
    kind: str  # "person", "suffix" (names ending in ``suffixes``) or "spot" (places in an enumeration)
    suffixes: tuple[str, ...] = ()
    label: str = ""
    heads: tuple[str, ...] = ()


def _heads_in(text: str) -> list[str]:
    """Type nouns in a short phrase, left to right (镇和街道 -> [镇, 街道])."""
    lexicon = sorted(set(PERSON_HEADS + ORG_HEADS + PLACE_HEADS + SPOT_HEADS + NAME_SUFFIXES), key=len, reverse=True)
    found, i = [], 0
    while i < len(text):
        for h in lexicon:
            if text.startswith(h, i):
                found.append(h)
                i += len(h)
                break
        else:
            i += 1
    return found


def list_spec(question: str) -> ListSpec | None:
    """What a 哪些… question asks to list, or None if it is not a list question."""
    if not _LIST_Q.search(question):
        return None
    m = _LIST_WH.search(question)
    after = question[m.end() : m.end() + 7] if m else ""
    after = re.split(r"[，,。？?！!的]", after)[0]
    heads = _heads_in(after)
    if not heads and m and (b := _LIST_BEFORE.search(question)):
        heads = _heads_in(question[max(0, b.start() - 6) : b.start()])[-1:]
    if not heads and m and question[m.start() : m.end()] == "哪几位":
        heads = ["人"]
    if not heads:
        return None
    label = "".join(heads)
    typed = [h for h in heads if h in PERSON_HEADS + ORG_HEADS + PLACE_HEADS + SPOT_HEADS]
    # Chinese noun phrases are head-final: 区直部门 asks for 部门, not 区.
    head = typed[-1] if typed else None
    if head in PERSON_HEADS:
        return ListSpec("person", label=label, heads=tuple(heads))
    if head in ("部门", "机构"):
        return ListSpec("suffix", OFFICE_SUFFIXES, label, tuple(heads))
    if head in ORG_HEADS:
        return ListSpec("suffix", ORG_SUFFIXES, label, tuple(heads))
    if head in PLACE_HEADS:
        return ListSpec("suffix", PLACE_SUFFIXES, label, tuple(heads))
    if head in SPOT_HEADS:
        return ListSpec("spot", label=label, heads=tuple(heads))
    # 镇和街道: every name suffix mentioned is asked for.
    return ListSpec("suffix", tuple(h for h in heads if h in NAME_SUFFIXES), label, tuple(heads))


def find_entities(spec: ListSpec, tokenizer: Tokenizer, text: str) -> list[str]:
    if spec.kind == "person":
        names = person_names(text)
        for items in enumerations(text):
            # A list in which two items are names lists people throughout (游野 is not tagged as a name).
            if sum(i in names or is_name(i) for i in items) >= 2:
                names.extend(i for i in items if 2 <= len(i) <= 4)
        return names
    if spec.kind == "spot":
        return [i for items in enumerations(text) for i in items]
    return org_names(tokenizer, text, spec.suffixes)


def _relevant(topic: Scorer, candidates: list[Hit]) -> list[Hit]:
    """The passages about the question: relative to the best one, with a floor (a list drawn from
    passages that barely touch the question is worse than none)."""
    covs = [
        topic.coverage(f"{h.chunk.title} {h.chunk.section or ''} {h.chunk.publisher or ''} {h.chunk.text}")
        for h in candidates
    ]
    floor = max(ITEM_TOPIC_FLOOR, ITEM_TOPIC_SHARE * max(covs, default=0.0))
    return [h for h, cov in zip(candidates, covs, strict=True) if cov >= floor]


def _names_in(spec: ListSpec, tokenizer: Tokenizer, topic: Scorer, c: Chunk) -> list[str]:
    """The entities of the asked kind that one passage names (with its attribution and section)."""
    if spec.kind == "spot":
        # Places are listed in the sentence that is about the question, not anywhere in the passage.
        spans = sentence_spans(c.text)
        best = max(spans, key=lambda sp: topic.coverage(c.text[sp[0] : sp[1]]), default=None)
        names = find_entities(spec, tokenizer, c.text[best[0] : best[1]]) if best else []
    else:
        names = find_entities(spec, tokenizer, f"{c.title}。{c.text}")
    for meta in (c.attribution, c.section):
        if spec.kind == "suffix" and meta and meta.endswith(spec.suffixes) and len(meta) <= 14:
            names.append(meta)
    return names


def list_items(
    spec: ListSpec,
    tokenizer: Tokenizer,
    topic: Scorer,
    query: Query,
    pool: Sequence[Hit],
    doc_text: Callable[[str], str] | None = None,
) -> list[tuple[str, list[str]]]:
    """Every entity of the asked kind in the passages about the rest of the question.

    ``topic`` scores the question without the asked kind (街道 in 哪些街道…),
    so a passage qualifies by what it is about, not by naming a 街道.
    """
    if not pool:
        return []
    top = pool[0].score
    asked = set(query.text_tokens)
    names_asked = [n for n in query.names if n not in spec.heads and n != spec.label]
    found: dict[str, list[str]] = {}  # name -> ids of the chunks that name it
    for hit in _relevant(topic, [h for h in pool if h.score >= ITEM_SCORE_SHARE * top]):
        c = hit.chunk
        if doc_text is not None and names_asked:
            text = strip_ws(doc_text(c.doc_id))
            if any(strip_ws(n) not in text for n in names_asked):
                continue
        for n in _names_in(spec, tokenizer, topic, c):
            if n not in asked:  # the question's own subject is not an answer to it
                found.setdefault(n, [])
                if c.id not in found[n]:
                    found[n].append(c.id)
    # A name inside a longer found name (南路街道 in 紫荆山南路街道) is the same thing.
    names = [n for n in found if not any(n != m and n in m for m in found)]
    return [(n, found[n]) for n in names]


_MONTH_DAY = re.compile(r"(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")


def dated(question: str, pool: Sequence[Hit]) -> list[Hit]:
    """Keep the passages published on a date the question names (4月16日那期…), if any are."""
    wanted = set()
    for y, mo, d in _MONTH_DAY.findall(question):
        wanted.add((y or None, int(mo), int(d)))
    if not wanted:
        return list(pool)

    def match(published: str | None) -> bool:
        if not published:
            return False
        y, mo, d = published.split("-")
        return any((wy is None or wy == y) and wm == int(mo) and wd == int(d) for wy, wm, wd in wanted)

    kept = [h for h in pool if match(h.chunk.published)]
    return kept or list(pool)
