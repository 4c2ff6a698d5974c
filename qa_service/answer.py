"""Answer stage: ranked passages -> a short extractive answer, list items, highlights.

The answer is a sentence (or a clause of a long one) copied from a passage,
never generated text.  Sentences are scored by how much of the question's
idf-weighted terms they contain; the words next to the question word
(``谁陪同…`` -> 陪同) weigh triple, since the answer sentence is the one that
says *who accompanied*, not the one that repeats the rest of the question.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jieba.posseg as pseg

from .chunking import sentence_spans
from .models import Answer, AnswerItem, Hit
from .retrieve import Query
from .tokenize import NAME_SUFFIXES, STOPWORDS, Tokenizer

# Below this share of the question's weight, the best sentence does not answer
# it.  Calibrated on eval/seed_questions.jsonl (see README, "Evaluation").
ANSWER_THRESHOLD = 0.45
FOCUS_WEIGHT = 3.0
ITEM_TOPIC_THRESHOLD = 0.4
ANSWER_PASSAGES = 5

_WH = re.compile(r"^(?:谁|哪些|哪几个|哪几位|哪几|哪个|哪位|哪里|哪儿|哪|什么时候|什么|多少|几|何时|如何|怎样|怎么|为何|为什么|是否)$")
_LIST_Q = re.compile(r"(?:哪些|哪几个|哪几位|哪几家|哪几|有哪|都有谁|包括哪|分别是|几个)")
_LIST_TYPE = re.compile(r"(?:哪些|哪几个|哪几位|哪几家|哪几|哪)([\u4e00-\u9fff]{1,4}?)(?:开展|召开|参加|进行|出席|陪同|在|被|有|对|受|获|做|作|举行|督导|察看|提出|实施|发放|申报|是|了|\W|$)")
_NUMBER_Q = re.compile(r"多少|几[个项次名家人条万亿天年月]|百分之|比例|增长|数量|金额")
_DATE_Q = re.compile(r"什么时候|何时|哪天|哪一天|几月几日|几号|哪一年|日期|时间")
_WHO_Q = re.compile(r"谁|哪位|何人|什么人")
_ROLE = re.compile(r"书记|区长|县长|市长|镇长|主席|部长|主任|局长|委员|组长|常委|指挥长|负责人")

PERSON_TYPES = {"人", "领导", "干部", "同志", "人员", "区领导", "负责人", "官员", "位领导"}
ORG_TYPES = {"单位", "部门", "机构", "组织", "区直部门", "区直单位", "企业", "公司"}
PLACE_TYPES = {"地方", "地区", "县市区", "区县", "县区", "市县", "县市", "城市", "区域"}
ORG_SUFFIXES = ("局", "委", "办", "会", "院", "所", "中心", "公司", "联", "协", "街道", "镇", "管委会", "队", "站", "集团", "部")
PLACE_SUFFIXES = ("市", "县", "区", "镇", "乡", "街道", "省")
_GENERIC = re.compile(r"^(?:各|全|本|该|我|两|多|每|其他|有关|相关|辖区|城区|社区|街道|乡镇|城市|省市|全区|全市|全县)")


@dataclass
class ListSpec:
    kind: str  # "suffix", "person"
    suffixes: tuple[str, ...] = ()
    label: str = ""


def list_spec(question: str) -> ListSpec | None:
    """What a 哪些… question asks to list, or None if it is not a list question."""
    if not _LIST_Q.search(question):
        return None
    m = _LIST_TYPE.search(question)
    word = m.group(1) if m else ""
    if not word or _WHO_Q.search(question) and not word:
        return ListSpec("person", label="人")
    if word in PERSON_TYPES or word.endswith(("领导", "人", "干部")):
        return ListSpec("person", label=word)
    if word in ORG_TYPES or word.endswith(("单位", "部门", "机构")):
        return ListSpec("suffix", ORG_SUFFIXES, word)
    if word in PLACE_TYPES or word.startswith(("县", "市", "区")) and len(word) > 1:
        return ListSpec("suffix", PLACE_SUFFIXES, word)
    for s in sorted(NAME_SUFFIXES, key=len, reverse=True):
        if word.endswith(s):
            return ListSpec("suffix", (s,), word)
    if word.endswith(("街", "路")):
        return ListSpec("suffix", ("街道",), word)
    return ListSpec("suffix", ORG_SUFFIXES, word) if word in {"家", "个"} else None


def focus_terms(tokenizer: Tokenizer, question: str) -> set[str]:
    """Content words right next to the question word (谁[陪同], [收入]是多少)."""
    words = [w for w in tokenizer.cut(question) if w.strip()]
    focus: set[str] = set()
    for i, w in enumerate(words):
        if not _WH.match(w):
            continue
        for step in (1, -1):
            j = i + step
            while 0 <= j < len(words) and (words[j] in STOPWORDS or not re.search(r"\w", words[j])):
                j += step
            if 0 <= j < len(words) and abs(j - i) <= 2:
                focus.add(words[j].lower())
    return focus


class Scorer:
    """Weights of the question's words, and how much of that weight a text holds.

    Words are matched as substrings, so a different segmentation of the same
    characters still counts.  A word the corpus has never seen weighs as much
    as the rarest word: a question about 法国 cannot be answered by passages
    that merely share its other words.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        query: Query,
        idf: Callable[[str], float],
        max_idf: float,
        exclude: tuple[str, ...] = (),
    ) -> None:
        focus = focus_terms(tokenizer, query.question)
        self.weights: dict[str, float] = {}
        for w in dict.fromkeys(tokenizer.words(query.text)):
            if w in exclude:
                continue
            weight = idf(w)
            if weight <= 0:
                grams = [w[i : i + 2] for i in range(len(w) - 1)]
                known = [idf(g) for g in grams if idf(g) > 0]
                weight = sum(known) / len(known) if known and len(known) == len(grams) else max_idf
            if w in focus:
                weight *= FOCUS_WEIGHT
            self.weights[w] = weight
        self.total = sum(self.weights.values())

    def coverage(self, text: str) -> float:
        if self.total <= 0:
            return 0.0
        low = text.lower()
        return sum(w for t, w in self.weights.items() if t in low) / self.total


def _type_bonus(question: str, sentence: str) -> float:
    bonus = 0.0
    if _NUMBER_Q.search(question) and re.search(r"\d", sentence):
        bonus += 0.1
    if _DATE_Q.search(question) and re.search(r"\d+\s*[月日年]|\d{4}-\d{1,2}", sentence):
        bonus += 0.1
    if _WHO_Q.search(question) and _ROLE.search(sentence):
        bonus += 0.05
    return bonus


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
    for p, hit in enumerate(hits[:ANSWER_PASSAGES]):
        text = hit.chunk.text
        for s, e in sentence_spans(text):
            cov = scorer.coverage(text[s:e])
            score = cov + 0.15 * hit.score / top + _type_bonus(question, text[s:e])
            if best is None or score > best[3] + 1e-9:
                best = (p, s, e, score, cov)
    if best is None:
        return None
    p, s, e, score, cov = best
    s, e = _shorten(scorer, hits[p].chunk.text, s, e, cov)
    return p, s, e, cov


def find_entities(spec: ListSpec, tokenizer: Tokenizer, text: str) -> list[str]:
    if spec.kind == "person":
        return [w for w, flag in pseg.cut(text) if flag == "nr" and 2 <= len(w) <= 4]
    out = []
    for w in tokenizer.words(text):
        if w.endswith(spec.suffixes) and len(w) >= 3 and not _GENERIC.match(w) and re.fullmatch(r"[\u4e00-\u9fff]+", w):
            suffix = next(s for s in spec.suffixes if w.endswith(s))
            if len(w) - len(suffix) >= 2 or len(w) >= 3 and suffix in ("局", "委", "联", "协", "办"):
                out.append(w)
    return out


def list_items(
    spec: ListSpec, tokenizer: Tokenizer, topic: Scorer, question: str, pool: Sequence[Hit]
) -> list[tuple[str, list[int]]]:
    """Every entity of the asked kind in the passages about the rest of the question.

    ``topic`` scores the question without the asked kind (街道 in 哪些街道…),
    so a passage qualifies by what it is about, not by naming a 街道.
    """
    if not pool:
        return []
    top = pool[0].score
    asked = set(tokenizer.tokens(question))
    found: dict[str, list[int]] = {}
    for p, hit in enumerate(pool):
        if hit.score < 0.3 * top:
            break
        c = hit.chunk
        context = f"{c.title} {c.text}"
        if topic.coverage(context) < ITEM_TOPIC_THRESHOLD:
            continue
        names = find_entities(spec, tokenizer, context)
        if c.attribution and any(c.attribution.endswith(s) for s in spec.suffixes) and spec.kind == "suffix":
            names.append(c.attribution)
        for n in names:
            if n in asked:
                continue  # the question's own subject is not an answer to it
            found.setdefault(n, [])
            if p not in found[n]:
                found[n].append(p)
    # A name inside a longer found name (南路街道 in 紫荆山南路街道) is the same thing.
    names = [n for n in found if not any(n != m and n in m for m in found)]
    return [(n, found[n]) for n in names]


def highlights(tokenizer: Tokenizer, query: Query, text: str) -> list[list[int]]:
    """Offsets of the question's words in a passage, merged."""
    terms = {w for w in tokenizer.words(query.text) if len(w) >= 2 or w.isascii()}
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
    idf: Callable[[str], float],
    max_idf: float,
) -> tuple[Answer, list[Hit]]:
    """The answer and the passages to return (top_k best, plus any an item cites)."""
    scorer = Scorer(tokenizer, query, idf, max_idf)
    passages = list(pool[:top_k])
    spec = list_spec(query.question) or (list_spec(query.text) if query.followup else None)
    items: list[tuple[str, list[int]]] = []
    if spec is not None:
        topic = Scorer(tokenizer, query, idf, max_idf, exclude=(spec.label, *spec.suffixes))
        raw = list_items(spec, tokenizer, topic, query.text, pool)
        needed = sorted({p for _, ps in raw for p in ps})
        keep = sorted(set(range(len(passages))) | set(needed))
        passages = [pool[i] for i in keep]
        remap = {old: new for new, old in enumerate(keep)}
        items = [(n, [remap[p] for p in ps]) for n, ps in raw]
    found = best_sentence(scorer, query.text, passages)
    answer = Answer(text=None, passage=None, items=[AnswerItem(n, ps) for n, ps in items])
    if found is not None:
        p, s, e, cov = found
        answer.confidence = round(cov, 4)
        if cov >= ANSWER_THRESHOLD:
            answer.text = passages[p].chunk.text[s:e]
            answer.passage = p
            answer.span = (s, e)
    return answer, passages
