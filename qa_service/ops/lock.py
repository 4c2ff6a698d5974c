"""The write lock: one index build or corpus change at a time, across threads and processes."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from qa_service.core.errors import IndexBusy

LOCK_FILE = ".write.lock"


POLL_S = 0.05  # how often a bounded wait tries the lock again


@contextlib.contextmanager
def write_lock(index_dir: str | Path, wait: float | None = None) -> Iterator[None]:
    """Exclusive across processes (gunicorn workers, a ``qa-service index`` run).  ``wait``: give up
    after that many seconds with ``IndexBusy`` (None: wait as long as the holder takes)."""
    root = Path(index_dir)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_FILE, "a+") as f:
        _lock(f, wait)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _lock(f: IO[str], wait: float | None) -> None:
    if wait is None:
        fcntl.flock(f, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise IndexBusy(busy_message(wait)) from None
            time.sleep(POLL_S)


def busy_message(wait: float) -> str:
    return (
        f"Another change to the index is still running after {wait:g} s (a rebuild of the whole corpus "
        "takes minutes at a million passages); nothing was changed. Try again shortly."
    )
