"""Merging the counters' terms into one TermTable and their counts into document frequencies, with
no Python object per term and nothing the size of all blocks' terms at once.

Each block brings the terms its counter had not seen before as arrays (counting.py): their UTF-8
bytes joined, the size of each, and each one's unsalted hash, computed in the worker that counted
it.  The merge moves every counter's terms out of the blocks into one run (a term two workers saw is
there twice), sorts the hashes once, and keeps the first entry of each run of equal hashes as the
term.  Holding the terms as Python bytes (about 60 bytes each, then a Python int per term to check
the merge) made the parent's merge grow by about 150 bytes a term; the arrays take about 22.  Python
objects per term are made only after a 64-bit hash collision, to hash again with a salt.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from qa_service.index.embedded import terms
from qa_service.index.embedded.terms import TermTable

if TYPE_CHECKING:
    from qa_service.index.embedded.counting import _Block

# Terms gathered or compared at a time: a few int64 positions per byte of them are made (~3 MB each).
SPAN_STEP = 1 << 16


def merge_terms(blocks: list[_Block]) -> tuple[TermTable, dict[int, np.ndarray]]:
    """The table of every counter's terms and, per counter, its local ids -> global ids (int32).

    The blocks' new terms are moved into the table: the blocks are left without them."""
    runs = _term_runs(blocks)
    sizes = {s: sum(len(b.new_sizes) for b in run) for s, run in runs.items()}
    table, ids = table_from_spans(list(_take_terms([b for run in runs.values() for b in run])))
    gmap: dict[int, np.ndarray] = {}
    pos = 0
    for s, n in sizes.items():
        gmap[s] = ids[pos : pos + n]
        pos += n
    return table, gmap


def document_frequencies(blocks: list[_Block], gmap: dict[int, np.ndarray], n_terms: int) -> np.ndarray:
    """int64 number of passages holding each (global) term, added up a block at a time (not from all
    blocks' terms concatenated: at a million passages that was hundreds of MB)."""
    df = np.zeros(n_terms, dtype=np.int64)
    for b in blocks:
        # A block lists each of its terms once, so no id repeats within one fancy-indexed add.
        df[gmap[b.source][b.terms]] += b.counts
    return df


def _term_runs(blocks: list[_Block]) -> dict[int, list[_Block]]:
    """Each counter's blocks that brought new terms, in local id order: their terms, one after the
    other, are the counter's terms in local id order."""
    sources: dict[int, list[_Block]] = {}
    for b in blocks:
        if b.first_term < 0:
            raise RuntimeError("these blocks' terms were merged already")
        sources.setdefault(b.source, []).append(b)
    runs: dict[int, list[_Block]] = {}
    for s, bs in sources.items():
        run: list[_Block] = []
        n = 0
        for b in sorted(bs, key=lambda b: b.first_term):
            if len(b.new_sizes):
                if b.first_term != n:
                    raise RuntimeError("term blocks arrived out of order")
                run.append(b)
                n += len(b.new_sizes)
        runs[s] = run
    return runs


def _take_terms(parts: list[_Block]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The new terms of ``parts``, one after the other: their bytes, where each starts (and the last
    ends), their hashes.  Moved out a block at a time, so that they are never held twice."""
    n = sum(len(b.new_sizes) for b in parts)
    blob = np.empty(sum(len(b.new_terms) for b in parts), dtype=np.uint8)
    starts = np.zeros(n + 1, dtype=np.int64)
    hashes = np.empty(n, dtype="<u8")
    i = at = 0
    for b in parts:
        k, size = len(b.new_sizes), len(b.new_terms)
        blob[at : at + size] = np.frombuffer(b.new_terms, dtype=np.uint8)
        np.cumsum(b.new_sizes, out=starts[i + 1 : i + 1 + k])
        starts[i + 1 : i + 1 + k] += at
        hashes[i : i + k] = b.new_hashes
        b.new_terms, b.new_sizes, b.new_hashes = b"", np.zeros(0, np.int32), np.zeros(0, "<u8")
        b.first_term = -1  # a second merge of these blocks would find no terms: _term_runs refuses it
        i, at = i + k, at + size
    return blob, starts, hashes


def table_from_spans(entries: list[np.ndarray]) -> tuple[TermTable, np.ndarray]:
    """A TermTable of the distinct terms ``blob[starts[i]:starts[i + 1]]`` (which may repeat) and the
    int32 id of each entry, from ``entries`` = [blob, starts, hashes] (unsalted, which it sorts).

    It empties ``entries``: the caller holds no array through it, so each one is let go of here as
    soon as it is used (an argument passed directly stays referenced by the caller until the return).
    """
    blob, starts, hashes = entries
    entries.clear()
    n = len(starts) - 1
    salt = 0
    while True:
        order = np.argsort(hashes, kind="stable")
        hashes.sort()  # in place: hashes[order] without a second array of them
        head = np.ones(n, dtype=bool)  # where a run of equal hashes begins
        head[1:] = hashes[1:] != hashes[:-1]
        unique = hashes[head]
        del hashes
        run = np.cumsum(head, dtype=np.int32)
        run -= 1
        ids = np.empty(n, dtype=np.int32)
        ids[order] = run  # the run of each entry: its id, if the check below holds
        del run
        first = order[head]  # a stable sort: the earliest entry of each run, as np.unique's return_index
        # Two distinct terms with one hash would merge: every entry must equal its run's first.
        if _runs_agree(blob, starts, order, head, first, ids):
            break
        salt += 1
        if salt >= 1000:  # pragma: no cover - 1000 collisions of 64-bit hashes in a row
            raise RuntimeError("no collision-free term hash found")
        hashes = _salted_hashes(blob, starts, salt)
    # What is left to build holds a few bytes a distinct term: the per-entry arrays go first.
    del order, head
    begins = starts[first]
    sizes = starts[first + 1]
    sizes -= begins
    del starts, first
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    table_blob = np.empty(int(offsets[-1]), dtype=np.uint8)
    for i in range(0, len(sizes), SPAN_STEP):
        j = min(i + SPAN_STEP, len(sizes))
        table_blob[offsets[i] : offsets[j]] = _gather(blob, begins[i:j], sizes[i:j])
    return TermTable(unique, table_blob, offsets, salt), ids


def _gather(blob: np.ndarray, begins: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The spans ``blob[begins[i]:begins[i] + sizes[i]]``, one after the other."""
    ends = np.cumsum(sizes)
    return blob[np.repeat(begins - (ends - sizes), sizes) + np.arange(int(ends[-1]) if len(ends) else 0)]


def _runs_agree(
    blob: np.ndarray, starts: np.ndarray, order: np.ndarray, head: np.ndarray, first: np.ndarray, ids: np.ndarray
) -> bool:
    """Whether every entry holds the bytes of ``first[ids[entry]]``, the first entry of its run of equal
    hashes, looked at a step of ``order`` (the entries by hash; ``head``: where runs begin) at a time."""
    for i in range(0, len(order), SPAN_STEP):
        j = i + SPAN_STEP
        a = order[i:j][~head[i:j]]
        b = first[ids[a]]
        sizes = starts[a + 1] - starts[a]
        if not np.array_equal(sizes, starts[b + 1] - starts[b]):
            return False
        if not np.array_equal(_gather(blob, starts[a], sizes), _gather(blob, starts[b], sizes)):
            return False
    return True


def _salted_hashes(blob: np.ndarray, starts: np.ndarray, salt: int) -> np.ndarray:
    """The entries' hashes with ``salt``: bytes objects are made a step of entries at a time."""
    view = memoryview(blob)
    out = np.empty(len(starts) - 1, dtype="<u8")
    for i in range(0, len(out), SPAN_STEP):
        bounds = starts[i : i + SPAN_STEP + 1].tolist()
        out[i : i + len(bounds) - 1] = terms.term_hashes([bytes(view[a:b]) for a, b in pairwise(bounds)], salt)
    return out
