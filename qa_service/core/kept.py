"""Answers kept for something that never changes (a saved table, an index version's rows)."""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Kept(dict[K, V], Generic[K, V]):
    """A dict emptied when it holds ``limit`` entries: bounded without an LRU's bookkeeping, for
    lookups that repeat in bursts (a question's words, its passages' rows, its documents' keys)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: K, value: V) -> V:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
