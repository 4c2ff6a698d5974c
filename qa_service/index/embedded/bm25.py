"""Okapi BM25 as a sparse term x passage matrix of precomputed weights.

Scoring a query adds up the postings (passage, weight) of its terms with one
``np.bincount``: no Python loop over passages, so a query costs time in
proportion to the postings it touches (rank-bm25's ``get_scores`` loops over
every passage for every term).  The best k passages are then picked among the
few whose score reaches a threshold found from the passages of the query's
rarest term, instead of partitioning every passage's score.

The formula and defaults are rank-bm25's ``BM25Okapi`` (k1=1.5, b=0.75,
epsilon=0.25: a negative idf is replaced by epsilon x the mean idf), so the two
give the same scores for the same tokens; the tests check that.  One documented
difference: an idf that is still zero or negative after that (rank-bm25 leaves it
so, and a one-passage corpus then scores nothing) is raised to ``MIN_IDF``.

Building scales to millions of passages: tokens are counted chunk by chunk
(in worker processes with ``build_from_texts``), the postings of each chunk are
grouped by term and scattered straight into their place in the final arrays;
nothing sorts all postings at once and no Python object per posting survives a
chunk.

Terms are looked up in a :class:`TermTable`, not a dict: a sorted array of
64-bit term hashes (the term id is the position) plus the UTF-8 bytes of every
term, to confirm a match exactly.  Saved with :meth:`BM25.save` and memory-mapped
by :meth:`BM25.load`, an index of millions of terms opens in milliseconds and
costs resident memory only for the pages that queries touch.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import multiprocessing as mp
import os
import weakref
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "bm25-csr-1"
META_FILE = "bm25.json"
POSTINGS_FILE = "bm25_postings.bin"
# Postings files up to this size are memory-mapped by default; larger ones are read per query term.
AUTO_MMAP_BYTES = 256 << 20
# Passages per unit of work when building: each becomes one grouped block of postings.
CHUNK = 2048
# Below this many passages a build stays in the calling process (a worker costs ~0.1 s to start).
PARALLEL_MIN = 8192


# The idf a term gets when the Okapi formula leaves it at or below zero (see above).
MIN_IDF = 1e-3


def max_idf(n_docs: int) -> float:
    """The idf of a term in one of ``n_docs`` passages: what an unseen term would at least weigh."""
    return float(np.log(n_docs + 0.5) - np.log(1.5)) if n_docs else 0.0


@dataclass(frozen=True)
class BM25Params:
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


# -- term lookup ------------------------------------------------------------


def _digest(term: bytes, salt: bytes) -> bytes:
    return hashlib.blake2b(term, digest_size=8, salt=salt).digest()


def _hashes(terms: Sequence[bytes], salt: bytes) -> np.ndarray:
    blake2b = hashlib.blake2b
    if salt:
        digests = [blake2b(t, digest_size=8, salt=salt).digest() for t in terms]
    else:
        digests = [blake2b(t, digest_size=8).digest() for t in terms]
    return np.frombuffer(b"".join(digests), dtype="<u8")


def _salt(n: int) -> bytes:
    return b"" if n == 0 else n.to_bytes(4, "little")


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
        n = len(self.hashes)
        if not terms or n == 0:
            return np.full(len(terms), -1, dtype=np.int64)
        enc = [t.encode("utf-8") for t in terms]
        h = _hashes(enc, self._salt)
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
        i = int(self.lookup([term])[0])
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


# -- counting (in the calling process or in workers) -------------------------


@dataclass
class _Block:
    """The postings of one chunk of consecutive passages, grouped by term."""

    source: int  # which counter's local term ids these are
    first_term: int  # local id of new_terms[0]
    new_terms: list[bytes]  # terms this counter had not seen before, in local id order
    lengths: np.ndarray  # int32 tokens per passage
    terms: np.ndarray  # int32 local ids of the distinct terms of the block
    counts: np.ndarray  # int32 passages of the block holding each
    docs: np.ndarray  # uint16 passage (within the block) of each posting, grouped by term
    tf: np.ndarray  # uint16 or int32 term frequency of each posting


class _Counter:
    """Counts a stream of token lists chunk by chunk; its term ids persist across chunks."""

    def __init__(self, source: int = 0) -> None:
        self.source = source
        vocab: defaultdict[str, int] = defaultdict()
        vocab.default_factory = vocab.__len__  # a new term gets the next id
        self.vocab = vocab

    def count(self, docs_tokens: Iterable[Sequence[str]]) -> _Block:
        vocab = self.vocab
        before = len(vocab)
        get = vocab.__getitem__
        tids = array("i")
        tfs = array("i")
        nnz = array("i")
        lens = array("i")
        for tokens in docs_tokens:
            c = Counter(tokens)
            tids.fromlist(list(map(get, c)))
            tfs.fromlist(list(c.values()))
            nnz.append(len(c))
            lens.append(len(tokens))
        n = len(lens)
        if n > 65535:
            raise ValueError("a block holds at most 65535 passages")
        new = [t.encode("utf-8") for t in islice(reversed(vocab), len(vocab) - before)][::-1]
        t = np.frombuffer(tids, dtype=np.int32).astype(np.int64)
        d = np.repeat(np.arange(n, dtype=np.int64), np.frombuffer(nnz, dtype=np.int32))
        tf = np.frombuffer(tfs, dtype=np.int32)
        if len(tf) and int(tf.max()) < 65536:
            # One sort of packed (term, passage, tf) keys groups the postings by term,
            # passages ascending: several times faster than a stable argsort.
            key = (t << 32) | (d << 16) | tf
            key.sort()
            t = key >> 32
            docs = ((key >> 16) & 0xFFFF).astype(np.uint16)
            tf = (key & 0xFFFF).astype(np.uint16)
        else:
            order = np.argsort(t, kind="stable")
            t, docs, tf = t[order], d[order].astype(np.uint16), tf[order]
        if len(t):
            starts = np.flatnonzero(np.concatenate(([True], t[1:] != t[:-1])))
            terms = t[starts]
            counts = np.diff(np.append(starts, len(t)))
        else:
            terms = counts = np.zeros(0, dtype=np.int64)
        return _Block(
            self.source,
            before,
            new,
            np.frombuffer(lens, dtype=np.int32).copy(),
            terms.astype(np.int32),
            counts.astype(np.int32),
            docs,
            tf,
        )


_WORKER: dict[str, Any] = {}


def _worker_init(tokenize: Callable[[str], list[str]]) -> None:
    _WORKER["tokenize"] = tokenize
    _WORKER["counter"] = _Counter(os.getpid())


def _worker_count(texts: list[str]) -> _Block:
    tokenize = _WORKER["tokenize"]
    return _WORKER["counter"].count([tokenize(t) for t in texts])


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# -- the index ----------------------------------------------------------------


class BM25:
    def __init__(
        self,
        vocab: TermTable | dict[str, int],
        indptr: np.ndarray,
        indices: np.ndarray,
        weights: np.ndarray,
        n_docs: int,
        params: BM25Params = BM25Params(),
        idf: np.ndarray | None = None,
    ) -> None:
        self.vocab: TermTable | _DictTerms = _DictTerms(vocab) if isinstance(vocab, dict) else vocab
        self.idf = idf if idf is not None else np.zeros(len(self.vocab), dtype=np.float32)
        self.indptr = indptr  # int64, len(vocab) + 1: row t holds the postings of term t
        self.indices = indices  # int32 passage ids, ascending within a row
        self.weights = weights  # float32 BM25 weight of (term, passage)
        self.n_docs = n_docs
        self.params = params
        self.postings_mode = "memory"
        self._source: Path | None = None  # the postings file this index was loaded from
        self._postings: Callable[[int, int], tuple[np.ndarray, np.ndarray]] = self._postings_from_arrays

    def _postings_from_arrays(self, s: int, e: int) -> tuple[np.ndarray, np.ndarray]:
        return self.indices[s:e], self.weights[s:e]

    # -- building ---------------------------------------------------------
    @classmethod
    def build(
        cls,
        docs_tokens: Iterable[Sequence[str]],
        params: BM25Params = BM25Params(),
        on_progress: Callable[[int], None] | None = None,
    ) -> BM25:
        """The index of token lists, counted here (see ``build_from_texts`` for worker processes)."""
        counter = _Counter()
        blocks = []
        for chunk in _chunks(docs_tokens, CHUNK):
            blocks.append(counter.count(chunk))
            if on_progress:
                on_progress(len(chunk))
        return cls._from_blocks(blocks, params)

    @classmethod
    def build_from_texts(
        cls,
        texts: Iterable[str],
        tokenize: Callable[[str], list[str]],
        params: BM25Params = BM25Params(),
        workers: int | None = None,
        total: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> BM25:
        """Tokenize and count ``texts`` in ``workers`` processes (default: one per core), then merge.

        ``tokenize`` must be picklable (a :class:`~qa_service.core.tokenizer.Tokenizer`'s
        ``tokens`` method is: each worker gets its own tokenizer with the same user
        words).  Small corpora (< PARALLEL_MIN passages) are done in this process.
        The result is identical to ``build(tokenize(t) for t in texts)``.
        """
        workers = default_workers() if workers is None else workers
        it = iter(texts)
        if total is None:
            head = list(islice(it, PARALLEL_MIN))
            total = len(head) if len(head) < PARALLEL_MIN else None
            it = _chain(head, it)
        if workers <= 1 or (total is not None and total < PARALLEL_MIN):
            return cls.build((tokenize(t) for t in it), params, on_progress)
        methods = mp.get_all_start_methods()
        ctx = mp.get_context("fork" if "fork" in methods else "spawn")
        blocks = []
        with ctx.Pool(workers, initializer=_worker_init, initargs=(tokenize,)) as pool:
            for block in pool.imap(_worker_count, _chunks(it, CHUNK)):
                blocks.append(block)
                if on_progress:
                    on_progress(len(block.lengths))
        return cls._from_blocks(blocks, params)

    @classmethod
    def _from_blocks(cls, blocks: list[_Block], params: BM25Params) -> BM25:
        # Each counter's terms -> global ids (the order of the terms' hashes).
        sources: dict[int, list[_Block]] = {}
        for b in blocks:
            sources.setdefault(b.source, []).append(b)
        local_terms: dict[int, list[bytes]] = {}
        for s, bs in sources.items():
            terms: list[bytes] = []
            for b in sorted(bs, key=lambda b: b.first_term):
                if b.new_terms:
                    if b.first_term != len(terms):
                        raise RuntimeError("term blocks arrived out of order")
                    terms.extend(b.new_terms)
            local_terms[s] = terms
        order = list(local_terms)
        all_terms = [t for s in order for t in local_terms[s]]
        table, ids = _table_from_bytes(all_terms)
        gmap: dict[int, np.ndarray] = {}
        pos = 0
        for s in order:
            gmap[s] = ids[pos : pos + len(local_terms[s])]
            pos += len(local_terms[s])
        del all_terms, local_terms

        n_terms = len(table)
        n_docs = sum(len(b.lengths) for b in blocks)
        if n_docs == 0:
            return cls(table, np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), 0, params)
        doc_len = np.concatenate([b.lengths for b in blocks]).astype(np.float64)
        avgdl = doc_len.mean() if doc_len.sum() else 1.0
        df_int = np.bincount(
            np.concatenate([gmap[b.source][b.terms] for b in blocks]),
            weights=np.concatenate([b.counts for b in blocks]),
            minlength=n_terms,
        ).astype(np.int64)
        df = df_int.astype(np.float64)
        idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        if len(idf):
            idf[idf < 0] = params.epsilon * (math.fsum(idf.tolist()) / len(idf))
            # Our one departure from rank-bm25: an idf that is still not positive (a term in
            # at least half the passages of a corpus of one or a few passages, where even the
            # mean idf is negative) would make such a corpus unsearchable; it counts a little.
            idf[idf <= 0] = MIN_IDF
        norm = params.k1 * (1 - params.b + params.b * doc_len / avgdl)

        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df_int, out=indptr[1:])
        total = int(indptr[-1])
        indices = np.empty(total, dtype=np.int32)
        weights = np.empty(total, dtype=np.float32)
        cursor = indptr[:-1].copy()
        base = 0
        k1p1 = params.k1 + 1
        for b in blocks:
            g = gmap[b.source][b.terms]
            counts = b.counts.astype(np.int64)
            seg = np.zeros(len(counts), dtype=np.int64)
            np.cumsum(counts[:-1], out=seg[1:])
            dest = np.repeat(cursor[g] - seg, counts) + np.arange(len(b.docs), dtype=np.int64)
            cursor[g] += counts
            d = b.docs.astype(np.int64) + base
            indices[dest] = d
            tf = b.tf
            weights[dest] = (np.repeat(idf[g], counts) * tf * k1p1 / (tf + norm[d])).astype(np.float32)
            base += len(b.lengths)
        return cls(table, indptr, indices, weights, n_docs, params, idf.astype(np.float32))

    # -- persistence --------------------------------------------------------
    def save(self, directory: str | Path) -> dict[str, dict[str, Any]]:
        """Write the index as files in ``directory``; returns ``{file: {"bytes", "sha256"}}``.

        Files: ``bm25.json`` (counts, parameters, format), the term table
        (``bm25_term_hashes.npy``, ``bm25_term_offsets.npy``, ``bm25_terms.bin``),
        ``bm25_idf.npy``, ``bm25_indptr.npy`` and ``bm25_postings.bin``: for each
        term in turn its passage ids (int32) then their weights (float32), so one
        read fetches a term's postings.  Every file is fsynced; the caller fsyncs
        the directory and records the checksums (the ``files`` of a manifest).
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        table = self.vocab
        if not isinstance(table, TermTable):
            raise TypeError("only an index with a TermTable (built by BM25.build or loaded by BM25.load) can be saved")
        files: dict[str, dict[str, Any]] = {}
        arrays = {
            "bm25_term_hashes.npy": table.hashes,
            "bm25_term_offsets.npy": table.offsets,
            "bm25_idf.npy": self.idf,
            "bm25_indptr.npy": self.indptr,
        }
        for name, arr in arrays.items():
            files[name] = _write(d / name, lambda f, arr=arr: np.save(f, np.ascontiguousarray(arr), allow_pickle=False))
        files["bm25_terms.bin"] = _write(d / "bm25_terms.bin", lambda f: f.write(memoryview(table.blob)))
        if self._source is None:
            files[POSTINGS_FILE] = _write(d / POSTINGS_FILE, self._write_postings)
        else:  # loaded from disk: the file is already in its final layout
            files[POSTINGS_FILE] = _write(d / POSTINGS_FILE, partial(_copy_file, self._source))
        meta = {
            "format": FORMAT,
            "n_docs": self.n_docs,
            "n_terms": len(table),
            "postings": int(self.indptr[-1]),
            "params": self.params.to_dict(),
            "term_hash": "blake2b-64",
            "term_salt": table.salt,
        }
        files[META_FILE] = _write(d / META_FILE, lambda f: f.write(json.dumps(meta, indent=1).encode()))
        return files

    def _write_postings(self, f: Any) -> None:
        """Interleave the rows: term t's ids, then its weights, at byte 8 * indptr[t]."""
        indptr = np.asarray(self.indptr)
        n_terms = len(indptr) - 1
        t0 = 0
        while t0 < n_terms:
            # About 8M postings (64 MB) per step.
            t1 = min(n_terms, max(t0 + 1, int(np.searchsorted(indptr, indptr[t0] + (1 << 23), "right")) - 1))
            s0, s1 = int(indptr[t0]), int(indptr[t1])
            lens = np.diff(indptr[t0 : t1 + 1])
            out = np.empty(2 * (s1 - s0), dtype=np.uint32)
            j = np.arange(s0, s1, dtype=np.int64)
            starts = np.repeat(indptr[t0:t1], lens)
            ends = np.repeat(indptr[t0 + 1 : t1 + 1], lens)
            out[starts + j - 2 * s0] = self.indices[s0:s1].view(np.uint32)
            out[ends + j - 2 * s0] = self.weights[s0:s1].view(np.uint32)
            f.write(memoryview(out).cast("B"))
            t0 = t1

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True, postings: str = "auto") -> BM25:
        """Open an index written by :meth:`save`.

        With ``mmap`` the term table, idf and row pointers are memory-mapped
        (paged in as used).  ``postings``: ``"mmap"`` maps the postings too;
        ``"read"`` reads each query term's postings from the file (``os.pread``:
        the OS page cache keeps the hot ones, outside the process, so RSS stays
        small however large the index); ``"memory"`` loads them; ``"auto"``
        maps postings files up to 256 MB and reads larger ones.
        """
        d = Path(directory)
        meta = json.loads((d / META_FILE).read_text("utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{d / META_FILE}: unknown BM25 format {meta.get('format')!r}")
        mode = "r" if mmap else None

        def arr(name: str) -> np.ndarray:
            # A plain ndarray view of the mapping: np.memmap's Python-level indexing costs
            # microseconds per slice, and a query takes dozens of slices.
            return np.load(d / name, mmap_mode=mode, allow_pickle=False).view(np.ndarray)

        table = TermTable(
            arr("bm25_term_hashes.npy"),
            _bytes_array(d / "bm25_terms.bin", mmap),
            arr("bm25_term_offsets.npy"),
            int(meta["term_salt"]),
        )
        indptr = arr("bm25_indptr.npy")
        n_postings = int(meta["postings"])
        pfile = d / POSTINGS_FILE
        if (
            pfile.stat().st_size != 8 * n_postings
            or len(table) != int(meta["n_terms"])
            or len(indptr) != len(table) + 1
        ):
            raise ValueError(f"{d}: BM25 files do not match {META_FILE}")
        if postings == "auto":
            postings = "mmap" if mmap and 8 * n_postings <= AUTO_MMAP_BYTES else "read" if mmap else "memory"
        empty_i, empty_w = np.zeros(0, np.int32), np.zeros(0, np.float32)
        bm = cls(
            table, indptr, empty_i, empty_w, int(meta["n_docs"]), BM25Params(**meta["params"]), arr("bm25_idf.npy")
        )
        bm.postings_mode = postings
        bm._source = pfile
        if postings == "read":
            fd = os.open(pfile, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            weakref.finalize(bm, os.close, fd)
            bm._postings = partial(_read_postings, fd)
        elif postings in ("mmap", "memory"):
            raw = _bytes_array(pfile, postings == "mmap")
            bm._postings = partial(_view_postings, raw)
        else:
            raise ValueError(f"postings must be auto, mmap, read or memory, not {postings!r}")
        return bm

    # -- querying -----------------------------------------------------------
    @property
    def max_idf(self) -> float:
        return max_idf(self.n_docs)

    def term_idf(self, term: str) -> float | None:
        """The term's idf, or None if no passage contains it."""
        i = self.vocab.get(term)
        return float(self.idf[i]) if i is not None else None

    def term_ids(self, tokens: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Known terms of a query and how often each occurs (rank-bm25 counts repeats)."""
        counts = Counter(tokens)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ids = self.vocab.lookup(list(counts))
        reps = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        known = ids >= 0
        return ids[known], reps[known]

    def _accumulate(self, ids: np.ndarray, reps: np.ndarray) -> tuple[np.ndarray | None, list[np.ndarray]]:
        """float64 score of every passage (None if no postings) and each term's passages."""
        docs: list[np.ndarray] = []
        ws: list[np.ndarray] = []
        indptr, postings = self.indptr, self._postings
        starts, ends = indptr[ids].tolist(), indptr[ids + 1].tolist()
        for s, e, r in zip(starts, ends, reps.tolist(), strict=True):
            if e > s:
                d, w = postings(s, e)
                docs.append(d)
                ws.append(w if r == 1.0 else w * np.float32(r))
        if not docs:
            return None, docs
        d = docs[0] if len(docs) == 1 else np.concatenate(docs)
        w = ws[0] if len(ws) == 1 else np.concatenate(ws)
        return np.bincount(d, weights=w, minlength=self.n_docs), docs

    def scores(self, tokens: Iterable[str]) -> np.ndarray:
        """BM25 score of every passage for the query tokens."""
        ids, reps = self.term_ids(tokens)
        acc, _ = self._accumulate(ids, reps)
        if acc is None:
            return np.zeros(self.n_docs, dtype=np.float32)
        return acc.astype(np.float32)

    def top_k(self, tokens: Iterable[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and scores of the k best passages with a positive score, best first.

        Ties are broken by passage id.  Equal to ranking ``scores(tokens)`` in
        full, but only passages scoring at least the k-th best score among the
        rarest term's passages are ranked (that score is a lower bound on the
        k-th best overall).
        """
        empty = np.zeros(0, np.int64), np.zeros(0, np.float32)
        k = min(k, self.n_docs)
        if k <= 0:
            return empty
        ids, reps = self.term_ids(tokens)
        acc, docs = self._accumulate(ids, reps)
        if acc is None:
            return empty
        # A lower bound on the k-th best score: the k-th best among a few passages
        # (those of the rarest terms).  Slightly lowered, so that every passage whose
        # float32 score could tie the k-th is kept.
        theta = 0.0
        if self.n_docs > 4 * k:
            seed: list[np.ndarray] = []
            n = 0
            for d in sorted(docs, key=len):
                seed.append(d)
                n += len(d)
                if n >= 2 * k:
                    break
            sample = np.unique(np.concatenate(seed)) if len(seed) > 1 else seed[0]
            if len(sample) >= k:
                vals = acc[sample]
                theta = float(np.partition(vals, len(vals) - k)[len(vals) - k]) * (1 - 1e-6)
        cand = np.flatnonzero(acc >= theta) if theta > 0 else np.flatnonzero(acc > 0)
        s32 = acc[cand].astype(np.float32)
        keep = s32 > 0
        cand, s32 = cand[keep], s32[keep]
        if len(cand) > k:
            kth = np.partition(s32, len(s32) - k)[len(s32) - k]
            keep = s32 >= kth
            cand, s32 = cand[keep], s32[keep]
        order = np.lexsort((cand, -s32))[:k]
        return cand[order].astype(np.int64), s32[order]


def _copy_file(src: Path, f: Any) -> None:
    with open(src, "rb") as r:
        while block := r.read(1 << 24):
            f.write(block)


def _bytes_array(path: Path, mmap: bool) -> np.ndarray:
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=np.uint8)
    if mmap:
        return np.memmap(path, dtype=np.uint8, mode="r").view(np.ndarray)
    return np.fromfile(path, dtype=np.uint8)


def _view_postings(raw: np.ndarray, s: int, e: int) -> tuple[np.ndarray, np.ndarray]:
    a, m, b = 8 * s, 4 * (s + e), 8 * e
    return raw[a:m].view(np.int32), raw[m:b].view(np.float32)


def _read_postings(fd: int, s: int, e: int) -> tuple[np.ndarray, np.ndarray]:
    n = e - s
    buf = os.pread(fd, 8 * n, 8 * s)
    if len(buf) != 8 * n:
        raise OSError(f"short read of postings ({len(buf)} of {8 * n} bytes): the index file changed")
    return np.frombuffer(buf, np.int32, n), np.frombuffer(buf, np.float32, n, 4 * n)


def _chain(head: list[Any], rest: Iterator[Any]) -> Iterator[Any]:
    yield from head
    yield from rest


def _table_from_bytes(terms: list[bytes]) -> tuple[TermTable, np.ndarray]:
    """A TermTable of the distinct terms in ``terms`` (which may repeat) and the id of each entry."""
    for salt in range(1000):
        h = _hashes(terms, _salt(salt)) if terms else np.zeros(0, dtype=np.uint64)
        uniq, first, inverse = np.unique(h, return_index=True, return_inverse=True)
        # Two distinct terms with one hash would merge: every entry must equal its group's first.
        rep = first[inverse].tolist()
        if all(map(bytes.__eq__, terms, [terms[i] for i in rep])):
            break
    else:  # pragma: no cover - 1000 collisions of 64-bit hashes in a row
        raise RuntimeError("no collision-free term hash found")
    lens = np.fromiter((len(terms[i]) for i in first.tolist()), dtype=np.int64, count=len(first))
    offsets = np.zeros(len(first) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    blob = b"".join([terms[i] for i in first.tolist()])
    return TermTable(uniq, blob, offsets, salt), inverse.astype(np.int64)


class _HashingFile(io.RawIOBase):
    def __init__(self, f: Any) -> None:
        self.f = f
        self.sha = hashlib.sha256()
        self.n = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        mv = memoryview(b).cast("B")
        self.sha.update(mv)
        self.f.write(mv)
        self.n += len(mv)
        return len(mv)


def _write(path: Path, fill: Callable[[Any], Any]) -> dict[str, Any]:
    with open(path, "wb") as raw:
        f = _HashingFile(raw)
        fill(f)
        raw.flush()
        os.fsync(raw.fileno())
    return {"bytes": f.n, "sha256": f.sha.hexdigest()}
