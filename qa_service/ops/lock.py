"""The write lock: one index build or corpus change at a time, across threads and processes."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = ".write.lock"


@contextlib.contextmanager
def write_lock(index_dir: str | Path) -> Iterator[None]:
    """Exclusive across processes (gunicorn workers, a ``qa-service index`` run)."""
    root = Path(index_dir)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_FILE, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
