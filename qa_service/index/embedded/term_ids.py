"""Index terms as integer ids, worked out for a block of passages at a time.

``Tokenizer.terms`` makes a list of strings per passage (its words, then the bigrams of each run of
ideograph words) that the build then hashed and counted: more time than cutting the text.  The
build needs only each term's id and how often it occurs.  So each cut word becomes, once, an entry
of arrays: its term's id, its own bigrams' ids, and the first and last character that join it to
the words next to it in a run.  A block's passages are then a list of entry numbers, and their
terms are gathered from the arrays with numpy; only the bigrams across two words of a run are
looked up in Python, once per distinct pair in the block.  ``tests/test_tokenize.py`` checks that
every passage gets exactly ``Tokenizer.terms`` of its cut.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any, Protocol

import numpy as np

from qa_service.core.tokenizer import word_terms

# Cut words remembered as entries (and bigrams across joins), per vocabulary.  Past this many, the
# words of a block not yet remembered get entries for that block only.
ENTRIES_MAX = 200_000
_SHIFT = 21  # bits of a code point: a join's two characters packed in one integer


class TermIds:
    """Term ids of one growing vocabulary (``vocab``: term -> id; a new term takes the next id).

    ``bigrams`` must be the tokenizer's: only then are the words' bigrams given ids."""

    def __init__(self, bigrams: bool = True) -> None:
        vocab: defaultdict[str, int] = defaultdict()
        vocab.default_factory = vocab.__len__
        self.vocab = vocab
        self.bigrams = bigrams
        self._entry: dict[str, int] = {}  # cut word -> its entry
        self._kept = array("i")  # entry -> its term's id, or -1
        self._first = array("i")  # entry -> first character of a run word's term, or -1 (ends a run)
        self._last = array("i")  # entry -> its last character (run words)
        self._inner_at = array("q", [0])  # entry -> where its own bigrams' ids start in _inner
        self._inner = array("i")
        self._joins: dict[int, int] = {}  # the two characters of a join, packed -> the bigram's id

    def of_terms(self, terms: Iterable[str]) -> list[int]:
        return list(map(self.vocab.__getitem__, terms))

    def block(self, raws: Sequence[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The term ids of the texts cut as ``raws`` (int32) and the text of each (int64): per text,
        the ids of ``Tokenizer.terms(raw)``, in another order."""
        sizes = np.fromiter(map(len, raws), dtype=np.int64, count=len(raws))
        e = np.array(self._entries(list(chain.from_iterable(raws))), dtype=np.int32)
        texts = np.repeat(np.arange(len(raws), dtype=np.int64), sizes)
        kept = np.frombuffer(self._kept, dtype=np.int32)[e]
        words = kept >= 0
        ids, where = [kept[words]], [texts[words]]
        if self.bigrams:
            self._bigrams(e, texts, ids, where)
        self._forget_block_entries()
        return np.concatenate(ids), np.concatenate(where)

    def _bigrams(self, e: np.ndarray, texts: np.ndarray, ids: list[np.ndarray], where: list[np.ndarray]) -> None:
        """Add each word's own bigrams, then those across each join of two run words."""
        at = np.frombuffer(self._inner_at, dtype=np.int64)
        start = at[e]
        count = at[e + 1] - start
        within = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
        ids.append(np.frombuffer(self._inner, dtype=np.int32)[np.repeat(start, count) + within])
        where.append(np.repeat(texts, count))
        first = np.frombuffer(self._first, dtype=np.int32)[e]
        run = first >= 0
        j = np.flatnonzero(run[1:] & run[:-1] & (texts[1:] == texts[:-1])) + 1
        last = np.frombuffer(self._last, dtype=np.int32)[e[j - 1]].astype(np.int64)
        pairs, which = np.unique((last << _SHIFT) | first[j], return_inverse=True)
        known = self._joins.get
        pair_ids = np.array([i if (i := known(p)) is not None else self._join(p) for p in pairs.tolist()], np.int32)
        ids.append(pair_ids[which.reshape(-1)])
        where.append(texts[j])

    def _entries(self, words: list[str]) -> list[int]:
        """The entry of each word, learning the new ones: all looked up with ``map``, then the few
        not known yet found with ``list.index`` (a loop over the words in Python took 15% more CPU
        on news passages)."""
        out: list[Any] = list(map(self._entry.get, words))
        i = 0
        while True:
            try:
                i = out.index(None, i)
            except ValueError:
                return out
            n = self._entry.get(words[i])  # learned earlier in this block
            out[i] = n if n is not None else self._learn(words[i])

    def _learn(self, w: str) -> int:
        kept, inner = word_terms(w)
        vocab = self.vocab
        n = len(self._kept)
        self._kept.append(-1 if kept is None else vocab[kept])
        if kept is not None and inner is not None and self.bigrams:
            self._first.append(ord(kept[0]))
            self._last.append(ord(kept[-1]))
            self._inner.extend([vocab[g] for g in inner])
        else:
            self._first.append(-1)
            self._last.append(-1)
        self._inner_at.append(len(self._inner))
        if len(self._entry) < ENTRIES_MAX:
            self._entry[w] = n
        return n

    def _join(self, pair: int) -> int:
        i = self.vocab[chr(pair >> _SHIFT) + chr(pair & ((1 << _SHIFT) - 1))]
        if len(self._joins) < ENTRIES_MAX:
            self._joins[pair] = i
        return i

    def _forget_block_entries(self) -> None:
        """Drop the entries of words not remembered (made past ENTRIES_MAX, for one block)."""
        n = len(self._entry)
        if len(self._kept) > n:
            del self._kept[n:], self._first[n:], self._last[n:], self._inner[self._inner_at[n] :]
            del self._inner_at[n + 1 :]


# What the build runs on a block of passages: their index terms as ids of the counter's vocabulary
# with the passage (within the block) of each, and what to store beside each passage (words.py);
# ``term_ids()`` makes the vocabulary it numbers terms in.
class Analyser(Protocol):
    def __call__(self, items: list[Any], ids: TermIds) -> tuple[np.ndarray, np.ndarray, list[bytes]]: ...

    def term_ids(self) -> TermIds: ...


def given_terms(token_lists: list[Sequence[str]], ids: TermIds) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """The (ids, passages, marks) of passages given as their token lists."""
    flat = array("i")
    for tokens in token_lists:
        flat.fromlist(ids.of_terms(tokens))
    sizes = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    where = np.repeat(np.arange(len(token_lists), dtype=np.int64), sizes)
    return np.frombuffer(flat, dtype=np.int32), where, [b""] * len(token_lists)


class Tokens:
    """The analyser of a plain ``tokenize`` function: its terms, nothing stored beside them."""

    def __init__(self, tokenize: Callable[[str], Sequence[str]]) -> None:
        self.tokenize = tokenize

    def __call__(self, texts: list[str], ids: TermIds) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
        return given_terms([self.tokenize(t) for t in texts], ids)

    def term_ids(self) -> TermIds:
        return TermIds()


# The analyser of items that are their token lists already (``list`` returns them as they are).
given_tokens = Tokens(list)
