"""The documents list as ``GET /api/documents`` serves it: searched, filtered, sorted and paged here.

A million documents listed whole are about 150 MB of JSON, which a browser then filters row by row.
The catalog reads the documents tables' columns with numpy instead (index/records.py) and makes a
dict only for each document of the page asked.  The order of the list (by date, undated last, then
by title) and the publishers are worked out once per index version, on first use, from what is kept
with each table: a version after an upload or a delete shares the tables of the segments it kept
(index/embedded/versions.py), so only a new segment's rows are sorted, then placed among the kept
rows (``merged_order``).

Titles sort by their UTF-8 bytes (code-point order), not by pinyin: the same order for every client.
"""

from __future__ import annotations

import threading
import weakref
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

# What the list works out from each table, kept with it: its rows in list order ("asc", "desc",
# both from "by title") and its publishers ("publishers", "which").  A table is immutable, and it
# outlives the index version that first listed it when the next version keeps its segment.
_PER_TABLE: weakref.WeakKeyDictionary[RecordTable, dict[str, np.ndarray]] = weakref.WeakKeyDictionary()


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
                    values, which = table_publishers(table)
                    n = np.bincount(which[live & (which >= 0)], minlength=len(values))
                    counts.update({v: int(c) for v, c in zip(values.tolist(), n.tolist(), strict=True) if c})
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
                self._orders[order] = merged_order([t for t, _ in self._tables], self._bases, order)
            return self._orders[order]

    def _split(self, rows: np.ndarray) -> Sequence[np.ndarray]:
        return np.split(rows, self._bases[1:-1])

    def _listed(self, row: int) -> dict[str, Any]:
        k = int(np.searchsorted(self._bases, row, side="right")) - 1
        record = self._tables[k][0][row - int(self._bases[k])]
        return {key: record.get(key) for key in LISTED}


def merged_order(tables: Sequence[RecordTable], bases: np.ndarray, order: Order) -> np.ndarray:
    """The rows of ``tables`` (global: ``bases`` where each table's start) in list order.  The largest
    table's rows come in its own order, kept with it; the others' (an upload's new segment) are
    sorted together and each placed among them by a binary search that reads the sort keys of only
    the rows it compares with."""
    if not tables:
        return np.zeros(0, np.int64)
    big = max(range(len(tables)), key=lambda k: len(tables[k]))
    run = table_order(tables[big], order) + bases[big]
    others = [k for k in range(len(tables)) if k != big]
    if not others:
        return run
    rows = np.concatenate([np.arange(bases[k], bases[k + 1]) for k in others])
    if len(rows) * 8 > len(run):  # many rows to place: sort every row's key instead
        keys = np.concatenate([sort_keys(t, order) for t in tables])
        return np.argsort(keys, kind="stable")
    keys = np.concatenate([sort_keys(tables[k], order) for k in others])
    placed = np.argsort(keys, kind="stable")
    rows, keys = rows[placed], keys[placed]
    lo, hi = np.zeros(len(rows), np.int64), np.full(len(rows), len(run))
    while (active := np.flatnonzero(lo < hi)).size:
        mid = (lo[active] + hi[active]) // 2
        probe = run[mid]
        probe_keys = sort_keys(tables[big], order, probe - bases[big])
        # equal keys: as stored, i.e. by global row
        after = (probe_keys < keys[active]) | ((probe_keys == keys[active]) & (probe < rows[active]))
        lo[active] = np.where(after, mid + 1, lo[active])
        hi[active] = np.where(after, hi[active], mid)
    return np.insert(run, lo, rows)


def table_publishers(table: RecordTable) -> tuple[np.ndarray, np.ndarray]:
    """``table``'s distinct publishers (UTF-8) and each row's among them (-1: none, or a name over
    PUBLISHER_BYTES), worked out once and kept with the table: a version counts its live rows' only."""
    known = _PER_TABLE.setdefault(table, {})
    if "publishers" not in known:
        names = table.strings("publisher", PUBLISHER_BYTES + 1)
        listed = (names != b"") & (np.strings.str_len(names) <= PUBLISHER_BYTES)
        values, which = np.unique(names[listed], return_inverse=True)
        known["publishers"] = values
        known["which"] = np.full(len(names), -1, np.int64)
        known["which"][listed] = which
    return known["publishers"], known["which"]


def table_order(table: RecordTable, order: Order) -> np.ndarray:
    """``table``'s rows in list order, sorted once and kept with the table."""
    known = _PER_TABLE.setdefault(table, {})
    if order not in known:  # the same order as sorting sort_keys, in two passes that take 2/3 the time
        if "by title" not in known:  # both orders start from it: 1 s at a million documents
            known["by title"] = np.argsort(table.strings("title", SORT_TITLE), kind="stable")
        by_title = known["by title"]
        dates = table.strings("published", SORT_DATE)
        values, rank = np.unique(dates, return_inverse=True)
        key = rank if order == "asc" else len(values) - rank
        key[dates == b""] = len(values) + 1
        known[order] = by_title[np.argsort(key[by_title], kind="stable")]
    return known[order]


def sort_keys(table: RecordTable, order: Order, rows: np.ndarray | None = None) -> np.ndarray:
    """Each row's (or ``rows``') place in the list as bytes compared as they are (``S81``): 1 if
    undated, the date (SORT_DATE bytes, each inverted for newest first), the title (SORT_TITLE bytes)."""
    dates = _padded(table.strings("published", SORT_DATE, rows), SORT_DATE)
    titles = _padded(table.strings("title", SORT_TITLE, rows), SORT_TITLE)
    undated = ~dates.any(axis=1)
    if order == "desc":
        dates[~undated] = 255 - dates[~undated]
    keys = np.concatenate([undated[:, None].view(np.uint8), dates, titles], axis=1)
    return keys.view(f"S{keys.shape[1]}").ravel()


def _padded(column: np.ndarray, width: int) -> np.ndarray:
    """A ``S<n>`` column (n <= width) as rows of ``width`` bytes, zeros after each value."""
    out = np.zeros((len(column), width), np.uint8)
    if len(column):
        out[:, : column.dtype.itemsize] = column.view(np.uint8).reshape(len(column), column.dtype.itemsize)
    return out
