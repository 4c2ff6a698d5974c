"""Counting tokens for the BM25 build, and merging the counts into postings.

Tokens are counted chunk by chunk (``CHUNK`` passages each, in the calling
process or in worker processes): an analyser (term_ids.py) turns a chunk into
the local ids of its terms, and one sort of those makes the chunk a
:class:`_Block` of postings grouped by term.  Once every counter's local term ids are mapped to
the ids of one :class:`~qa_service.index.embedded.terms.TermTable`
(merge_terms.py), each block's postings are scattered straight into their place
in the final arrays: nothing sorts all postings at once and no Python object per
posting survives a chunk.
The worker functions are module-level, so that they pickle.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from qa_service.core.parallel import bounded_imap
from qa_service.index.embedded import terms as term_table
from qa_service.index.embedded.term_ids import Analyser, TermIds, given_tokens

# Passages per unit of work when building: each becomes one grouped block of postings.
CHUNK = 2048
# Below this many passages a build stays in the calling process (a worker costs ~0.1 s to start).
PARALLEL_MIN = 8192


@dataclass
class _Block:
    """The postings of one chunk of consecutive passages, grouped by term."""

    source: int  # which counter's local term ids these are
    first_term: int  # local id of the first new term (-1 once merge_terms.py has taken them)
    # The terms this counter had not seen before, in local id order, as arrays rather than a list of
    # bytes objects: the merge (merge_terms.py) then holds no Python object per term.
    new_terms: bytes  # their UTF-8, joined
    new_sizes: np.ndarray  # int32 bytes of each
    new_hashes: np.ndarray  # uint64 unsalted hash of each (terms.term_hashes), hashed here in the worker
    lengths: np.ndarray  # int32 tokens per passage
    terms: np.ndarray  # int32 local ids of the distinct terms of the block
    counts: np.ndarray  # int32 passages of the block holding each
    docs: np.ndarray  # uint16 passage (within the block) of each posting, grouped by term
    tf: np.ndarray  # uint16 or int32 term frequency of each posting
    marks: bytes  # what the analyser gave each passage beside its terms (packed word starts), joined
    mark_sizes: np.ndarray  # int64 bytes of marks per passage
    spilled: int = -1  # where ``docs`` and ``tf`` were moved to in a BlockSpill's file (-1: they were not)


class _Counter:
    """Counts blocks of passages' term ids; its term ids persist across blocks."""

    def __init__(self, source: int = 0, ids: TermIds | None = None) -> None:
        self.source = source
        self.ids = TermIds() if ids is None else ids

    @property
    def vocab(self) -> dict[str, int]:
        return self.ids.vocab

    def count_with(self, analyse: Analyser, items: list[Any]) -> _Block:
        """The block of ``items`` (consecutive passages) as ``analyse`` reads them."""
        before = len(self.vocab)
        tids, where, marks = analyse(items, self.ids)
        return self.block(before, tids, where, marks)

    def block(self, before: int, tids: np.ndarray, where: np.ndarray, marks: list[bytes]) -> _Block:
        """The block of passages whose terms are ``tids`` (ids of ``self.ids``), the passage of each
        ``where``; ``before``: how many terms the vocabulary had before them."""
        vocab = self.vocab
        n = len(marks)
        if n > 65535:
            raise ValueError("a block holds at most 65535 passages")
        new = [t.encode("utf-8") for t in islice(reversed(vocab), len(vocab) - before)][::-1]
        terms, counts, docs, tf = _postings(tids, where)
        return _Block(
            self.source,
            before,
            b"".join(new),
            np.fromiter(map(len, new), dtype=np.int32, count=len(new)),
            term_table.term_hashes(new),
            np.bincount(where, minlength=n).astype(np.int32),
            terms,
            counts,
            docs,
            tf,
            b"".join(marks),
            np.fromiter(map(len, marks), dtype=np.int64, count=len(marks)),
        )


def _postings(tids: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The postings of term ids ``tids`` found in passages ``where``, grouped by term with passages
    ascending: the distinct terms, how many passages hold each, and each posting's passage and term
    frequency.  One sort of packed (term, passage) keys of every term found: a run of equal keys is
    one posting, its length the term frequency."""
    key = (tids.astype(np.int64) << 16) | where
    key.sort()
    if not len(key):
        none = np.zeros(0, dtype=np.int32)
        return none, none, np.zeros(0, dtype=np.uint16), np.zeros(0, dtype=np.uint16)
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    tf = np.diff(np.append(starts, len(key)))
    key = key[starts]
    t = key >> 16
    first = np.flatnonzero(np.concatenate(([True], t[1:] != t[:-1])))
    counts = np.diff(np.append(first, len(t)))
    tf_type = np.uint16 if int(tf.max()) < 65536 else np.int32
    return t[first].astype(np.int32), counts.astype(np.int32), (key & 0xFFFF).astype(np.uint16), tf.astype(tf_type)


class BlockSpill:
    """Blocks' postings (``docs`` and ``tf``, 4 bytes each) moved to one file as they are
    counted, and read back a block at a time: a spooled build (spool.py) keeps only the blocks' terms
    and counts in memory, and writes the postings file from these by ranges of terms."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "w+b")  # noqa: SIM115 - closed by close()
        self._tf_dtype: dict[int, np.dtype] = {}

    def put(self, block: _Block) -> _Block:
        at = self._file.seek(0, os.SEEK_END)
        self._file.write(block.docs.tobytes())
        self._file.write(block.tf.tobytes())
        self._file.flush()  # read back with os.pread, beside the file object's buffer
        self._tf_dtype[at] = block.tf.dtype
        empty = np.zeros(0, dtype=np.uint16)
        return replace(block, docs=empty, tf=empty, spilled=at)

    def read(self, block: _Block) -> tuple[np.ndarray, np.ndarray]:
        """The block's passage and term frequency of each posting."""
        if block.spilled < 0:
            return block.docs, block.tf
        n = int(block.counts.sum())
        tf_dtype = self._tf_dtype[block.spilled]
        raw = os.pread(self._file.fileno(), n * (2 + tf_dtype.itemsize), block.spilled)
        return np.frombuffer(raw, dtype=np.uint16, count=n), np.frombuffer(raw, dtype=tf_dtype, offset=2 * n)

    def close(self) -> None:
        self._file.close()


_WORKER: dict[str, Any] = {}


def _worker_init(analyse: Analyser) -> None:
    _WORKER["analyse"] = analyse
    _WORKER["counter"] = _Counter(os.getpid(), analyse.term_ids())


def _worker_count(items: list[Any]) -> _Block:
    return _WORKER["counter"].count_with(_WORKER["analyse"], items)


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _chain(head: list[Any], rest: Iterator[Any]) -> Iterator[Any]:
    yield from head
    yield from rest


def count_tokens(
    docs_tokens: Iterable[Sequence[str]], chunk: int = CHUNK, on_progress: Callable[[int], None] | None = None
) -> list[_Block]:
    """The blocks of token lists, counted in this process ``chunk`` passages at a time."""
    return _count_here(docs_tokens, given_tokens, chunk, on_progress)


def _count_here(
    items: Iterable[Any],
    analyse: Analyser,
    chunk: int,
    on_progress: Callable[[int], None] | None,
    spill: BlockSpill | None = None,
) -> list[_Block]:
    counter = _Counter(0, analyse.term_ids())
    blocks = []
    for part in _chunks(items, chunk):
        block = counter.count_with(analyse, part)
        blocks.append(spill.put(block) if spill is not None else block)
        if on_progress:
            on_progress(len(part))
    return blocks


def count_texts(
    items: Iterable[Any],
    analyse: Analyser,
    workers: int,
    total: int | None = None,
    chunk: int = CHUNK,
    parallel_min: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    spill: BlockSpill | None = None,
) -> list[_Block]:
    """The blocks of ``items`` analysed and counted in ``workers`` processes, or in this one when
    there is one worker or fewer than ``parallel_min`` (default PARALLEL_MIN) items (``total``;
    None: look ahead).  With ``spill``, each block's postings are moved there as it comes."""
    parallel_min = PARALLEL_MIN if parallel_min is None else parallel_min
    it = iter(items)
    if total is None:
        head = list(islice(it, parallel_min))
        total = len(head) if len(head) < parallel_min else None
        it = _chain(head, it)
    if workers <= 1 or (total is not None and total < parallel_min):
        return _count_here(it, analyse, chunk, on_progress, spill)
    return count_in_workers(it, analyse, workers, chunk, on_progress, spill)


def count_in_workers(
    items: Iterable[Any],
    analyse: Analyser,
    workers: int,
    chunk: int = CHUNK,
    on_progress: Callable[[int], None] | None = None,
    spill: BlockSpill | None = None,
) -> list[_Block]:
    """The blocks of ``items``, analysed and counted in a pool of ``workers`` processes.

    By the time a full build counts, this process holds the spooled corpus's bookkeeping (half a
    gigabyte at a million passages).  Forked workers share its pages until something writes to them;
    the garbage collector would, visiting every object, and leave each worker a private copy of it
    all.  So the objects are frozen out of its reach while the workers are forked (``gc.freeze``, as
    the gc module's documentation advises for fork), and given back to it once they are started."""
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    blocks = []
    gc.freeze()
    try:
        pool = ctx.Pool(workers, initializer=_worker_init, initargs=(analyse,))
    finally:
        gc.unfreeze()
    with pool:
        # A few blocks in flight at a time: the items may be read from disk as they are needed.
        for _, block in bounded_imap(pool, _worker_count, _chunks(items, chunk), 2 * workers):
            blocks.append(spill.put(block) if spill is not None else block)
            if on_progress:
                on_progress(len(block.lengths))
    return blocks


# -- merging the blocks ---------------------------------------------------------


def scatter_postings(
    blocks: list[_Block],
    gmap: dict[int, np.ndarray],
    df: np.ndarray,
    idf: np.ndarray,
    norm: np.ndarray,
    k1: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row pointers, passage ids and BM25 weights: each block's postings put straight into place.

    ``df`` is the int64 document frequency of each term (the row lengths),
    ``norm`` the length normalisation ``k1 * (1 - b + b * len / avgdl)`` of each passage.
    """
    indptr = np.zeros(len(df) + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    total = int(indptr[-1])
    indices = np.empty(total, dtype=np.int32)
    weights = np.empty(total, dtype=np.float32)
    cursor = indptr[:-1].copy()
    base = 0
    k1p1 = k1 + 1
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
    return indptr, indices, weights


# Postings scattered at a time when the postings file is written by ranges of terms (16M: 128 MB).
SCATTER_POSTINGS = 1 << 24


def write_scattered(
    f: Any,
    blocks: list[_Block],
    spill: BlockSpill,
    gmap: dict[int, np.ndarray],
    indptr: np.ndarray,
    idf: np.ndarray,
    norm: np.ndarray,
    k1: float,
) -> None:
    """The postings file ``scatter_postings`` + ``write_postings`` would write, written by ranges of
    terms of about SCATTER_POSTINGS postings: every block is read back from ``spill`` once per range,
    and only one range's postings are held at a time, already laid out as the file holds them."""
    n_terms = len(indptr) - 1
    bases = np.concatenate([[0], np.cumsum([len(b.lengths) for b in blocks])]).astype(np.int64)
    t0 = 0
    while t0 < n_terms:
        t1 = min(n_terms, max(t0 + 1, int(np.searchsorted(indptr, indptr[t0] + SCATTER_POSTINGS, "right")) - 1))
        s0 = int(indptr[t0])
        # Term t's passage ids then its weights, as write_postings interleaves them: scattering into
        # the bytes to write needs no separate id and weight arrays nor write_postings' int64 positions.
        out = np.empty(2 * (int(indptr[t1]) - s0), dtype=np.uint32)
        rows = (2 * (indptr[t0:t1] - s0), np.diff(indptr[t0 : t1 + 1]))  # where each term's next id goes; its length
        for b, base in zip(blocks, bases.tolist(), strict=False):
            # Global ids found again for each range rather than kept for all blocks (4-8 bytes a block term).
            g = gmap[b.source][b.terms]
            sel = np.flatnonzero((g >= t0) & (g < t1))
            if len(sel):
                _scatter_range(b, spill, g[sel], sel, rows, t0, base, out, (idf, norm, k1))
        f.write(memoryview(out).cast("B"))
        t0 = t1


def _scatter_range(
    b: _Block,
    spill: BlockSpill,
    g: np.ndarray,
    sel: np.ndarray,
    rows: tuple[np.ndarray, np.ndarray],
    t0: int,
    base: int,
    out: np.ndarray,
    weighing: tuple[np.ndarray, np.ndarray, float],
) -> None:
    """One block's postings of the terms ``sel`` (their global ids ``g``) put at their terms' cursors."""
    docs, tf = spill.read(b)
    counts = b.counts.astype(np.int64)
    seg = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=seg[1:])
    c = counts[sel]
    within = np.arange(int(c.sum()), dtype=np.int64) - np.repeat(np.cumsum(c) - c, c)
    src = np.repeat(seg[sel], c) + within
    cursor, lengths = rows
    r = g - t0
    dest = np.repeat(cursor[r], c) + within
    cursor[r] += c
    d = docs[src].astype(np.int64) + base
    idf, norm, k1 = weighing
    t = tf[src]
    out[dest] = d
    # The same arithmetic, in the same order, as scatter_postings: the weights are bit for bit equal.
    w = (np.repeat(idf[g], c) * t * (k1 + 1) / (t + norm[d])).astype(np.float32)
    out[dest + np.repeat(lengths[r], c)] = w.view(np.uint32)
