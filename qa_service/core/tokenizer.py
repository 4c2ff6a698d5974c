"""Chinese tokenization for BM25: jieba words plus character bigrams.

jieba alone splits unknown names (``峡窝镇`` -> ``峡窝 镇``) and misses
partial-word matches; character bigrams over runs of content words catch
those, and a user dictionary learned from the corpus keeps the names of
streets, towns and offices whole.  The tokenizer is an object owned by the
index (not jieba's global), so two indexes with different dictionaries can
live in one process.

The segmenter is ``rjieba`` by default (jieba-rs, a dependency: ~11x faster cut than jieba, ~7x
faster ``tokens``); ``QA_TOKENIZER`` may name ``jieba`` or ``jieba_fast`` (jieba with C inner loops,
~2x; the ``[fast]`` extra) instead.  They take the same user words, but do not always cut alike
(benchmarks/tokenizers.py measures how often, and what it does to retrieval), so an index records
which one built it and is not opened with another.
Part-of-speech tagging (``jieba.posseg``, for answers; its HMM decoded by core/postag.py) stays
jieba whichever segments.
"""

from __future__ import annotations

import importlib
import logging
import marshal
import re
import threading
import warnings
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from functools import partial
from itertools import accumulate
from types import ModuleType
from typing import Any

import jieba

from qa_service.core.errors import ConfigError
from qa_service.core.lexicon import QUESTION_WORDS, STOPWORDS
from qa_service.core.settings import DEFAULT_TOKENIZER, TOKENIZERS
from qa_service.core.text import IDEOGRAPH

log = logging.getLogger(__name__)
jieba.setLogLevel(logging.WARNING)

_WORD = re.compile(r"\w", re.UNICODE)
_IDEO_RUN = re.compile(f"^[{IDEOGRAPH}]+$")

_BASE_LOCK = threading.Lock()
_INSTALL = {
    "rjieba": "pip install rjieba (a dependency of qa-service)",
    "jieba_fast": "pip install 'qa-service[fast]'",
}


def segmenter_module(name: str) -> ModuleType:
    """The package that segments for ``QA_TOKENIZER=name``; ConfigError if unknown or not installed."""
    if name not in TOKENIZERS:
        raise ConfigError(f"QA_TOKENIZER must be one of {', '.join(TOKENIZERS)}, got {name!r}")
    if name == "jieba":
        return jieba
    try:
        with warnings.catch_warnings():  # jieba_fast imports pkg_resources (and falls back without it)
            warnings.simplefilter("ignore")
            module = importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"QA_TOKENIZER={name} needs the {name} package (not installed): {_INSTALL[name]}") from exc
    if name == "jieba_fast":
        module.setLogLevel(logging.WARNING)
    return module


def _add_words(add: Callable[[str, int], Any], suggest: Callable[[str], int], user_words: Iterable[str]) -> None:
    """Question words, then the corpus-learned names, each forced to stay one word."""
    for w in QUESTION_WORDS:
        add(w, 100000)
    for w in user_words:
        add(w, max(suggest(w), 20000))


def _jieba_cut(tok: Any, text: str) -> list[str]:
    return list(tok.cut(text, HMM=True))


# jieba cuts a run of letters, digits and joiners that its dictionary does not know into the pieces
# of finalseg's ``re_skip`` (``2023``, ``-``, ``08``, ...); jieba-rs keeps ``2023-08-16`` or
# ``www.example.com`` whole, which made most news_dev passages cut differently (a date in every
# header).  rjieba's words are split the way jieba splits them (benchmarks/tokenizers.py).
_SKIP = re.compile(r"([a-zA-Z0-9]+(?:\.\d+)?%?)")
_JOINED = re.compile(r"[a-zA-Z0-9][+#&._%\-]")
_HAN = re.compile("[\u4e00-\u9fd5]")
_PIECES: dict[str, tuple[str, ...]] = {}


def _pieces(w: str) -> tuple[str, ...]:
    if _HAN.search(w) or not _JOINED.search(w) or jieba.dt.FREQ.get(w):  # a dictionary word: whole
        out: tuple[str, ...] = (w,)
    else:
        out = tuple(p for p in _SKIP.split(w) if p)
    if len(_PIECES) < _TERMS_MAX:
        _PIECES[w] = out
    return out


def _rjieba_cut(seg: Any, text: str) -> list[str]:
    words = seg.cut(text, True)
    joins = [m.end() - 1 for m in _JOINED.finditer(text)]  # where a joiner follows a letter or digit
    if not joins:
        return words
    # Only a word holding a joiner can split: those are found from the words' ends instead of looking
    # at every word in Python (on 20k generated news passages, half of them with a joiner: 0.65 s
    # of CPU on top of the cut's 2.95 s, against 0.9 s).
    ends = list(accumulate(map(len, words)))
    if not ends or ends[-1] != len(text):  # the words are not the text's characters in order
        return [p for w in words for p in (_PIECES.get(w) or _pieces(w))]
    split: dict[int, tuple[str, ...]] = {}
    for j in joins:
        i = bisect_right(ends, j)
        if i not in split:
            pieces = _PIECES.get(words[i]) or _pieces(words[i])
            split[i] = pieces if len(pieces) > 1 else ()
    out: list[str] = []
    done = 0
    for i in sorted(i for i, pieces in split.items() if pieces):
        out += words[done:i]
        out += split[i]
        done = i + 1
    return words if not done else out + words[done:]


def _make_cutter(name: str, module: ModuleType, user_words: Iterable[str]) -> Callable[[str], list[str]]:
    """A ``text -> words`` function of segmenter ``name`` with ``user_words`` added to its own dictionary.

    jieba's global dictionary is loaded whichever segments: ``jieba.posseg`` (answers, name
    learning) needs it, and a server warming its tokenizer up before forking shares it."""
    _base_dictionary(jieba)  # jieba.dt, for posseg (a no-op once loaded)
    if name == "rjieba":
        seg = module.Jieba()  # jieba-rs: its own copy of the same default dictionary (~0.1 s)
        _add_words(lambda w, f: seg.add_word(w, f, None), seg.suggest_freq, user_words)
        return partial(_rjieba_cut, seg)
    tok = jieba.Tokenizer() if module is jieba else module.Tokenizer()
    _load_dictionary(tok, module)
    _add_words(lambda w, f: tok.add_word(w, freq=f), tok.suggest_freq, user_words)
    return partial(_jieba_cut, tok)


def _base_dictionary(module: ModuleType) -> Any:
    """``module``'s global tokenizer (jieba's or jieba_fast's), its dictionary loaded."""
    with _BASE_LOCK:
        base = module.dt
        if not base.initialized:
            patched = vars(module).get("marshal") is marshal  # jieba's and jieba_fast's module import it
            if patched:
                module.marshal = _WholeFileMarshal
            try:
                base.initialize()
            finally:
                if patched:
                    module.marshal = marshal
    return base


class _WholeFileMarshal:
    """``marshal`` as jieba's ``Tokenizer.initialize`` calls it, but its cache (a 9 MB dict of half a
    million words) read whole before it is decoded: ``marshal.load`` of the open file reads it a few
    bytes at a time through the file object, 1.2-1.5 s here against 0.45 s for the same objects from
    the bytes; a server's start waits for it (docs/performance.md)."""

    dump = staticmethod(marshal.dump)

    @staticmethod
    def load(file: Any) -> Any:
        return marshal.loads(file.read())


def _load_dictionary(tok: Any, module: ModuleType) -> None:
    """Give ``tok`` the default dictionary of ``module`` (jieba or jieba_fast), read from disk once per process.

    jieba's global tokenizer (the one ``jieba.posseg`` uses, for answers and
    name learning) needs the same dictionary: it is loaded first and the
    tokenizer gets a copy of it (a dict copy: ~20 ms instead of ~0.5 s per load).
    Loading it here also means a server that warms its tokenizer up before
    forking workers has ``jieba.posseg`` ready in every worker.  Nothing in this
    project changes jieba's global dictionary; words are added to copies.
    """
    base = _base_dictionary(module)
    if tok.dictionary == base.dictionary and not tok.initialized:
        with tok.lock:
            tok.FREQ, tok.total = dict(base.FREQ), base.total
            tok.initialized = True
    else:
        tok.initialize()


class Tokenizer:
    """Segmenter words (stopwords and punctuation dropped) + bigrams of each run of kept words.

    ``segmenter``: ``rjieba`` (the default), ``jieba`` or ``jieba_fast`` (``QA_TOKENIZER``); an
    unknown or uninstalled one is a ConfigError here, not on the first text."""

    def __init__(
        self, user_words: Iterable[str] = (), bigrams: bool = True, segmenter: str = DEFAULT_TOKENIZER
    ) -> None:
        self.user_words = sorted(set(user_words))
        self.bigrams = bigrams
        self.segmenter = segmenter
        self._module = segmenter_module(segmenter)
        self._cut: Callable[[str], list[str]] | None = None
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple:
        # Pickled (to a worker process) as its recipe: the copy loads its own
        # dictionary with the same user words, so it cuts text exactly the same way.
        return (Tokenizer, (self.user_words, self.bigrams, self.segmenter))

    def _ensure_ready(self) -> Callable[[str], list[str]]:
        # jieba loads its 5 MB dictionary lazily and is not safe to initialise
        # from two threads at once.
        if self._cut is None:
            with self._lock:
                if self._cut is None:
                    self._cut = _make_cutter(self.segmenter, self._module, self.user_words)
        return self._cut

    def cut(self, text: str) -> list[str]:
        """Raw segmentation, stopwords and punctuation included."""
        return self._ensure_ready()(text)

    def words(self, text: str) -> list[str]:
        """jieba words, lower-cased, without stopwords, whitespace or punctuation."""
        return _words(self.cut(text))

    def tokens(self, text: str) -> list[str]:
        """Index terms of a text: its words, then the bigrams of each run of ideograph words."""
        return self.terms(self.cut(text))

    def analyse(self, text: str) -> Analysis:
        """``cut``, ``words`` and ``tokens`` of a text from one segmentation (a question is cut once)."""
        return self.analysis(self.cut(text))

    def analysis(self, raw: list[str], drop: Collection[str] = ()) -> Analysis:
        """``words`` and ``tokens`` of a text's ``cut``; ``drop``: words of the cut left out of them,
        as stopwords are (a question's question words), which ``cut`` keeps."""
        kept = [("" if w in drop else w) for w in raw] if drop else raw
        return Analysis(raw, _words(kept), self.terms(kept))

    def terms(self, raw: list[str]) -> list[str]:
        """The index terms of a text from its ``cut``."""
        words: list[str] = []
        grams: list[str] = []
        prev = ""  # the previous word when it is all ideographs: the run goes on
        for w in raw:
            kept, inner = _TERMS.get(w) or _term(w)
            if kept is not None:
                words.append(kept)
            if inner is None:
                prev = ""
                continue
            # The bigrams of a run of words joined: each word's own, and one across each join.
            if prev:
                grams.append(prev[-1] + kept[0])
            grams.extend(inner)
            prev = kept
        return words + grams if self.bigrams else words


@dataclass(frozen=True)
class Analysis:
    """One segmentation of a text, in the three forms the stages read."""

    cut: list[str]  # raw jieba words, stopwords and punctuation included
    words: list[str]  # lower-cased content words
    tokens: list[str]  # index terms: words, then bigrams of ideograph runs


# What each cut word becomes, remembered per process (words repeat, and the pass that turns words
# into terms took longer than rjieba's whole cut).  Bounded: past the limit, words are worked out each time.
_TERMS: dict[str, tuple[str | None, tuple[str, ...] | None]] = {}
_TERMS_MAX = 200_000


def _term(w: str) -> tuple[str | None, tuple[str, ...] | None]:
    """The content word ``w`` gives (lower-cased; None for a stopword, whitespace or punctuation),
    and, if it is all ideographs (bigrams are taken over runs of those), its own bigrams."""
    x = w.strip().lower()
    keep = bool(x) and x not in STOPWORDS and bool(_WORD.search(x))
    out = (x if keep else None, tuple(_bigrams(x)) if keep and _IDEO_RUN.match(x) else None)
    if len(_TERMS) < _TERMS_MAX:
        _TERMS[w] = out
    return out


def word_terms(w: str) -> tuple[str | None, tuple[str, ...] | None]:
    """What ``terms`` makes of the cut word ``w``: its term (None for a stopword, whitespace or
    punctuation) and, if it is all ideographs (and so goes on a run), its own bigrams (else None)."""
    return _TERMS.get(w) or _term(w)


def _words(raw: list[str]) -> list[str]:
    out = []
    for w in raw:
        kept = (_TERMS.get(w) or _term(w))[0]
        if kept is not None:
            out.append(kept)
    return out


def _bigrams(s: str) -> list[str]:
    return [s[i : i + 2] for i in range(len(s) - 1)]
