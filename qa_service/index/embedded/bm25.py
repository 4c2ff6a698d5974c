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
chunk (see :mod:`.counting`).

Terms are looked up in a :class:`TermTable`, not a dict: a sorted array of
64-bit term hashes (the term id is the position) plus the UTF-8 bytes of every
term, to confirm a match exactly.  Saved with :meth:`BM25.save` and memory-mapped
by :meth:`BM25.load`, an index of millions of terms opens in milliseconds and
costs resident memory only for the pages that queries touch (see :mod:`.terms`
and, for the postings file, :mod:`.postings`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from qa_service.core.parallel import default_workers
from qa_service.index.embedded.counting import (
    CHUNK,
    PARALLEL_MIN,
    BlockSpill,
    _Block,
    count_texts,
    count_tokens,
    scatter_postings,
    write_scattered,
)
from qa_service.index.embedded.merge_terms import document_frequencies, merge_terms
from qa_service.index.embedded.postings import Postings, _bytes_array, _copy_file, _write, open_postings, write_postings
from qa_service.index.embedded.ranking import (
    MIN_IDF,
    length_norm,
    max_idf,
    okapi_idf,
    raw_mean_idf,
    scores_of_postings,
    top_k_of_postings,
)
from qa_service.index.embedded.term_ids import Tokens
from qa_service.index.embedded.terms import TermTable, _DictTerms

__all__ = [
    "AUTO_MMAP_BYTES",
    "BM25",
    "CHUNK",
    "FORMAT",
    "META_FILE",
    "MIN_IDF",
    "PARALLEL_MIN",
    "POSTINGS_FILE",
    "BM25Params",
    "CorpusStats",
    "TermIdf",
    "TermTable",
    "max_idf",
    "okapi_idf",
    "raw_mean_idf",
]

FORMAT = "bm25-csr-1"
META_FILE = "bm25.json"
POSTINGS_FILE = "bm25_postings.bin"
# Postings files up to this size are memory-mapped by default; larger ones are read per query term.
AUTO_MMAP_BYTES = 256 << 20


@dataclass(frozen=True)
class CorpusStats:
    """What the rest of the index a segment is built into holds (index/embedded/segments.py): the
    passages of its other segments, their total length, how many of them hold each of a list of
    terms; and the raw mean idf the epsilon rule scales."""

    n_docs: int
    total_len: int
    mean_idf: float
    df_elsewhere: Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class BM25Params:
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


# -- the index ----------------------------------------------------------------


class TermIdf:
    """Term statistics answer composition reads (``term_idf``, ``max_idf``): BM25's own, or those a
    backend that ranks elsewhere keeps beside its engine.  Needs ``vocab``, ``idf`` and ``n_docs``."""

    vocab: Any
    idf: np.ndarray
    n_docs: int

    @property
    def max_idf(self) -> float:
        return max_idf(self.n_docs)

    def term_idf(self, term: str) -> float | None:
        """The term's idf, or None if no passage contains it."""
        i = self.vocab.get(term)
        return float(self.idf[i]) if i is not None else None


class BM25(TermIdf):
    def __init__(
        self,
        vocab: TermTable | dict[str, int],
        indptr: np.ndarray,
        indices: np.ndarray,
        weights: np.ndarray,
        n_docs: int,
        params: BM25Params = BM25Params(),
        idf: np.ndarray | None = None,
        total_len: int = 0,
        mean_idf: float = 0.0,
        avgdl: float = 0.0,
    ) -> None:
        self.vocab: TermTable | _DictTerms = _DictTerms(vocab) if isinstance(vocab, dict) else vocab
        self.idf = idf if idf is not None else np.zeros(len(self.vocab), dtype=np.float32)
        self.indptr = indptr  # int64, len(vocab) + 1: row t holds the postings of term t
        self.indices = indices  # int32 passage ids, ascending within a row
        self.weights = weights  # float32 BM25 weight of (term, passage)
        self.n_docs = n_docs
        self.params = params
        self.total_len = total_len  # tokens in all passages: with n_docs, the average length
        self.mean_idf = mean_idf  # the raw mean idf the epsilon rule used (okapi_idf)
        self.avgdl = avgdl  # the average passage length the weights were normalised with
        self.postings_mode = "memory"
        self._source: Path | None = None  # the postings file this index was loaded from
        self._postings: Postings = self._postings_from_arrays

    def _postings_from_arrays(self, s: int, e: int) -> tuple[np.ndarray, np.ndarray]:
        return self.indices[s:e], self.weights[s:e]

    # -- building ---------------------------------------------------------
    @classmethod
    def build(
        cls,
        docs_tokens: Iterable[Sequence[str]],
        params: BM25Params = BM25Params(),
        on_progress: Callable[[int], None] | None = None,
        chunk: int = CHUNK,
        stats: CorpusStats | None = None,
    ) -> BM25:
        """The index of token lists, counted here (see ``build_from_texts`` for worker processes).

        ``chunk``: passages per block of postings (the result does not depend on it).  ``stats``: weigh
        the postings by the statistics of a larger index this one is a segment of (default: its own).
        """
        return cls.from_blocks(count_tokens(docs_tokens, chunk, on_progress), params, stats)

    @classmethod
    def build_from_texts(
        cls,
        texts: Iterable[str],
        tokenize: Callable[[str], list[str]],
        params: BM25Params = BM25Params(),
        workers: int | None = None,
        total: int | None = None,
        on_progress: Callable[[int], None] | None = None,
        chunk: int = CHUNK,
        parallel_min: int = PARALLEL_MIN,
        stats: CorpusStats | None = None,
    ) -> BM25:
        """Tokenize and count ``texts`` in ``workers`` processes (default: one per core), then merge.

        ``tokenize`` must be picklable (a :class:`~qa_service.core.tokenizer.Tokenizer`'s
        ``tokens`` method is: each worker gets its own tokenizer with the same user
        words).  Small corpora (< ``parallel_min`` passages) are done in this process.
        The result is identical to ``build(tokenize(t) for t in texts)``.
        """
        workers = default_workers() if workers is None else workers
        blocks = count_texts(texts, Tokens(tokenize), workers, total, chunk, parallel_min, on_progress)
        return cls.from_blocks(blocks, params, stats)

    @classmethod
    def from_blocks(
        cls,
        blocks: list[_Block],
        params: BM25Params,
        stats: CorpusStats | None = None,
        spill: tuple[BlockSpill, Path] | None = None,
    ) -> BM25:
        """The index of counted blocks (counting.py), which it leaves without their new terms; ``stats``
        as for ``build``.  ``spill``: the BlockSpill holding the blocks' postings, and the file to write
        the postings to (read from it by queries) instead of holding them in memory."""
        table, gmap = merge_terms(blocks)
        n_docs = sum(len(b.lengths) for b in blocks)
        if n_docs == 0:
            return cls(table, np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), 0, params)
        doc_len = np.concatenate([b.lengths for b in blocks]).astype(np.float64)
        df = document_frequencies(blocks, gmap, len(table))
        total_len = int(doc_len.sum())
        if stats is None:
            mean = raw_mean_idf(df, n_docs)
            idf = okapi_idf(df, n_docs, params, mean)
            avgdl = total_len / n_docs
        else:  # a segment: every term weighs what it weighs in the whole index
            mean = stats.mean_idf
            everywhere = df + stats.df_elsewhere(list(table))
            idf = okapi_idf(everywhere, n_docs + stats.n_docs, params, mean)
            avgdl = (total_len + stats.total_len) / (n_docs + stats.n_docs)
        norm = length_norm(doc_len, params, avgdl)
        idf32 = idf.astype(np.float32)
        if spill is None:
            indptr, indices, weights = scatter_postings(blocks, gmap, df, idf, norm, params.k1)
            return cls(table, indptr, indices, weights, n_docs, params, idf32, total_len, mean, avgdl)
        indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        del df, doc_len  # the postings are written by ranges: what a range needs is all that is held
        _write(spill[1], lambda f: write_scattered(f, blocks, spill[0], gmap, indptr, idf, norm, params.k1))
        empty_i, empty_w = np.zeros(0, np.int32), np.zeros(0, np.float32)
        bm = cls(table, indptr, empty_i, empty_w, n_docs, params, idf32, total_len, mean, avgdl)
        bm.postings_mode, bm._source = "read", spill[1]
        bm._postings = open_postings(spill[1], "read", bm)
        return bm

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
            fill = partial(write_postings, indptr=self.indptr, indices=self.indices, weights=self.weights)
            files[POSTINGS_FILE] = _write(d / POSTINGS_FILE, fill)
        else:  # loaded from disk: the file is already in its final layout
            files[POSTINGS_FILE] = _write(d / POSTINGS_FILE, partial(_copy_file, self._source))
        meta = {
            "format": FORMAT,
            "n_docs": self.n_docs,
            "n_terms": len(table),
            "postings": int(self.indptr[-1]),
            "params": self.params.to_dict(),
            "total_len": self.total_len,
            "mean_idf": self.mean_idf,
            "avgdl": self.avgdl,
            "term_hash": "blake2b-64",
            "term_salt": table.salt,
        }
        files[META_FILE] = _write(d / META_FILE, lambda f: f.write(json.dumps(meta, indent=1).encode()))
        return files

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
        pfile = d / POSTINGS_FILE
        _check_sizes(d, meta, table, indptr)
        if postings == "auto":
            small = 8 * int(meta["postings"]) <= AUTO_MMAP_BYTES
            postings = "mmap" if mmap and small else "read" if mmap else "memory"
        empty_i, empty_w = np.zeros(0, np.int32), np.zeros(0, np.float32)
        bm = cls(
            table,
            indptr,
            empty_i,
            empty_w,
            int(meta["n_docs"]),
            BM25Params(**meta["params"]),
            arr("bm25_idf.npy"),
            int(meta.get("total_len", 0)),
            float(meta.get("mean_idf", 0.0)),
            float(meta.get("avgdl", 0.0)),
        )
        bm.postings_mode = postings
        bm._source = pfile
        bm._postings = open_postings(pfile, postings, bm)
        return bm

    # -- querying -----------------------------------------------------------

    def term_ids(self, tokens: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Known terms of a query and how often each occurs (rank-bm25 counts repeats)."""
        counts = Counter(tokens)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ids = self.vocab.lookup(list(counts))
        reps = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        known = ids >= 0
        return ids[known], reps[known]

    def _postings_of(self, ids: np.ndarray, reps: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each known query term's passages and float32 weights (times its repeats in the query)."""
        docs: list[np.ndarray] = []
        ws: list[np.ndarray] = []
        indptr, postings = self.indptr, self._postings
        starts, ends = indptr[ids].tolist(), indptr[ids + 1].tolist()
        for s, e, r in zip(starts, ends, reps.tolist(), strict=True):
            if e > s:
                d, w = postings(s, e)
                docs.append(d)
                ws.append(w if r == 1.0 else w * np.float32(r))
        return docs, ws

    def scores(self, tokens: Iterable[str]) -> np.ndarray:
        """BM25 score of every passage for the query tokens."""
        return scores_of_postings(*self._postings_of(*self.term_ids(tokens)), self.n_docs)

    def top_k(self, tokens: Iterable[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and scores of the k best passages with a positive score, best first.

        Ties are broken by passage id.  Equal to ranking ``scores(tokens)`` in
        full, but scored a block of passages at a time and only the passages
        reaching a lower bound on the k-th best score are ranked
        (``ranking.top_k_of_postings``).
        """
        k = min(k, self.n_docs)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        docs, ws = self._postings_of(*self.term_ids(tokens))
        return top_k_of_postings(docs, ws, self.n_docs, k)


def _check_sizes(d: Path, meta: dict[str, Any], table: TermTable, indptr: np.ndarray) -> None:
    """Raise ValueError unless the files in ``d`` have the sizes ``meta`` says."""
    if (
        (d / POSTINGS_FILE).stat().st_size != 8 * int(meta["postings"])
        or len(table) != int(meta["n_terms"])
        or len(indptr) != len(table) + 1
    ):
        raise ValueError(f"{d}: BM25 files do not match {META_FILE}")
