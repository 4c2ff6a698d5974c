"""Enumerations in running text: the items a list question asks for when they are not typed names.

哪些街道 asks for names the passages hold anywhere (listing.py); 哪五个行动, 哪几个方面,
分别是哪三个 ask for what one sentence or one paragraph lists.  Chinese prose lists in three
shapes, and each is read here with its span, so the items can be cited:

- 、-runs: ``建立工作会商、线索移交、案件查处等协作机制`` -- the first item loses the verb that
  introduces it, the last the ``等…`` / quote / ``三项工作`` that closes it, and ``A及B`` at the end
  is two items;
- quoted runs: ``“金牌主播讲党史”“全省政法英模榜展播”`` or ``《A》和《B》``;
- ordinals: ``一是A。二是B。`` / ``（一）A`` / ``第一，A`` -- the item is the clause after the marker.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from qa_service.core.models import Hit
from qa_service.core.postag import pseg
from qa_service.core.text import sentence_spans, strip_ws

# One item of a 、-run: no clause punctuation; a short quote or a title may sit inside it (“六小”门店).
_ITEM = r"(?:[^\s、，。；：！？,.;:!?“”《》（）()]|“[^”、，。]{1,12}”|《[^》]{1,40}》)"
_COMMA_RUN = re.compile(f"{_ITEM}{{2,30}}(?:、{_ITEM}{{1,30}})+")
_QUOTE = r"(?:“[^”]{1,30}”|《[^》]{1,40}》)"
_QUOTED_RUN = re.compile(f"{_QUOTE}(?:\\s*(?:、|，|,|和|及|与|以及)?\\s*{_QUOTE})+")
_QUOTED_ITEM = re.compile(_QUOTE)
NUMERALS = "一二三四五六七八九十"
_ORDINAL = re.compile(
    f"(?:(?<=^)|(?<=[。；;：:！？!?\\s”）)]))(?:([{NUMERALS}])(?:是|要|、)|（([{NUMERALS}])）|第([{NUMERALS}])[，,、])"
)
_CLAUSE_END = re.compile(r"[，。；：,;:！？!?]")
_CLOSER = re.compile(f"(?:等|“|《|[{NUMERALS}两\\d]+(?:个|项|大|种|条|篇|类|方面|件)).*$")
_LAST_JOIN = re.compile(r"以及|及|和")
# Parts of speech after which an item starts: verbs (not verbal nouns), prepositions, conjunctions.
_INTRO = {"v", "vd", "p", "c"}
MAX_ITEM_CHARS = 30


@dataclass(frozen=True)
class Enumeration:
    start: int  # the run's span in the text it was found in
    end: int
    items: tuple[str, ...]
    context: tuple[int, int]  # what the run is about: the sentence (or the lead-in) around it


@lru_cache(maxsize=4096)
def _tags(item: str) -> tuple[pseg.pair, ...]:
    """jieba's words of ``item`` with their parts of speech, tagged once per item: a run's items are
    tagged again for each run they are compared with (_drop_predicate's others), and tagging was
    most of a list answer's time.  jieba's global dictionary, which tags with, never changes here
    (core/tokenizer.py adds words to copies), so an item's tags do not either."""
    return tuple(pseg.cut(item))


def _median_len(items: list[str]) -> float:
    return statistics.median(len(i) for i in items) if items else 0.0


def _trim_first(item: str, others: list[str]) -> str:
    """先后察看和谐家园 -> 和谐家园: the item starts after the verb that introduces the run (and its
    了/过); without a verb, after another non-noun word (落实巡查制度 -> 巡查制度).  Of several places
    to start, the one giving the length closest to the other items'."""
    words = _tags(item)
    verbs, others_pos, pos = [], [], 0
    for i, (w, flag) in enumerate(words):
        pos += len(w)
        if flag.startswith("u") and verbs and verbs[-1] == pos - len(w):
            verbs[-1] = pos  # 检查了 | 超市
        elif len(item) - pos < 2:
            break
        elif flag in _INTRO:
            verbs.append(pos)
        elif flag[:1] in ("a", "d", "u", "p", "c") and i + 1 < len(words):
            others_pos.append(pos)
    starts = [s for s in (verbs or others_pos) if len(item) - s >= 2]
    # Parallel items keep their verb: 集中时间、集中人员、集中力量.
    if words and any(o.startswith(words[0].word) for o in others):
        starts.append(0)
    if not starts:
        return item
    typical = _median_len(others)
    return item[min(starts, key=lambda s: (abs(len(item) - s - typical), -s)) :]


def _ends_in_verb(item: str) -> bool:
    words = _tags(item)
    return bool(words) and words[-1].flag in _INTRO


def _trim_last(item: str, others: list[str]) -> list[str]:
    """舆论宣传等协作机制 -> [舆论宣传]; 案件当事人代表及普通群众代表 -> [案件当事人代表, 普通群众代表];
    群众代表参加 -> [群众代表] when the other items are not verb phrases."""
    closed = _CLOSER.search(item)
    if closed and closed.start() >= 2:
        item = item[: closed.start()]
    parts = _LAST_JOIN.split(item, maxsplit=1)
    if len(parts) == 2 and not parts[0]:  # 、以及阿米巴瘤
        parts = parts[1:]
    if len(parts) == 2 and not all(len(p) >= 2 for p in parts):
        parts = [item]
    # A verb closing an open run is the sentence's predicate (…物业代表参加); before 等 it belongs to
    # the item (老旧小区改造等).
    if not closed:
        parts[-1] = _drop_predicate(parts[-1], others)
    return parts


def _drop_predicate(item: str, others: list[str]) -> str:
    words = _tags(item)
    predicate = len(words) >= 2 and words[-1].flag in _INTRO and len(item) - len(words[-1].word) >= 2
    if predicate and not any(_ends_in_verb(o) for o in others):
        return item[: len(item) - len(words[-1].word)]
    typical = _median_len(others)
    if typical and len(item) > 1.5 * typical:  # 陆一凡参加会议 -> 陆一凡
        pos = 0
        for i, (w, flag) in enumerate(words):
            if i and flag in _INTRO | {"u"} and pos >= 2:
                return item[:pos]
            pos += len(w)
    return item


def comma_runs(text: str) -> list[Enumeration]:
    out = []
    for m in _COMMA_RUN.finditer(text):
        raw = m.group().split("、")
        last = _trim_last(raw[-1], raw[1:-1])
        # 非洲以及中国大陆的广西: 以及 joins two items anywhere (和 may be inside one: 热带和亚热带地区).
        middle = [p for i in raw[1:-1] for p in i.split("以及") if p]
        items = [_trim_first(raw[0], [*middle, *last]), *middle, *last]
        items = [i for i in items if 2 <= len(i) <= MAX_ITEM_CHARS]
        if len(items) >= 2:
            out.append(Enumeration(m.start(), m.end(), tuple(items), _sentence_of(text, m.start(), m.end())))
    return out


def quoted_runs(text: str) -> list[Enumeration]:
    out = []
    for m in _QUOTED_RUN.finditer(text):
        items = tuple(q.group() for q in _QUOTED_ITEM.finditer(m.group()))
        out.append(Enumeration(m.start(), m.end(), items, _sentence_of(text, m.start(), m.end())))
    return out


def ordinal_runs(text: str) -> list[Enumeration]:
    """一是…二是…三是… (or （一）…, 第一，…): consecutive markers from 一, each item the clause after it."""
    marks = []
    for m in _ORDINAL.finditer(text):
        n = NUMERALS.index(next(g for g in m.groups() if g)) + 1
        marks.append((n, m.start(), m.end()))
    out = []
    run: list[tuple[int, int, int]] = []
    for mark in [*marks, (0, len(text), len(text))]:
        if run and mark[0] == run[-1][0] + 1:
            run.append(mark)
            continue
        if len(run) >= 2:
            out.append(_ordinal_enumeration(text, run))
        run = [mark] if mark[0] == 1 else []
    return out


def _ordinal_enumeration(text: str, run: list[tuple[int, int, int]]) -> Enumeration:
    items = []
    end = run[-1][2]
    for _, _, s in run:
        m = _CLAUSE_END.search(text, s)
        e = m.start() if m else len(text)
        items.append(text[s:e][:MAX_ITEM_CHARS])
        end = max(end, e)
    # What an ordinal list is about comes before it: the lead-in sentence or headline.
    lead = max(0, run[0][1] - 60)
    return Enumeration(run[0][1], end, tuple(i for i in items if i), (lead, run[0][2] + len(items[0])))


def _sentence_of(text: str, start: int, end: int) -> tuple[int, int]:
    for s, e in sentence_spans(text):
        if s <= start < e:
            return s, max(e, end)
    return start, end


def enumerations(text: str) -> list[Enumeration]:
    """Every list the text holds, in all three shapes."""
    return [*comma_runs(text), *quoted_runs(text), *ordinal_runs(text)]


_COUNT = re.compile(f"(哪|另外|其他|其余|其它)?([{NUMERALS}两])(?:个|项|大|种|条|篇|句|场|位|家|部分|方面|封|类)")


def asked_count(question: str) -> int | None:
    """How many items the question asks for (哪三个, 另外三个), if it says."""
    found = [(bool(m.group(1)), m.group(2)) for m in _COUNT.finditer(question)]
    if not found:
        return None
    marked = [n for flagged, n in found if flagged]
    n = (marked or [found[-1][1]])[-1]
    return 2 if n == "两" else NUMERALS.index(n) + 1


_LIST_ASKED = re.compile(
    f"哪些|哪几|有哪|都有谁|分别是|哪[{NUMERALS[1:]}两]|(?:另外|其他|其余|其它)[{NUMERALS}两](?:个|项|条|种|点|方面)"
)
READ_PASSAGES = 3  # lists are read from this many top passages
EVIDENCE_BONUS = 0.3  # the run sits in the reader's evidence sentence
COUNT_BONUS = 0.5  # the run has as many items as the question asks for
RANK_PENALTY = 0.05  # per passage rank
MIN_CONTEXT = 0.4  # share of the question's topic the run's sentence must hold
NEAR = 12  # characters either side of a run that say what it lists (建立…等协作机制, “三个到位” 一是…)


def asks_for_list(question: str) -> bool:
    return bool(_LIST_ASKED.search(question))


@dataclass(frozen=True)
class Listed:
    items: tuple[str, ...]  # the run's items the question does not itself name
    cites: tuple[str, ...]  # for each item, the id of the passage it is read from


def best_enumeration(
    question: str,
    coverage: Callable[[str], float],
    hits: Sequence[Hit | None],
    evidence: tuple[int, int, int] | None,
    pool: Sequence[Hit] = (),
) -> Listed | None:
    """The run the question asks to list: in a sentence about the question (``coverage`` of the
    run's context with the passage title), preferably the reader's evidence sentence
    (``evidence`` = passage, start, end) and with as many items as the question asks for; or the
    numbered section headings (一、…二、…) of a read passage's document, from the passages in
    ``pool``.  A hit given as None is not read, but keeps the others' ranks."""
    n = asked_count(question)
    asked = strip_ws(question)
    best, best_score = None, MIN_CONTEXT
    for p, hit in enumerate(hits[:READ_PASSAGES]):
        if hit is None:  # ruled out by the caller
            continue
        text = hit.chunk.text
        found = [
            (e, _run_coverage(coverage, hit.chunk.title, text, e), [hit.chunk.id] * len(e.items))
            for e in enumerations(text)
        ]
        found += section_runs(hit, pool, coverage)
        for e, cov, cites in found:
            kept = [(i, c) for i, c in zip(e.items, cites, strict=True) if strip_ws(i) not in asked]
            if not kept or cov < MIN_CONTEXT:
                continue
            score = cov - RANK_PENALTY * p
            if evidence and evidence[0] == p and e.start < evidence[2] and evidence[1] < e.end:
                score += EVIDENCE_BONUS
            if n is not None and n in (len(e.items), len(kept)):
                score += COUNT_BONUS
            if score > best_score:
                best, best_score = Listed(tuple(i for i, _ in kept), tuple(c for _, c in kept)), score
    return best


_HEADING = re.compile(f"^([{NUMERALS}])、([^，。；：,;:！？!?]{{2,{MAX_ITEM_CHARS}}})")


def section_runs(
    hit: Hit, pool: Sequence[Hit], coverage: Callable[[str], float]
) -> list[tuple[Enumeration, float, list[str]]]:
    """The numbered section headings (一、扛牢政治责任，…) of the hit's document, when the passages of
    ``pool`` show a run of them from 一: each item the heading's first clause, cited to a passage
    under it.  Its context is the hit (title and text) with the headings."""
    heads: dict[int, tuple[str, str]] = {}
    for h in pool:
        c = h.chunk
        if c.doc_id == hit.chunk.doc_id and c.section and (m := _HEADING.match(c.section)):
            heads.setdefault(NUMERALS.index(m.group(1)) + 1, (m.group(2), c.id))
    run = []
    while len(run) + 1 in heads:
        run.append(heads[len(run) + 1])
    if len(run) < 2:
        return []
    items = tuple(t for t, _ in run)
    cov = coverage(f"{hit.chunk.title} {hit.chunk.text} {' '.join(items)}")
    return [(Enumeration(-1, -1, items, (0, 0)), cov, [c for _, c in run])]


def _run_coverage(coverage: Callable[[str], float], title: str, text: str, e: Enumeration) -> float:
    """How much of the question a run's sentence (with the passage title) holds, averaged with how
    much its near surroundings hold: of two runs in one sentence, the one the question's words
    stand next to."""
    sentence = coverage(f"{title} {text[e.context[0] : e.context[1]]}")
    lead = title if e.start < NEAR else ""
    near = coverage(f"{lead} {text[max(0, e.start - NEAR) : e.end + NEAR]}")
    return (sentence + near) / 2
