"""A progress bar on stderr for long CLI runs; silent in the service and tests."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(
    items: Iterable[T], desc: str, unit: str = "it", enabled: bool = True, total: int | None = None
) -> Iterator[T]:
    if not enabled or (not sys.stderr.isatty() and not _forced()):
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=desc, unit=unit, total=total, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)


def _forced() -> bool:
    import os

    return os.environ.get("QA_PROGRESS", "").lower() in {"1", "true", "yes"}
