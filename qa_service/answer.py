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
from .text import strip_ws
from .tokenize import NAME_SUFFIXES, STOPWORDS, Tokenizer

# Below this share of the question's weight, the best sentence does not answer
# it.  Calibrated on eval/seed_questions.jsonl (see README, "Evaluation").
ANSWER_THRESHOLD = 0.45
FOCUS_WEIGHT = 3.0
GRAM_SHARE = 0.1
TOPIC_GRAM_SHARE = 0.1
MIN_WEIGHT = 0.1
ITEM_TOPIC_FLOOR = 0.25
ITEM_TOPIC_SHARE = 0.6
ITEM_SCORE_SHARE = 0.2
ANSWER_PASSAGES = 5

_WH = re.compile(
    r"^(?:谁|哪些|哪几个|哪几位|哪几|哪个|哪位|哪里|哪儿|哪|什么时候|什么|多少|几|何时|如何|怎样|怎么|为何|为什么|是否)$"
)
_LIST_Q = re.compile(r"(?:哪些|哪几个|哪几位|哪几家|哪几|有哪|都有谁|包括哪|分别是|几个)")
_NUMBER_Q = re.compile(r"多少|几[个项次名家人条万亿天年月]|百分之|比例|增长|数量|金额")
_DATE_Q = re.compile(r"什么时候|何时|哪天|哪一天|几月几日|几号|哪一年|日期|时间")
_WHO_Q = re.compile(r"谁|哪位|何人|什么人")
# Titles that stand before a person's name (区委书记宋洁, 站长欧阳知秋).
_ROLE = re.compile(
    r"书记|[区县市镇乡省州厅局处科站所院校社行部组队团馆]长|主席|主任|委员|常委|指挥长|负责人|经理|董事长|主编|记者|通讯员"
)

# Head nouns a 哪些… question asks to list, longest first within each kind.
PERSON_HEADS = ("区领导", "负责人", "领导", "干部", "同志", "人员", "官员", "书记", "人")
ORG_HEADS = ("单位", "部门", "机构", "组织", "企业", "公司", "学校", "医院")
PLACE_HEADS = ("县市区", "县区", "区县", "市县", "县市", "城市", "地区", "区域")
SPOT_HEADS = ("地方", "地点", "场所", "点位", "小区", "市场", "景点")
OFFICE_SUFFIXES = (
    "局",
    "委",
    "办",
    "院",
    "所",
    "中心",
    "委员会",
    "管委会",
    "联合会",
    "协会",
    "联",
    "协",
    "队",
    "站",
    "部",
)
ORG_SUFFIXES = (*OFFICE_SUFFIXES, "街道", "镇", "公司", "集团")
PLACE_SUFFIXES = ("市", "县", "区", "镇", "乡", "街道", "省")
_GENERIC = re.compile(r"^(?:各|全|本|该|我|两|多|每|其他|有关|相关|辖区|城区|社区|街道|乡镇|城市|省市|全区|全市|全县)")
_LIST_WH = re.compile(r"哪几位|哪几个|哪几家|哪几|哪些|哪个|哪")
_LIST_BEFORE = re.compile(r"(?:都有|有|是|包括|分别是|都是)(?:哪些|哪几个|哪几位|哪几)[？?。\s]*$")
_ROLE_NAME = re.compile(r"(?:书记|区长|县长|市长|镇长|主席|部长|主任|局长|组长|指挥长|委员|常委)([\u4e00-\u9fff]{2,3})")
SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭"
    "陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易"
    "乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴"
    "蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边"
    "卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
COMPOUND_SURNAMES = {
    "欧阳",
    "司马",
    "诸葛",
    "上官",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "令狐",
    "夏侯",
    "长孙",
    "宇文",
}
_NAME_THEN_ACTION = re.compile(r"^(?:表示|指出|强调|要求|提出|主持|陪同|参加|出席|一行|说|讲话|带队|调研|督导|察看)")
_ENUM = re.compile(r"[\u4e00-\u9fff]{2,12}(?:、[\u4e00-\u9fff]{2,12})+")
_ENUM_TAIL = re.compile(r"等(?:处|地|单位|部门|人|项|个)?.*$")


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
        idf: Callable[[str], float | None],
        max_idf: float,
        exclude: tuple[str, ...] = (),
        topic: bool = False,
    ) -> None:
        # ``topic``: weigh only what the question is about (for list items): no focus
        # boost, no single characters or numbers, no words the corpus lacks.
        self.focus = set() if topic else focus_terms(tokenizer, query.question)
        # What a passage is about shows in part-words too (爱国卫生工作 for 爱国卫生运动).
        self.gram_share = TOPIC_GRAM_SHARE if topic else GRAM_SHARE
        self.unknown: set[str] = set()  # words the corpus has never seen
        self.weights: dict[str, float] = {}
        for w in dict.fromkeys(tokenizer.words(query.text)):
            if w in exclude or (topic and (len(w) < 2 or w.isdigit())):
                continue
            weight = idf(w)
            if weight is None:
                # Not a word of the corpus: maybe segmented differently there (bigrams all known).
                grams = [idf(w[i : i + 2]) for i in range(len(w) - 1)]
                if grams and all(g is not None for g in grams):
                    weight = sum(grams) / len(grams)
                elif topic:
                    continue  # words the corpus lacks cannot tell its passages apart
                else:
                    weight = max_idf
                    self.unknown.add(w)
            # A word in half the passages has idf 0 but still says what is asked.
            weight = max(weight, MIN_WEIGHT)
            if w in self.focus:
                weight *= FOCUS_WEIGHT
            self.weights[w] = weight
        self.total = sum(self.weights.values())
        # Bigrams reward the question's words standing together, as in the question.
        self.gram_weights = {
            t: max(w, MIN_WEIGHT)
            for t in query.tokens
            if len(t) == 2 and t not in self.weights and not any(t in e for e in exclude) and (w := idf(t)) is not None
        }
        self.gram_total = sum(self.gram_weights.values())

    def coverage(self, text: str) -> float:
        if self.total <= 0:
            return 0.0
        low = text.lower()
        words = sum(w for t, w in self.weights.items() if t in low) / self.total
        if self.gram_total <= 0:
            return words
        grams = sum(w for t, w in self.gram_weights.items() if t in low) / self.gram_total
        return (1 - self.gram_share) * words + self.gram_share * grams


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
        return bool(_ROLE.search(sentence)) or any(f == "nr" for _, f in pseg.cut(sentence))
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


def _person_names(text: str) -> list[str]:
    """Names after a title (区委书记宋洁) or tagged as names and followed by what people do (陆一凡参加)."""
    names = []
    pos = 0
    for w, flag in pseg.cut(text):
        pos += len(w)
        if flag == "nr" and 2 <= len(w) <= 4 and _NAME_THEN_ACTION.match(text[pos : pos + 4]):
            names.append(w)
    for m in _ROLE_NAME.finditer(text):
        three, two = m.group(1), m.group(1)[:2]
        name = two if len(three) == 3 and text.count(two) > text.count(three) else three
        # 主任座谈交流 is not 主任 + a name: a name starts with a surname, is tagged as one,
        # or recurs (虎强提出…，虎强表示…).
        if name[0] in SURNAMES or name[:2] in COMPOUND_SURNAMES or _is_name(name) or text.count(name) >= 2:
            names.append(name)
    return names


def _is_name(item: str) -> bool:
    pairs = list(pseg.cut(item))
    return len(pairs) == 1 and pairs[0].flag.startswith("nr")


def _org_names(tokenizer: Tokenizer, text: str, suffixes: tuple[str, ...]) -> list[str]:
    words = tokenizer.words(text)
    out = []
    for i, w in enumerate(words):
        # 区 + 法院 -> 区法院: a one-character administrative prefix belongs to the name.
        if i and words[i - 1] in ("区", "县", "市") and w.endswith(OFFICE_SUFFIXES) and len(w) >= 2:
            w = words[i - 1] + w
        if not w.endswith(suffixes) or _GENERIC.match(w) or not re.fullmatch(r"[\u4e00-\u9fff]+", w):
            continue
        suffix = next(s for s in suffixes if w.endswith(s))
        if len(w) - len(suffix) >= 2 or (len(w) >= 3 and len(suffix) == 1):
            out.append(w)
    return out


def _trim_first(item: str) -> str:
    """先后察看和谐家园 -> 和谐家园: drop the verb phrase glued before an enumeration's first item."""
    pairs = list(pseg.cut(item))
    cut = max((i + 1 for i, (_, f) in enumerate(pairs) if f[:1] in ("v", "p", "d", "c")), default=0)
    rest = "".join(w for w, _ in pairs[cut:])
    return rest if len(rest) >= 2 else item


def _trim_last(item: str) -> str:
    """如意街小区等处 -> 如意街小区; 陆一凡参加会议 -> 陆一凡."""
    item = _ENUM_TAIL.sub("", item)
    pairs = list(pseg.cut(item))
    for i, (_, f) in enumerate(pairs):
        if i and f[:1] in ("v", "p", "d", "u"):
            return "".join(w for w, _ in pairs[:i])
    return item


def enumerations(text: str) -> list[list[str]]:
    """The 、-separated lists in a text, with the words glued to their ends trimmed off."""
    out = []
    for m in _ENUM.finditer(text):
        items = m.group().split("、")
        items[0] = _trim_first(items[0])
        items[-1] = _trim_last(items[-1])
        out.append([i for i in items if 2 <= len(i) <= 12])
    return out


def find_entities(spec: ListSpec, tokenizer: Tokenizer, text: str) -> list[str]:
    if spec.kind == "person":
        names = _person_names(text)
        for items in enumerations(text):
            # A list in which two items are names lists people throughout (游野 is not tagged as a name).
            if sum(i in names or _is_name(i) for i in items) >= 2:
                names.extend(i for i in items if 2 <= len(i) <= 4)
        return names
    if spec.kind == "spot":
        return [i for items in enumerations(text) for i in items]
    return _org_names(tokenizer, text, spec.suffixes)


def list_items(
    spec: ListSpec,
    tokenizer: Tokenizer,
    topic: Scorer,
    question: str,
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
    asked = set(tokenizer.tokens(question))
    names_asked = [n for n in question_names(tokenizer, question) if n not in spec.heads and n != spec.label]
    found: dict[str, list[str]] = {}  # name -> ids of the chunks that name it
    candidates = [(p, h) for p, h in enumerate(pool) if h.score >= ITEM_SCORE_SHARE * top]
    contexts = {
        p: f"{h.chunk.title} {h.chunk.section or ''} {h.chunk.publisher or ''} {h.chunk.text}" for p, h in candidates
    }
    covs = {p: topic.coverage(ctx) for p, ctx in contexts.items()}
    # Relevant relative to the best passage, with a floor: a list drawn from passages
    # that barely touch the question is worse than none.
    floor = max(ITEM_TOPIC_FLOOR, ITEM_TOPIC_SHARE * max(covs.values(), default=0.0))
    for p, hit in candidates:
        c = hit.chunk
        if covs[p] < floor:
            continue
        if doc_text is not None and names_asked:
            text = strip_ws(doc_text(c.doc_id))
            if any(strip_ws(n) not in text for n in names_asked):
                continue
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
        for n in names:
            if n in asked:
                continue  # the question's own subject is not an answer to it
            found.setdefault(n, [])
            if c.id not in found[n]:
                found[n].append(c.id)
    # A name inside a longer found name (南路街道 in 紫荆山南路街道) is the same thing.
    names = [n for n in found if not any(n != m and n in m for m in found)]
    return [(n, found[n]) for n in names]


_NAME_FLAGS = {"ns", "nr", "nt", "nrt", "nrfg"}


def question_names(tokenizer: Tokenizer, question: str) -> list[str]:
    """Proper names in a question: places, people, organisations."""
    learned = set(tokenizer.user_words)
    names = [w for w, f in pseg.cut(question) if f in _NAME_FLAGS and len(w) >= 2]
    names += [w for w in tokenizer.words(question) if w in learned or (len(w) >= 3 and w.endswith(NAME_SUFFIXES))]
    return list(dict.fromkeys(names))


def _off_topic(
    tokenizer: Tokenizer, scorer: Scorer, query: Query, hit: Hit, doc_text: Callable[[str], str] | None
) -> bool:
    """The best sentence still cannot answer: the question's key word is unknown to the
    corpus (…什么时候竣工), or a name it asks about is not in the answer's document."""
    if any(len(f) >= 2 for f in scorer.focus & scorer.unknown):
        return True
    if doc_text is None:
        return False
    text = strip_ws(doc_text(hit.chunk.doc_id))
    return any(strip_ws(n) not in text for n in question_names(tokenizer, query.text))


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
    idf: Callable[[str], float | None],
    max_idf: float,
    doc_text: Callable[[str], str] | None = None,
) -> tuple[Answer, list[Hit]]:
    """The answer and the passages to return (top_k best, plus any an item cites)."""
    scorer = Scorer(tokenizer, query, idf, max_idf)
    passages = list(pool[:top_k])
    spec = list_spec(query.question) or (list_spec(query.text) if query.followup else None)
    items: list[tuple[str, list[int]]] = []
    if spec is not None:
        topic = Scorer(tokenizer, query, idf, max_idf, exclude=(spec.label, *spec.heads), topic=True)
        raw = list_items(spec, tokenizer, topic, query.text, dated(query.text, pool), doc_text)
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
        if cov >= ANSWER_THRESHOLD and not _off_topic(tokenizer, scorer, query, passages[p], doc_text):
            answer.text = passages[p].chunk.text[s:e]
            answer.passage = p
            answer.span = (s, e)
    return answer, passages
