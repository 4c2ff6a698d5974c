"""Chinese tokenization for BM25: jieba words plus character bigrams.

jieba alone splits unknown names (``峡窝镇`` -> ``峡窝 镇``) and misses
partial-word matches; character bigrams over runs of content words catch
those, and a user dictionary learned from the corpus keeps the names of
streets, towns and offices whole.  The tokenizer is an object owned by the
index (not jieba's global), so two indexes with different dictionaries can
live in one process.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable

import jieba
import jieba.posseg as pseg

from qa_service.core.models import Article
from qa_service.core.text import ATTRIBUTION_TAIL, IDEOGRAPH

log = logging.getLogger(__name__)
jieba.setLogLevel(logging.WARNING)

# Function words and question words: they carry no topic, and in a question they
# would otherwise pull in every passage that happens to use them.
STOPWORDS = frozenset(
    [
        "的",
        "了",
        "和",
        "与",
        "及",
        "或",
        "是",
        "在",
        "有",
        "对",
        "为",
        "将",
        "把",
        "被",
        "也",
        "都",
        "而",
        "并",
        "之",
        "其",
        "这",
        "那",
        "该",
        "此",
        "以",
        "于",
        "从",
        "向",
        "等",
        "中",
        "上",
        "下",
        "个",
        "就",
        "又",
        "还",
        "让",
        "使",
        "由",
        "着",
        "过",
        "把",
        "给",
        "跟",
        "同",
        "地",
        "得",
        "所",
        "们",
        "我",
        "你",
        "他",
        "她",
        "它",
        "我们",
        "你们",
        "他们",
        "她们",
        "一个",
        "一些",
        "这个",
        "那个",
        "这些",
        "那些",
        "以及",
        "并且",
        "而且",
        "但是",
        "因为",
        "所以",
        "如果",
        "虽然",
        "还是",
        "或者",
        "什么",
        "怎么",
        "怎样",
        "怎么样",
        "如何",
        "为何",
        "为什么",
        "哪",
        "哪些",
        "哪个",
        "哪里",
        "哪儿",
        "哪几个",
        "哪几",
        "哪位",
        "哪一个",
        "哪天",
        "几",
        "多少",
        "谁",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "么",
        "请问",
        "请",
        "一下",
        "是否",
        "是不是",
        "有没有",
        "多久",
        "何时",
        "什么时候",
        "哪一年",
        "几月",
        "几日",
        "几号",
        "一共",
        "总共",
        "分别",
        "具体",
        "主要",
        "有关",
        "关于",
        "相关",
        "据",
        "曾",
        "已",
        "要",
        "会",
        "能",
        "可以",
        "进行",
    ]
)

# Segmented whole so that 是哪天开的 does not become 是/哪/天开/的.
QUESTION_WORDS = (
    "哪天",
    "哪位",
    "哪些",
    "哪个",
    "哪里",
    "哪儿",
    "哪年",
    "哪一天",
    "哪一年",
    "哪几",
    "哪几个",
    "哪几位",
    "什么时候",
    "多少",
    "多长",
    "多久",
    "为什么",
    "怎么样",
)

_WORD = re.compile(r"\w", re.UNICODE)
_IDEO_RUN = re.compile(f"^[{IDEOGRAPH}]+$")

# Suffixes of the organisation and place names worth keeping whole.
NAME_SUFFIXES = (
    "街道",
    "办事处",
    "社区",
    "镇",
    "乡",
    "村",
    "县",
    "区",
    "市",
    "局",
    "委",
    "办",
    "院",
    "所",
    "中心",
    "公司",
    "集团",
    "管委会",
    "委员会",
    "联",
    "协",
    "队",
    "站",
    "厂",
    "园",
)
_NAME_IN_TEXT = re.compile(
    rf"(?:^|(?<=[\s，。、；：“”（）《》,;:()\"到在对由和与及为向从赴至了]))([{IDEOGRAPH}]{{2,6}}?(?:街道|镇|乡))"
)
_BAD_NAME_START = re.compile(r"^(?:各|本|该|全|两|多|每|辖区|乡镇|城镇|村镇|街道)")


def _looks_like_name(candidate: str) -> bool:
    """Reject phrases such as 建立并完善街道: a name has no verb, adverb or conjunction in it."""
    return not any(flag[:1] in _NOT_IN_NAMES for _, flag in pseg.cut(candidate, HMM=False))


_NOT_IN_NAMES = {"v", "d", "c", "p", "u", "r", "m"}


def learn_names(articles: Iterable[Article]) -> list[str]:
    """Names to keep whole: attributions like （区人社局）, and 某某街道/镇/乡 seen in the text."""
    names: Counter[str] = Counter()
    for a in articles:
        if a.attribution and re.fullmatch(f"[{IDEOGRAPH}]{{2,14}}", a.attribution):
            names[a.attribution] += 2
        for text in (a.title, a.body.text):
            for m in ATTRIBUTION_TAIL.finditer(text):
                if re.fullmatch(f"[{IDEOGRAPH}]{{2,14}}", m.group(1)) and m.group(1).endswith(NAME_SUFFIXES):
                    names[m.group(1)] += 2
            for m in _NAME_IN_TEXT.finditer(text):
                name = m.group(1)
                if not _BAD_NAME_START.match(name):
                    names[name] += 1
    return sorted(n for n, c in names.items() if c >= 2 or _looks_like_name(n))


_BASE_LOCK = threading.Lock()


def _load_dictionary(tok: jieba.Tokenizer) -> None:
    """Give ``tok`` jieba's default dictionary, reading it from disk once per process.

    jieba's global tokenizer (the one ``jieba.posseg`` uses, for answers and
    name learning) needs the same dictionary: it is loaded first and the
    tokenizer gets a copy of it (a dict copy: ~20 ms instead of ~0.5 s per load).
    Loading it here also means a server that warms its tokenizer up before
    forking workers has ``jieba.posseg`` ready in every worker.  Nothing in this
    project changes jieba's global dictionary; words are added to copies.
    """
    with _BASE_LOCK:
        base = jieba.dt
        if not base.initialized:
            base.initialize()
    if tok.dictionary == base.dictionary and not tok.initialized:
        with tok.lock:
            tok.FREQ, tok.total = dict(base.FREQ), base.total
            tok.initialized = True
    else:
        tok.initialize()


class Tokenizer:
    """jieba words (stopwords and punctuation dropped) + bigrams of each run of kept words."""

    def __init__(self, user_words: Iterable[str] = (), bigrams: bool = True) -> None:
        self.user_words = sorted(set(user_words))
        self.bigrams = bigrams
        self._jieba = jieba.Tokenizer()
        self._lock = threading.Lock()
        self._ready = False

    def __reduce__(self) -> tuple:
        # Pickled (to a worker process) as its recipe: the copy loads its own jieba
        # dictionary with the same user words, so it cuts text exactly the same way.
        return (Tokenizer, (self.user_words, self.bigrams))

    def _ensure_ready(self) -> None:
        # jieba loads its 5 MB dictionary lazily and is not safe to initialise
        # from two threads at once.
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                _load_dictionary(self._jieba)
                for w in QUESTION_WORDS:
                    self._jieba.add_word(w, freq=100000)
                for w in self.user_words:
                    self._jieba.add_word(w, freq=max(self._jieba.suggest_freq(w), 20000))
                self._ready = True

    def cut(self, text: str) -> list[str]:
        """Raw jieba segmentation, stopwords and punctuation included."""
        self._ensure_ready()
        return list(self._jieba.cut(text, HMM=True))

    def words(self, text: str) -> list[str]:
        """jieba words, lower-cased, without stopwords, whitespace or punctuation."""
        self._ensure_ready()
        out = []
        for w in self._jieba.cut(text, HMM=True):
            w = w.strip().lower()
            if w and w not in STOPWORDS and _WORD.search(w):
                out.append(w)
        return out

    def tokens(self, text: str) -> list[str]:
        """Index terms of a text: its words, then the bigrams of each run of ideograph words."""
        self._ensure_ready()
        words: list[str] = []
        grams: list[str] = []
        run: list[str] = []
        for w in self._jieba.cut(text, HMM=True):
            w = w.strip().lower()
            keep = bool(w) and w not in STOPWORDS and bool(_WORD.search(w))
            if keep:
                words.append(w)
            if keep and _IDEO_RUN.match(w):
                run.append(w)
                continue
            if run:
                grams.extend(_bigrams("".join(run)))
                run = []
        if run:
            grams.extend(_bigrams("".join(run)))
        return words + grams if self.bigrams else words


def _bigrams(s: str) -> list[str]:
    return [s[i : i + 2] for i in range(len(s) - 1)]
