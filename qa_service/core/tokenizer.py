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
from collections.abc import Iterable
from dataclasses import dataclass

import jieba

from qa_service.core.lexicon import QUESTION_WORDS, STOPWORDS
from qa_service.core.text import IDEOGRAPH

log = logging.getLogger(__name__)
jieba.setLogLevel(logging.WARNING)

_WORD = re.compile(r"\w", re.UNICODE)
_IDEO_RUN = re.compile(f"^[{IDEOGRAPH}]+$")

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
        return _words(self.cut(text))

    def tokens(self, text: str) -> list[str]:
        """Index terms of a text: its words, then the bigrams of each run of ideograph words."""
        return self._tokens(self.cut(text))

    def analyse(self, text: str) -> Analysis:
        """``cut``, ``words`` and ``tokens`` of a text from one segmentation (a question is cut once)."""
        raw = self.cut(text)
        return Analysis(raw, _words(raw), self._tokens(raw))

    def _tokens(self, raw: list[str]) -> list[str]:
        words: list[str] = []
        grams: list[str] = []
        run: list[str] = []
        for w in raw:
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


@dataclass(frozen=True)
class Analysis:
    """One segmentation of a text, in the three forms the stages read."""

    cut: list[str]  # raw jieba words, stopwords and punctuation included
    words: list[str]  # lower-cased content words
    tokens: list[str]  # index terms: words, then bigrams of ideograph runs


def _words(raw: list[str]) -> list[str]:
    out = []
    for w in raw:
        w = w.strip().lower()
        if w and w not in STOPWORDS and _WORD.search(w):
            out.append(w)
    return out


def _bigrams(s: str) -> list[str]:
    return [s[i : i + 2] for i in range(len(s) - 1)]
