"""Finding the names of people, offices and places in Chinese news text.

Heuristics that carry over from corpus to corpus: a person's name follows a title
(区委书记宋洁) or a surname starts it; offices and places end in a suffix (局, 街道,
县); lists of names are written with 、.  jieba's part-of-speech tags help but miss
many names (游野, 虎强), so they are one signal among several.
"""

from __future__ import annotations

import re
from functools import lru_cache

from qa_service.core.lexicon import (
    NAME_SUFFIXES,
    OFFICE_SUFFIXES,
    PLACE_SUFFIXES,
    starts_with_surname,
)
from qa_service.core.postag import pseg
from qa_service.core.tokenizer import Tokenizer

_GENERIC = re.compile(r"^(?:各|全|本|该|我|两|多|每|其他|有关|相关|辖区|城区|社区|街道|乡镇|城市|省市|全区|全市|全县)")
_ROLE_NAME = re.compile(r"(?:书记|区长|县长|市长|镇长|主席|部长|主任|局长|组长|指挥长|委员|常委)([\u4e00-\u9fff]{2,3})")
_ACTIONS = "表示|指出|强调|要求|提出|主持|陪同|参加|出席|一行|说|讲话|带队|调研|督导|察看"
_NAME_THEN_ACTION = re.compile(f"^(?:{_ACTIONS})")
_ACTION = re.compile(_ACTIONS)
# The runs jieba.posseg tags one at a time (its re_han_internal): a run's tags do not depend on the text
# around it, so only the runs where an action follows a name need tagging.
_TAGGED_RUN = re.compile("[\u4e00-\u9fd5a-zA-Z0-9+#&._]+")
_ENUM = re.compile(r"[\u4e00-\u9fff]{2,12}(?:、[\u4e00-\u9fff]{2,12})+")
_ENUM_TAIL = re.compile(r"等(?:处|地|单位|部门|人|项|个)?.*$")


def person_names(text: str) -> list[str]:
    """Names after a title (区委书记宋洁) or tagged as names and followed by what people do (陆一凡参加)."""
    names = names_before_actions(text)
    for m in _ROLE_NAME.finditer(text):
        three, two = m.group(1), m.group(1)[:2]
        name = two if len(three) == 3 and text.count(two) > text.count(three) else three
        # 主任座谈交流 is not 主任 + a name: a name starts with a surname, is tagged as one,
        # or recurs (虎强提出…，虎强表示…).
        if starts_with_surname(name) or is_name(name) or text.count(name) >= 2:
            names.append(name)
    return names


def names_before_actions(text: str) -> list[str]:
    """Words tagged as people's names and followed by what people do (陆一凡参加)."""
    names = []
    for run in _TAGGED_RUN.finditer(text):
        # Tagging is most of a list question's time: a run without an action after a name's two
        # characters cannot hold one.
        if not _ACTION.search(run.group(), 2):
            continue
        pos = run.start()
        for w, flag in pseg.cut(run.group()):
            pos += len(w)
            if flag == "nr" and 2 <= len(w) <= 4 and _NAME_THEN_ACTION.match(text[pos : pos + 4]):
                names.append(w)
    return names


@lru_cache(maxsize=4096)  # items recur across passages; posseg's HMM is the cost
def is_name(item: str) -> bool:
    pairs = list(pseg.cut(item))
    return len(pairs) == 1 and pairs[0].flag.startswith("nr")


def org_names(tokenizer: Tokenizer, text: str, suffixes: tuple[str, ...]) -> list[str]:
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
    return out + shared_suffix_names(text, suffixes)


def shared_suffix_names(text: str, suffixes: tuple[str, ...]) -> list[str]:
    """航海东路、紫荆山南路街道 -> 航海东路街道: coordinated names written with their suffix once, at the
    end.  Only when no earlier item carries a name suffix of its own (东城区、西城区 are whole)."""
    # Two-character place suffixes only: 办, 联, 区, 省 end too many ordinary words, and 广西、云南各省
    # must not become 广西省 -- an item is never a name the text does not support.
    suffixes = tuple(s for s in suffixes if s in PLACE_SUFFIXES and len(s) >= 2)
    if not suffixes:
        return []
    alternation = "|".join(re.escape(s) for s in sorted(suffixes, key=len, reverse=True))
    out = []
    for m in re.finditer(f"((?:[\u4e00-\u9fff]{{2,10}}、)+)([\u4e00-\u9fff]{{2,10}}?)({alternation})", text):
        heads = m.group(1).rstrip("、").split("、")
        last = m.group(2)
        if any(h.endswith(NAME_SUFFIXES) for h in heads) or not _NAME_STEM.fullmatch(last):
            continue
        heads[0] = _trim_lead(heads[0], len(last))
        out += [h + m.group(3) for h in heads if _NAME_STEM.fullmatch(h) and not _GENERIC.match(h)]
    return out


# A place name's stem: short, without the particles of a phrase (热带和亚热带地区 is no name).
_NAME_STEM = re.compile(r"[^的和与及或等之在于为]{2,6}")


def _trim_lead(item: str, typical: int) -> str:
    """对航海东路 -> 航海东路: the first item starts after a verb or preposition, where that leaves a
    name about as long as the others."""
    starts, pos = [0], 0
    for w, flag in pseg.cut(item):
        pos += len(w)
        if flag[:1] in ("v", "p", "c", "u", "d") and len(item) - pos >= 2:
            starts.append(pos)
    return item[min(starts, key=lambda s: (abs(len(item) - s - typical), -s)) :]


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


_NAME_FLAGS = {"ns", "nr", "nt", "nrt", "nrfg"}


def question_names(tokenizer: Tokenizer, question: str, words: list[str] | None = None) -> list[str]:
    """Proper names in a question: places, people, organisations (``words``: its words, if already cut)."""
    learned = set(tokenizer.user_words)
    words = tokenizer.words(question) if words is None else words
    names = [w for w, f in pseg.cut(question) if f in _NAME_FLAGS and len(w) >= 2]
    names += [w for w in words if w in learned or (len(w) >= 3 and w.endswith(NAME_SUFFIXES))]
    return list(dict.fromkeys(names))
