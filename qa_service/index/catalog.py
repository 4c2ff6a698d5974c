"""The documents list as ``GET /api/documents`` serves it: searched, filtered, sorted and paged here.

A million documents listed whole are about 150 MB of JSON, which a browser then filters row by row.
The catalog reads the documents tables' columns with numpy instead (index/records.py) and makes a
dict only for each document of the page asked.  The order of the list (by date, undated last, then
by title) and the publishers are worked out once per index version, on first use.

Titles sort by their UTF-8 bytes (code-point order), not by pinyin: the same order for every client.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from qa_service.index.documents import document_table
from qa_service.index.records import RecordTable

Order = Literal["desc", "asc"]
LISTED = ("id", "title", "publisher", "published", "format", "articles")  # a document's fields in the list
SEARCHED = 1024  # bytes of a title or id searched (a longer title is searched in its first ones)
SORT_TITLE = 48  # bytes of a title that order documents of the same date
SORT_DATE = 32  # bytes of a published date compared (YYYY-MM-DD, or a longer stamp)
PUBLISHER_BYTES = 1024  # a publisher name longer than this is not offered as a choice


@dataclass(frozen=True)
class DocumentQuery:
    """Which documents to list, and which page of them; every criterion optional."""

    search: str | None = None  # in the title or the id (file name); ASCII letters in either case
    publisher: str | None = None  # exactly
    published_from: str | None = None  # YYYY-MM-DD, inclusive; undated documents never match a range
    published_to: str | None = None
    order: Order = "desc"  # by date published: "desc" newest first, "asc" oldest first
    offset: int = 0
    limit: int = 100


@dataclass
class DocumentPage:
    documents: list[dict[str, Any]]
    total: int  # documents matching the query
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.documents)
        return end if end < self.total else None


def document_tables(documents: Collection[dict[str, Any]]) -> list[tuple[RecordTable, np.ndarray | None]]:
    """The tables ``documents`` is read from, and which rows of each are live (None: all)."""
    if isinstance(documents, RecordTable):
        return [(documents, None)]
    tables = getattr(documents, "tables", None)
    if tables is not None:  # the segments of an index that changed while serving
        return tables()
    return [(document_table(list(documents)), None)]  # a plain list (a backend written in tests)


class DocumentCatalog:
    """One index version's documents, listed page by page."""

    def __init__(self, documents: Collection[dict[str, Any]]) -> None:
        self._tables = document_tables(documents)
        self._bases = np.cumsum([0, *(len(t) for t, _ in self._tables)])
        self._live = np.concatenate([np.ones(len(t), bool) if live is None else live for t, live in self._tables])
        self._orders: dict[str, np.ndarray] = {}
        self._by_title: np.ndarray | None = None
        self._publishers: list[tuple[str, int]] | None = None
        self._lock = threading.Lock()  # requests arriving together sort the list once

    def __len__(self) -> int:
        return int(self._live.sum())

    def page(self, query: DocumentQuery) -> DocumentPage:
        order = self._order(query.order)
        matching = order[self._matches(query)[order]]
        rows = matching[query.offset : query.offset + query.limit].tolist()
        return DocumentPage([self._listed(r) for r in rows], len(matching), query.offset, query.limit)

    def publishers(self) -> list[tuple[str, int]]:
        """Every publisher of the live documents with how many documents it published, most first."""
        with self._lock:
            if self._publishers is None:
                counts: Counter[bytes] = Counter()
                for (table, _), live in zip(self._tables, self._split(self._live), strict=True):
                    names = table.strings("publisher", PUBLISHER_BYTES + 1)[live]
                    values, n = np.unique(names[(names != b"") & (np.strings.str_len(names) <= PUBLISHER_BYTES)],
                                          return_counts=True)  # fmt: skip
                    counts.update(dict(zip(values.tolist(), n.tolist(), strict=True)))
                decoded = ((name.decode("utf-8"), n) for name, n in counts.items())
                self._publishers = sorted(decoded, key=lambda p: (-p[1], p[0]))
            return self._publishers

    # -- which rows ------------------------------------------------------------------------------------
    def _matches(self, q: DocumentQuery) -> np.ndarray:
        parts = []
        for table, live in self._tables:
            mask = np.ones(len(table), bool) if live is None else live.copy()
            if q.publisher is not None:
                mask &= table.equal_any("publisher", [q.publisher])
            if q.published_from is not None or q.published_to is not None:
                mask &= table.between("published", q.published_from, q.published_to)
            if q.search:
                mask &= table.contains("title", q.search, SEARCHED) | table.contains("id", q.search, SEARCHED)
            parts.append(mask)
        return np.concatenate(parts) if parts else np.zeros(0, bool)

    def _order(self, order: Order) -> np.ndarray:
        """Every row (global), by date (``order``; undated last either way), then title, then as stored."""
        with self._lock:
            if order not in self._orders:
                if self._by_title is None:  # both orders start from it (1 s at a million titles)
                    self._by_title = np.argsort(self._column("title", SORT_TITLE), kind="stable")
                dates = self._column("published", SORT_DATE)
                values, rank = np.unique(dates, return_inverse=True)
                key = rank if order == "asc" else len(values) - rank
                key[dates == b""] = len(values) + 1
                self._orders[order] = self._by_title[np.argsort(key[self._by_title], kind="stable")]
            return self._orders[order]

    def _column(self, column: str, width: int) -> np.ndarray:
        parts = [table.strings(column, width) for table, _ in self._tables]
        return np.concatenate(parts) if parts else np.zeros(0, dtype="S1")

    def _split(self, rows: np.ndarray) -> Sequence[np.ndarray]:
        return np.split(rows, self._bases[1:-1])

    def _listed(self, row: int) -> dict[str, Any]:
        k = int(np.searchsorted(self._bases, row, side="right")) - 1
        record = self._tables[k][0][row - int(self._bases[k])]
        return {key: record.get(key) for key in LISTED}
