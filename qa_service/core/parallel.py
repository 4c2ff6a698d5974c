"""How many worker processes the build stages start, and feeding them a stream."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.pool import AsyncResult, Pool
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """One per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def bounded_imap(pool: Pool, fn: Callable[[T], R], items: Iterable[T], window: int) -> Iterator[tuple[T, R]]:
    """``(item, fn(item))`` for each item in order, computed in ``pool`` with at most ``window`` items
    in flight.  ``Pool.imap`` reads its whole input ahead (and results pile up behind a slow
    consumer), which would hold a corpus streamed from disk in memory all at once."""
    pending: deque[tuple[T, AsyncResult[R]]] = deque()
    for item in items:
        pending.append((item, pool.apply_async(fn, (item,))))
        if len(pending) >= window:
            first, result = pending.popleft()
            yield first, result.get()
    while pending:
        first, result = pending.popleft()
        yield first, result.get()
