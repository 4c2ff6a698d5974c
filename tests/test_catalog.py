"""The documents list a page at a time (index/catalog.py): the same documents, in the same order, as
filtering and sorting the rows in Python would give, over one table or several with deleted rows."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_service.index import catalog as catalog_module
from qa_service.index.catalog import LISTED, SORT_DATE, SORT_TITLE, DocumentCatalog, DocumentQuery
from qa_service.index.documents import document_table
from qa_service.index.records import RecordTable

# Titles mixing ASCII letters of both cases with Chinese; no NUL (NumPy's byte strings drop trailing ones).
letters = st.sampled_from(list("aAbBzZ 上街区爱国卫生2021-《》é"))
titles = st.one_of(st.none(), st.text(letters, max_size=40))
dates = st.one_of(st.none(), st.sampled_from(["2021-03-05", "2021-04-16", "2021-04-30", "2020-12-31", ""]))
publishers = st.one_of(st.none(), st.sampled_from(["上街区委", "河口区", "Xinhua", "上街区委办公室"]))


@st.composite
def documents(draw) -> list[dict]:
    n = draw(st.integers(min_value=0, max_value=40))
    rows = []
    for i in range(n):
        row = {"id": f"doc{i:03d}.txt", "format": "txt", "articles": draw(st.integers(0, 5))}
        for key, values in (("title", titles), ("published", dates), ("publisher", publishers)):
            value = draw(values)
            if value is not None or draw(st.booleans()):  # a key missing or holding None
                row[key] = value
        rows.append(row)
    return rows


queries = st.builds(
    DocumentQuery,
    search=st.one_of(st.none(), st.text(letters, min_size=1, max_size=3)),
    publisher=st.one_of(st.none(), publishers),
    published_from=st.one_of(st.none(), st.sampled_from(["2021-01-01", "2021-04-16"])),
    published_to=st.one_of(st.none(), st.sampled_from(["2021-04-16", "2021-12-31"])),
    order=st.sampled_from(["desc", "asc"]),
    offset=st.integers(0, 45),
    limit=st.integers(1, 50),
)


def fold(value) -> bytes | None:
    return value.encode("utf-8").lower() if isinstance(value, str) else None


def matches(row: dict, q: DocumentQuery) -> bool:
    searched = [fold(row.get(k)) for k in ("title", "id")]
    if q.search and not any(v is not None and fold(q.search) in v for v in searched):
        return False
    if q.publisher is not None and row.get("publisher") != q.publisher:
        return False
    if q.published_from is not None or q.published_to is not None:
        day = row.get("published")
        if not isinstance(day, str) or not day:
            return False
        if (q.published_from and day < q.published_from) or (q.published_to and day > q.published_to):
            return False
    return True


def expected(rows: list[dict], q: DocumentQuery) -> tuple[list[str], int]:
    def text(row: dict, key: str, width: int) -> bytes:
        value = row.get(key)
        return value.encode("utf-8")[:width] if isinstance(value, str) else b""

    kept = [r for r in rows if matches(r, q)]
    kept.sort(key=lambda r: text(r, "title", SORT_TITLE))  # stable sorts: title, then date, then dated first
    kept.sort(key=lambda r: text(r, "published", SORT_DATE), reverse=q.order == "desc")
    kept.sort(key=lambda r: text(r, "published", SORT_DATE) == b"")
    return [r["id"] for r in kept[q.offset : q.offset + q.limit]], len(kept)


class Segments:
    """Documents as a segmented index holds them: several tables, some rows deleted."""

    def __init__(self, parts: list[tuple[RecordTable, np.ndarray | None]]) -> None:
        self._parts = parts

    def tables(self):
        return self._parts


@settings(max_examples=150, deadline=None)
@given(documents(), queries)
def test_a_page_is_the_rows_filtered_and_sorted_in_python(rows, query):
    page = DocumentCatalog(document_table(rows)).page(query)
    ids, total = expected(rows, query)
    assert [d["id"] for d in page.documents] == ids and page.total == total
    by_id = {r["id"]: r for r in rows}
    for d in page.documents:
        assert set(d) == set(LISTED) and all(d[k] == by_id[d["id"]].get(k) for k in LISTED)
    assert page.next_offset == (query.offset + len(ids) if query.offset + len(ids) < total else None)


@settings(max_examples=80, deadline=None)
@given(documents(), documents(), st.data(), queries)
def test_segments_with_deleted_rows_list_as_the_live_rows_would(first, second, data, query):
    second = [{**r, "id": "b" + r["id"]} for r in second]
    gone = [data.draw(st.booleans()) for _ in first]
    live = np.array([not g for g in gone], dtype=bool)
    docs = Segments([(document_table(first), live), (document_table(second), None)])
    catalog = DocumentCatalog(docs)
    rows = [r for r, g in zip(first, gone, strict=True) if not g] + second
    ids, total = expected(rows, query)
    page = catalog.page(query)
    assert [d["id"] for d in page.documents] == ids and page.total == total
    assert len(catalog) == len(rows)


def test_publishers_count_live_documents_most_first():
    rows = [
        {"id": "a", "publisher": "河口区"},
        {"id": "b", "publisher": "上街区委"},
        {"id": "c", "publisher": "上街区委"},
        {"id": "d", "publisher": None},
        {"id": "e"},
        {"id": "f", "publisher": "河口区"},
        {"id": "g", "publisher": "甲" * 400},  # 1,200 bytes: not offered as a choice
    ]
    live = np.array([True, True, True, True, True, False, True])
    assert DocumentCatalog(Segments([(document_table(rows), live)])).publishers() == [("上街区委", 2), ("河口区", 1)]
    assert DocumentCatalog([]).publishers() == [] and DocumentCatalog([]).page(DocumentQuery()).documents == []


def test_a_plain_list_of_documents_is_listed_too():
    rows = [{"id": "x.txt", "title": "乙", "published": "2021-01-02"}, {"id": "y.txt", "title": "甲"}]
    page = DocumentCatalog(rows).page(DocumentQuery(order="asc"))
    assert [d["id"] for d in page.documents] == ["x.txt", "y.txt"] and page.next_offset is None


@settings(max_examples=60, deadline=None)
@given(documents(), documents(), queries)
def test_the_next_version_reuses_a_kept_tables_order(first, added, query):
    # After an upload the index version keeps the segments it had (the same table objects) and adds
    # one: the kept table is not sorted again, and the list is what sorting every row would give.
    added = [{**r, "id": "new-" + r["id"]} for r in added]
    kept = document_table(first)
    before = DocumentCatalog(Segments([(kept, None)]))
    assert [d["id"] for d in before.page(query).documents] == expected(first, query)[0]
    sorted_once = catalog_module._PER_TABLE[kept][query.order]
    after = DocumentCatalog(Segments([(kept, None), (document_table(added), None)]))
    page = after.page(query)
    ids, total = expected(first + added, query)
    assert [d["id"] for d in page.documents] == ids and page.total == total
    assert catalog_module._PER_TABLE[kept][query.order] is sorted_once


@pytest.mark.parametrize("added_first", [False, True])
def test_an_uploads_rows_are_placed_among_a_large_tables_rows_as_a_full_sort_would(added_first):
    # A table eight times larger than the rest keeps its order; the others' rows are placed by a binary
    # search, ties (the same date and title) going by where each row is stored.
    rng = random.Random(5)
    day = ["2021-03-05", "2021-04-16", "2020-12-31", "", None]
    big = [{"id": f"k{i:03d}", "title": rng.choice("甲乙丙"), "published": rng.choice(day)} for i in range(120)]
    small = [{"id": f"n{i}", "title": rng.choice("甲乙丙"), "published": rng.choice(day)} for i in range(12)]
    parts = [(document_table(small), None), (document_table(big), None)]
    rows = small + big
    if not added_first:
        parts, rows = parts[::-1], big + small
    catalog = DocumentCatalog(Segments(parts))
    for order in ("desc", "asc"):
        query = DocumentQuery(order=order, limit=200)
        assert [d["id"] for d in catalog.page(query).documents] == expected(rows, query)[0]
