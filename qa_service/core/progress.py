"""A progress bar on stderr for long CLI runs; silent in the service and tests."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def progress(
    items: Iterable[T], desc: str, unit: str = "it", enabled: bool | str = True, total: int | None = None
) -> Iterator[T]:
    if not _shown(enabled):
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=desc, unit=unit, total=total, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)


@contextmanager
def progress_bar(
    total: int | None, desc: str, unit: str = "it", enabled: bool | str = True
) -> Iterator[Callable[[int], None]]:
    """A bar advanced by calling the yielded function with a count (for work done elsewhere)."""
    if not _shown(enabled):
        yield lambda n: None
        return
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, total=total, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
    try:
        yield bar.update
    finally:
        bar.close()


def _shown(enabled: bool | str) -> bool:
    """``True``: on a terminal; ``"always"`` (QA_PROGRESS=1): on any stderr; ``False``: never."""
    return enabled == "always" or (bool(enabled) and sys.stderr.isatty())
