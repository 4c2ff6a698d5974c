"""The documents and articles lists of an index, stored as compact tables read in place.

Held as lists of dicts, the two records of a passage (its document's and its article's) cost about
1.35 KB of Python objects: 1.35 GB at a million passages in the build and again in every serving
worker.  A ``RecordTable`` keeps the same rows as three flat files mapped from disk, so a worker
pays only for the pages it reads, shared with the other workers through the page cache:

* ``<name>.bin``: every cell's bytes, row after row, each a tag and its value: ``s`` + UTF-8 (a
  string), ``i`` + decimal (an int), ``n`` (None), ``j`` + JSON (anything else); an empty cell is a
  key the row does not have.  Keys outside the table's columns go, as one JSON object, to the last
  column (``EXTRA``);
* ``<name>.cells``: where each cell ends (int64, little-endian; rows x columns + 1 of them);
* ``<name>.keys`` (tables with a key column: the documents' ``id``): the 64-bit hashes of the keys,
  sorted, beside the row of each, so a row is found by its key without a dict of every key.

A row reads back as the dict it was written from.  The filters read a column for every row without
making its dicts: ``equal_any`` and ``between`` compare the cells' bytes with numpy (UTF-8 byte
order is code-point order, so ``between`` orders as Python's ``str`` does).
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import accumulate, islice
from pathlib import Path
from typing import Any, BinaryIO, overload

import numpy as np

from qa_service.core.kept import Kept
from qa_service.index.publish import FolderWriter, map_bytes, write_file

EXTRA = "+"  # the column of keys a table does not list
STR, INT, NONE, JSON = b"s", b"i", b"n", b"j"
GATHER = 1 << 22  # bytes gathered at a time when comparing a column's cells
FLUSH = 1 << 16  # cell ends a writer buffers before appending them to its file
FOUND_CACHE = 4096  # keys a table remembers the rows of

DOCUMENT_COLUMNS = (
    "id", "path", "format", "title", "publisher", "published", "url", "articles", "chars",
    "pages", "page_sizes", "scanned_pages", "ocr_pages", "layout", "original",
)  # fmt: skip
ARTICLE_COLUMNS = (
    "document", "title", "section", "published", "publisher", "attribution", "index", "char_start", "char_end",
)  # fmt: skip


def encode_cell(value: Any) -> bytes:
    if isinstance(value, str):
        return STR + value.encode("utf-8")
    if value is None:
        return NONE
    if type(value) is int:
        return INT + str(value).encode("ascii")
    return JSON + json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_cell(cell: bytes) -> Any:
    tag, body = cell[:1], cell[1:]
    if tag == STR:
        return body.decode("utf-8")
    if tag == INT:
        return int(body)
    if tag == NONE:
        return None
    return json.loads(body)


def table_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """A table's columns: ``columns`` and, last, ``EXTRA``."""
    return (*(c for c in columns if c != EXTRA), EXTRA)


def row_cells(columns: Sequence[str], row: Mapping[str, Any]) -> list[bytes]:
    """The cells ``row`` is written as in a table of ``columns`` (``table_columns``'s)."""
    extra = {k: v for k, v in row.items() if k not in columns}
    cells = [encode_cell(row[c]) if c in row else b"" for c in columns[:-1]]
    cells.append(encode_cell(extra) if extra else b"")
    return cells


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


class RecordTable(Sequence[dict[str, Any]]):
    """Rows of dicts over ``columns`` (the last ``EXTRA``), their cells packed in ``blob``."""

    def __init__(
        self,
        columns: Sequence[str],
        blob: bytes | memoryview,
        ends: np.ndarray,
        key: str | None = None,
        keys: np.ndarray | None = None,
    ) -> None:
        self.columns = tuple(columns)
        self._at = {c: j for j, c in enumerate(self.columns)}
        self._blob = blob
        self._ends = ends  # int64, rows x columns + 1, starting with 0
        self._rows = (len(ends) - 1) // len(self.columns)
        self.key = key
        self._keys = keys  # (rows, 2) uint64: key hashes sorted, the row of each
        self._found: Kept[str, int | None] = Kept(FOUND_CACHE)  # keys looked up lately
        self.source: tuple[Path, str] | None = None  # (folder, name) of files a save may hard-link

    # -- making one ---------------------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: Iterator[Mapping[str, Any]] | Sequence[Mapping[str, Any]], columns: Sequence[str],
                  key: str | None = None) -> RecordTable:  # fmt: skip
        writer = RecordWriter(columns, key)
        for row in rows:
            writer.add(row)
        return writer.finish()

    # -- reading rows -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._rows

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self._row(k) for k in range(*i.indices(self._rows))]
        if i < 0:
            i += self._rows
        if not 0 <= i < self._rows:
            raise IndexError(i)
        return self._row(i)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(self._rows):
            yield self._row(i)

    def _row(self, i: int) -> dict[str, Any]:
        nc = len(self.columns)
        ends = self._ends[i * nc : i * nc + nc + 1].tolist()
        raw = bytes(self._blob[ends[0] : ends[-1]])
        base = ends[0]
        row: dict[str, Any] = {}
        for name, a, z in zip(self.columns, ends, ends[1:], strict=False):
            if a == z:
                continue
            value = decode_cell(raw[a - base : z - base])
            if name == EXTRA:
                row.update(value)
            else:
                row[name] = value
        return row

    def cell(self, i: int, column: str) -> Any:
        """Row ``i``'s value of ``column`` (None where the row does not have it)."""
        k = i * len(self.columns) + self._at[column]
        a, z = int(self._ends[k]), int(self._ends[k + 1])
        return decode_cell(bytes(self._blob[a:z])) if z > a else None

    def column(self, column: str) -> list[Any]:
        """Every row's value of ``column`` (None where a row does not have it)."""
        starts, stops = self._spans(column)
        blob = self._blob
        spans = zip(starts.tolist(), stops.tolist(), strict=True)
        return [decode_cell(bytes(blob[a:z])) if z > a else None for a, z in spans]

    def _spans(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        nc, j = len(self.columns), self._at[column]
        n = self._rows * nc
        return np.asarray(self._ends[j:n:nc]), np.asarray(self._ends[j + 1 : n + 1 : nc])

    # -- comparing a column without making dicts ------------------------------------------------------------
    def equal_any(self, column: str, values: Collection[str]) -> np.ndarray:
        """Which rows' ``column`` is one of the strings ``values``."""
        starts, stops = self._spans(column)
        lengths = stops - starts
        mask = np.zeros(self._rows, dtype=bool)
        wanted: dict[int, list[bytes]] = {}
        for v in values:
            cell = encode_cell(v)
            wanted.setdefault(len(cell), []).append(cell)
        for width, cells in wanted.items():
            rows = np.flatnonzero(lengths == width)
            targets = np.array(cells, dtype=f"S{width}")
            for part in np.array_split(rows, max(1, len(rows) * width // GATHER)):
                mask[part] = np.isin(self._gather(starts[part], width), targets)
        return mask

    def between(self, column: str, low: str | None, high: str | None) -> np.ndarray:
        """Which rows' ``column`` is a non-empty string within [``low``, ``high``] (None: unbounded)."""
        starts, stops = self._spans(column)
        lengths = stops - starts
        mask = np.zeros(self._rows, dtype=bool)
        rows = np.flatnonzero(lengths > 1)
        if not len(rows):
            return mask
        width = int(lengths[rows].max())
        for part in np.array_split(rows, max(1, len(rows) * width // GATHER)):
            cells = self._gather(starts[part], width, lengths[part])
            ok = np.char.startswith(cells, STR)
            if low is not None:
                ok &= cells >= encode_cell(low)
            if high is not None:
                ok &= cells <= encode_cell(high)
            mask[part] = ok
        return mask

    def strings(self, column: str, width: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Every row's (or ``rows``') ``column`` as UTF-8 bytes cut at ``width`` (``S<width>``; b"" where
        it is no string): sort keys without a str per row."""
        starts, stops = self._spans(column) if rows is None else (a[rows] for a in self._spans(column))
        width = max(1, min(width, int((stops - starts).max(initial=1)) - 1))
        out = np.zeros(len(starts), dtype=f"S{width}")
        for part in self._string_rows(starts, stops, width):
            out[part] = self._gather(starts[part] + 1, width, np.minimum(stops[part] - starts[part] - 1, width))
        return out

    def contains(self, column: str, needle: str, width: int) -> np.ndarray:
        """Which rows' ``column`` is a string holding ``needle`` in its first ``width`` bytes, ASCII
        letters matched in either case (Chinese has none)."""
        target = needle.encode("utf-8").lower()
        fold = target != target.upper()  # no ASCII letter in it: the cells need no lowering
        starts, stops = self._spans(column)
        mask = np.zeros(self._rows, dtype=bool)
        for rows in self._string_rows(starts, stops, width):
            lengths = stops[rows] - starts[rows] - 1
            # The cells' bytes and those after them: the first occurrence, if inside, is the cell's own.
            cells = self._gather(starts[rows] + 1, min(width, int(lengths.max())))
            found = np.strings.find(np.strings.lower(cells) if fold else cells, target)
            mask[rows] = (found >= 0) & (found + len(target) <= lengths)
        return mask

    def _string_rows(self, starts: np.ndarray, stops: np.ndarray, width: int) -> Iterator[np.ndarray]:
        """The rows whose cell (``starts``, ``stops``) is a non-empty string, a block at a time."""
        rows = np.flatnonzero(stops - starts > 1)
        if not len(rows):
            return
        width = min(width, int((stops - starts)[rows].max()))
        for part in np.array_split(rows, max(1, len(rows) * width // GATHER)):
            part = part[self._gather(starts[part], 1) == STR]
            if len(part):
                yield part

    def _gather(self, starts: np.ndarray, width: int, lengths: np.ndarray | None = None) -> np.ndarray:
        """``width`` bytes from each of ``starts`` as S<width> (a cell shorter than ``width`` is followed
        by the next cells' bytes unless its ``lengths`` are given: then NUL-padded)."""
        data = np.frombuffer(self._blob, dtype=np.uint8)
        near_end = np.flatnonzero(starts > len(data) - width)  # the last cells of the blob
        # A window of the blob at each start: one copy, no index per byte.
        windows = np.lib.stride_tricks.sliding_window_view(data, min(width, len(data)))
        out = windows[np.minimum(starts, len(windows) - 1)]
        if out.shape[1] < width or len(near_end):
            out = np.pad(out[:, :width], ((0, 0), (0, width - out.shape[1])))
            for k in near_end.tolist():
                tail = data[int(starts[k]) :][:width]
                out[k] = 0
                out[k, : len(tail)] = tail
        if lengths is not None:
            out[np.arange(width) >= lengths[:, None]] = 0
        return out.view(f"S{width}").ravel()

    # -- finding a row by its key -----------------------------------------------------------------------------
    def position(self, key: str) -> int | None:
        """The row whose key column is ``key`` (the first written, if several), or None."""
        found = self._found.get(key, -1)
        if found == -1:  # a question looks up its few documents several times
            found = self._found.keep(key, self._look_up(key))
        return found

    def _look_up(self, key: str) -> int | None:
        if self._keys is None or self.key is None:
            raise ValueError("this table has no key column")
        h = key_hash(key)
        k = int(np.searchsorted(self._keys[:, 0], np.uint64(h), "left"))
        rows = []
        while k < len(self._keys) and int(self._keys[k, 0]) == h:  # more than one only on a hash collision
            rows.append(int(self._keys[k, 1]))
            k += 1
        return min((r for r in rows if self.cell(r, self.key) == key), default=None)

    # -- on disk ------------------------------------------------------------------------------------------------
    def save(self, out: FolderWriter, name: str) -> None:
        """Put the table's files in ``out`` (hard-linked if a writer spooled them on that filesystem)."""
        out.put(f"{name}.json", json.dumps({"columns": self.columns, "key": self.key, "rows": self._rows}).encode())
        parts: dict[str, Any] = {".bin": self._blob, ".cells": self._ends}
        if self._keys is not None:
            parts[".keys"] = self._keys
        for suffix, data in parts.items():
            spooled = None if self.source is None else self.source[0] / f"{self.source[1]}{suffix}"
            if spooled is not None and spooled.is_file():
                out.put_file(name + suffix, spooled)
            elif suffix == ".bin":
                out.put(name + suffix, bytes(data))
            else:
                words = np.asarray(data)
                out.put(name + suffix, words.astype(words.dtype.newbyteorder("<")).tobytes())

    @classmethod
    def load(cls, folder: Path, name: str) -> RecordTable:
        """The table ``name`` in ``folder``, its files mapped (ValueError if they do not agree)."""
        head = json.loads((folder / f"{name}.json").read_text("utf-8"))
        columns, rows = tuple(head["columns"]), int(head["rows"])
        ends = _map_words(folder / f"{name}.cells", np.int64)
        keys = _map_words(folder / f"{name}.keys", np.uint64).reshape(-1, 2) if head.get("key") else None
        blob = map_bytes(folder / f"{name}.bin")
        agree = len(ends) == rows * len(columns) + 1 and int(ends[-1]) == len(blob)
        if not agree or (keys is not None and len(keys) != rows):
            raise ValueError(f"the files of {name} in {folder} do not agree")
        return cls(columns, blob, ends, head.get("key"), keys)


def _map_words(path: Path, dtype: type) -> np.ndarray:
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=np.dtype(dtype).newbyteorder("<"), mode="r").view(np.ndarray)


class RecordWriter:
    """Rows added one at a time (``add``), then ``finish``ed as a ``RecordTable``: in memory, or, with
    ``folder``, appended to files there as they come (a streamed build holds none of them)."""

    def __init__(self, columns: Sequence[str], key: str | None = None, folder: Path | None = None,
                 name: str = "records") -> None:  # fmt: skip
        self.columns = table_columns(columns)
        self.key = key
        self._folder, self._name = folder, name
        self._blob: BinaryIO | bytearray
        self._cells: BinaryIO | None = None
        if folder is None:
            self._blob = bytearray()
        else:
            self._blob = open(folder / f"{name}.bin", "wb")  # noqa: SIM115 - closed by finish()
            self._cells = open(folder / f"{name}.cells", "wb")  # noqa: SIM115
        self._ends = array("q", [0])
        self._end = 0
        self._hashes = array("Q")
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def add(self, row: Mapping[str, Any]) -> None:
        self.add_cells(row_cells(self.columns, row), key_hash(row[self.key]) if self.key is not None else None)

    def add_cells(self, cells: list[bytes], key: int | None = None) -> None:
        """A row as ``row_cells`` encoded it (elsewhere: in the process that made the row), with
        the ``key_hash`` of its key in a table with a key column."""
        self._put_row(cells)
        if self.key is not None:
            assert key is not None
            self._hashes.append(key)
        self._rows += 1
        if self._cells is not None and len(self._ends) >= FLUSH:
            self._cells.write(self._ends.tobytes())
            self._ends = array("q")

    def _put_row(self, cells: list[bytes]) -> None:
        """A row's cells, written at once (a write per cell was most of what adding a row took)."""
        data = b"".join(cells)
        if isinstance(self._blob, bytearray):
            self._blob += data
        else:
            self._blob.write(data)
        # Each cell's end: the row's starts at the end of the row before (already in ``_ends``).
        self._ends.extend(islice(accumulate(map(len, cells), initial=self._end), 1, None))
        self._end += len(data)

    def finish(self) -> RecordTable:
        keys = None
        if self.key is not None:
            hashes = np.frombuffer(self._hashes, dtype=np.uint64)
            order = np.argsort(hashes, kind="stable")
            keys = np.stack([hashes[order], order.astype(np.uint64)], axis=1).reshape(-1, 2)
        if isinstance(self._blob, bytearray):
            return RecordTable(self.columns, bytes(self._blob), np.frombuffer(self._ends, dtype=np.int64).copy(),
                               self.key, keys)  # fmt: skip
        assert self._cells is not None and self._folder is not None
        self._cells.write(self._ends.tobytes())
        for f in (self._blob, self._cells):
            f.close()
        if keys is not None:
            write_file(self._folder / f"{self._name}.keys", keys.astype("<u8").tobytes())
        head = {"columns": self.columns, "key": self.key, "rows": self._rows}
        write_file(self._folder / f"{self._name}.json", json.dumps(head).encode())
        table = RecordTable.load(self._folder, self._name)
        table.source = (self._folder, self._name)
        return table

    def close(self) -> None:
        """Close the files of an unfinished writer (a failed build)."""
        for f in (self._blob, self._cells):
            if f is not None and not isinstance(f, bytearray):
                f.close()
