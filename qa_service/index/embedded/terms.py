"""Term lookup for the BM25 index: a sorted array of 64-bit term hashes instead of a dict.

The term id is the position of the term's hash; the UTF-8 bytes of every term
are kept to confirm a match exactly.  Saved and memory-mapped, a table of
millions of terms opens in milliseconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np

from qa_service.core.kept import Kept


def _digest(term: bytes, salt: bytes) -> bytes:
    return hashlib.blake2b(term, digest_size=8, salt=salt).digest()


def _hashes(terms: Sequence[bytes], salt: bytes) -> np.ndarray:
    blake2b = hashlib.blake2b
    if salt:
        digests = [blake2b(t, digest_size=8, salt=salt).digest() for t in terms]
    else:
        digests = [blake2b(t, digest_size=8).digest() for t in terms]
    return np.frombuffer(b"".join(digests), dtype="<u8")


def term_hashes(terms: Sequence[bytes], salt: int = 0) -> np.ndarray:
    """The hashes a TermTable with ``salt`` keeps of UTF-8 ``terms`` (uint64)."""
    return _hashes(terms, _salt(salt))


def _salt(n: int) -> bytes:
    return b"" if n == 0 else n.to_bytes(4, "little")


# How many of ``TermTable.get``'s answers are kept (emptied when full).
TERMS_KEPT = 65536


class TermTable:
    """Term -> id without a dict: sorted 64-bit hashes, id = position, bytes to confirm.

    ``hashes`` are blake2b digests of the UTF-8 term (salted only if the first
    salt collided, which the build detects); ``blob[offsets[i]:offsets[i+1]]``
    is term i.  Mapping-like: ``get``, ``in``, ``[]``, ``len``, ``items()``.
    """

    def __init__(self, hashes: np.ndarray, blob: np.ndarray | bytes, offsets: np.ndarray, salt: int = 0) -> None:
        self.hashes = hashes  # uint64, strictly increasing
        self.blob = blob if isinstance(blob, np.ndarray) else np.frombuffer(blob, dtype=np.uint8)
        self._view = memoryview(self.blob) if len(self.blob) else memoryview(b"")
        self.offsets = offsets  # int64, len n + 1
        self.salt = salt
        self._salt = _salt(salt)
        self._known: Kept[str, int] = Kept(TERMS_KEPT)  # ``get``'s answers (-1: absent); the table never changes

    @classmethod
    def from_terms(cls, terms: Sequence[str]) -> tuple[TermTable, np.ndarray]:
        """A table of ``terms`` (distinct) and, for each, its id in the table."""
        enc = [t.encode("utf-8") for t in terms]
        for salt in range(1000):
            h = _hashes(enc, _salt(salt))
            order = np.argsort(h, kind="stable")
            hs = h[order]
            if len(hs) < 2 or bool(np.all(hs[1:] != hs[:-1])):
                break
        else:  # pragma: no cover - 1000 collisions of 64-bit hashes in a row
            raise RuntimeError("no collision-free term hash found")
        lens = np.fromiter((len(enc[i]) for i in order), dtype=np.int64, count=len(enc))
        offsets = np.zeros(len(enc) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        blob = b"".join(enc[i] for i in order)
        ids = np.empty(len(enc), dtype=np.int64)
        ids[order] = np.arange(len(enc))
        return cls(hs, blob, offsets, salt), ids

    def __len__(self) -> int:
        return len(self.hashes)

    def lookup(self, terms: Sequence[str]) -> np.ndarray:
        """Id of each term, -1 where the table does not hold it."""
        if not terms or len(self.hashes) == 0:
            return np.full(len(terms), -1, dtype=np.int64)
        enc = [t.encode("utf-8") for t in terms]
        return self.lookup_hashed(enc, _hashes(enc, self._salt))

    def hash_terms(self, terms: Sequence[str]) -> tuple[list[bytes], np.ndarray]:
        """The terms' UTF-8 bytes and hashes as this table salts them, for ``lookup_hashed``: tables
        with the same ``salt`` (the segments of an index, nearly always) share one hashing."""
        enc = [t.encode("utf-8") for t in terms]
        return enc, _hashes(enc, self._salt)

    def lookup_hashed(self, enc: Sequence[bytes], h: np.ndarray) -> np.ndarray:
        """``lookup`` of terms already hashed with this table's salt (``hash_terms``)."""
        n = len(self.hashes)
        if not len(enc) or n == 0:
            return np.full(len(enc), -1, dtype=np.int64)
        pos = np.searchsorted(self.hashes, h)
        pos[pos >= n] = n - 1
        found = self.hashes[pos] == h
        out = np.where(found, pos, -1)
        if found.any():
            js = np.flatnonzero(found)
            hit = pos[js]
            view = self._view
            for j, a, b in zip(js.tolist(), self.offsets[hit].tolist(), self.offsets[hit + 1].tolist(), strict=True):
                if view[a:b] != enc[j]:
                    out[j] = -1
        return out

    def get(self, term: str, default: int | None = None) -> int | None:
        # One term at a time is how answers weigh a question's words (a hash, a search and a compare
        # of numpy scalars each): the words of questions repeat, so their ids are kept.
        i = self._known.get(term)
        if i is None:
            i = self._known.keep(term, int(self.lookup([term])[0]))
        return default if i < 0 else i

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.get(term) is not None

    def __getitem__(self, term: str) -> int:
        i = self.get(term)
        if i is None:
            raise KeyError(term)
        return i

    def term(self, i: int) -> str:
        return bytes(self._view[int(self.offsets[i]) : int(self.offsets[i + 1])]).decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        return (self.term(i) for i in range(len(self)))

    def keys(self) -> Iterator[str]:
        return iter(self)

    def items(self) -> Iterator[tuple[str, int]]:
        return ((self.term(i), i) for i in range(len(self)))


class _DictTerms:
    """A plain ``{term: id}`` dict behind the TermTable interface (indexes saved before TermTable)."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab

    def __len__(self) -> int:
        return len(self.vocab)

    def lookup(self, terms: Sequence[str]) -> np.ndarray:
        get = self.vocab.get
        return np.fromiter((get(t, -1) for t in terms), dtype=np.int64, count=len(terms))

    def get(self, term: str, default: int | None = None) -> int | None:
        return self.vocab.get(term, default)

    def __contains__(self, term: object) -> bool:
        return term in self.vocab

    def __getitem__(self, term: str) -> int:
        return self.vocab[term]

    def __iter__(self) -> Iterator[str]:
        return iter(self.vocab)

    def keys(self) -> Iterator[str]:
        return iter(self.vocab)

    def items(self) -> Iterator[tuple[str, int]]:
        return iter(self.vocab.items())
