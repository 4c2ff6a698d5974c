"""The on-disk postings of the BM25 index and the checksummed writing of its files.

``bm25_postings.bin`` holds, for each term in turn, its passage ids (int32)
then their weights (float32), so one read fetches a term's postings.  It is
memory-mapped, loaded, or read per query term with ``os.pread``.
"""

from __future__ import annotations

import hashlib
import io
import os
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

Postings = Callable[[int, int], tuple[np.ndarray, np.ndarray]]


def write_postings(f: Any, indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray) -> None:
    """Interleave the rows: term t's ids, then its weights, at byte 8 * indptr[t]."""
    indptr = np.asarray(indptr)
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
        out[starts + j - 2 * s0] = indices[s0:s1].view(np.uint32)
        out[ends + j - 2 * s0] = weights[s0:s1].view(np.uint32)
        f.write(memoryview(out).cast("B"))
        t0 = t1


def open_postings(path: Path, mode: str, owner: object) -> Postings:
    """Postings s:e of the file ``path`` as (passage ids, weights), for ``mode`` read, mmap or memory.

    With ``read`` each call reads from an open descriptor, closed when ``owner`` is collected.
    """
    if mode == "read":
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        weakref.finalize(owner, os.close, fd)
        return partial(_read_postings, fd)
    if mode in ("mmap", "memory"):
        raw = _bytes_array(path, mode == "mmap")
        return partial(_view_postings, raw)
    raise ValueError(f"postings must be auto, mmap, read or memory, not {mode!r}")


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
