"""Documents, their articles and original texts, as every backend stores and serves them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from qa_service.core.kept import Kept
from qa_service.core.models import Article, Corpus, Document, Hit
from qa_service.index.layout import LayoutStore, layout_record
from qa_service.index.records import ARTICLE_COLUMNS, DOCUMENT_COLUMNS, RecordTable


def corpus_records(corpus: Corpus) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The documents and articles as every backend lists them (``/api/documents`` and the source view)."""
    by_doc: dict[str, list[Article]] = {}
    for a in corpus.articles:
        by_doc.setdefault(a.doc_id, []).append(a)
    documents = []
    run = 0  # where the next paged document's characters start in the layout arrays (index/layout.py)
    for d in corpus.documents:
        documents.append(document_record(d, by_doc.get(d.id, []), run))
        if d.layout is not None:
            run += len(d.text)
    return documents, [article_record(a) for a in corpus.articles]


def corpus_tables(corpus: Corpus) -> tuple[RecordTable, RecordTable]:
    """``corpus_records`` as the tables an index keeps (records.py): the documents found by id."""
    documents, articles = corpus_records(corpus)
    return document_table(documents), article_table(articles)


def document_table(documents: list[dict[str, Any]]) -> RecordTable:
    return RecordTable.from_rows(documents, DOCUMENT_COLUMNS, key="id")


def article_table(articles: list[dict[str, Any]]) -> RecordTable:
    return RecordTable.from_rows(articles, ARTICLE_COLUMNS)


def document_record(doc: Document, articles: list[Article], run: int) -> dict[str, Any]:
    """One document's entry in the documents list; ``run``: where its characters start in the layout
    arrays, if it is paged."""
    first = articles[0] if articles else None
    record = {
        "id": doc.id,
        "path": doc.path,
        "format": doc.format,
        "title": doc.title or (first.title if first else doc.id),
        "publisher": doc.publisher or (first.publisher if first else None),
        "published": doc.published or (first.published if first else None),
        "url": doc.url,
        "articles": len(articles),
        "chars": len(doc.text),
    }
    if doc.layout is not None:
        record.update(layout_record(doc, run))
    return record


def article_record(a: Article) -> dict[str, Any]:
    return {**a.meta(), "index": a.index, "char_start": a.char_start, "char_end": a.char_end}


# Article rows a passage reads, decoded once per index: a question's 30 passages come from a few
# articles, and a server is asked about the same ones again.  Bounded: emptied when full.
ARTICLE_ROWS_KEPT = 4096


class DocumentLookup:
    """Documents, their articles and original texts (packed in one UTF-8 blob), by document id.

    Shared by every backend: retrieval may move to an engine, the source view and the
    answer's checks against the cited document stay local.
    """

    documents: RecordTable  # found by id (its key column)
    articles: RecordTable
    _doc_text: bytes | memoryview
    _doc_bounds: np.ndarray
    layout: LayoutStore | None = None  # the page layout of paged documents (PDFs), if any

    def document_text(self, doc_id: str) -> str:
        pos = self.documents.position(doc_id)
        if pos is None:
            return ""
        a, b = self._doc_bounds[pos], self._doc_bounds[pos + 1]
        return bytes(self._doc_text[a:b]).decode("utf-8")

    def document(self, doc_id: str) -> dict[str, Any] | None:
        pos = self.documents.position(doc_id)
        if pos is None:
            return None
        text = self.document_text(doc_id)
        rows = np.flatnonzero(self.articles.equal_any("document", [doc_id])).tolist()
        arts = [{k: v for k, v in self.articles[i].items() if k != "document"} for i in rows]
        return {**self.documents[pos], "text": text, "articles_list": arts}

    def record(self, doc_id: str) -> dict[str, Any] | None:
        """The document's entry in the documents list (no text: cheap)."""
        pos = self.documents.position(doc_id)
        return None if pos is None else self.documents[pos]

    def article(self, art_no: int) -> dict[str, Any]:
        """Row ``art_no`` of the articles table, decoded once (shared: callers must not change it)."""
        kept: Kept[int, dict[str, Any]] | None = self.__dict__.get("_article_rows")
        if kept is None:  # the backends' own constructors build the tables: the rows are kept from here
            kept = self._article_rows = Kept(ARTICLE_ROWS_KEPT)
        row = kept.get(art_no)
        return kept.keep(art_no, self.articles[art_no]) if row is None else row

    def _layout_run(self, doc_id: str) -> list[int] | None:
        if self.layout is None:  # no paged document: no lookup (every hit of every question asks)
            return None
        pos = self.documents.position(doc_id)
        # One cell, not the whole row: every hit of every question asks.
        return None if pos is None else self.documents.cell(pos, "layout")

    def locator(self, doc_id: str, start: int, end: int) -> Callable[[], dict[str, Any]] | None:
        """For a paged document: what tells a citation of [start, end) its page and boxes."""
        run = self._layout_run(doc_id)
        if run is None or self.layout is None:
            return None
        return partial(self.layout.locate, run, start, end)

    def char_boxes(self, doc_id: str, start: int, end: int) -> dict[str, Any] | None:
        """Page and per-line boxes of the document's characters [start, end); None if not paged."""
        run = self._layout_run(doc_id)
        if run is None or self.layout is None:
            return None
        return self.layout.locate(run, start, end)

    def original_file(self, doc_id: str) -> Path | None:
        """The kept original of a paged document (to render its pages), if there is one."""
        pos = self.documents.position(doc_id)
        if pos is None or self.layout is None or "original" not in self.documents[pos]:
            return None
        return self.layout.original(self.documents[pos]["original"])


class LocatingRanker:
    """A ranker whose hits know where their passages sit on the page: for a backend whose rows come
    back from an engine (Milvus) without the index's page layout."""

    def __init__(self, ranker: Any, lookup: DocumentLookup) -> None:
        self._ranker = ranker
        self._lookup = lookup

    @property
    def mode(self) -> str:
        return self._ranker.mode

    def rank(self, *args: Any, **kwargs: Any) -> list[Hit]:
        hits = self._ranker.rank(*args, **kwargs)
        for hit in hits:
            c = hit.chunk
            c.locate = self._lookup.locator(c.doc_id, c.char_start, c.char_end)
        return hits

    def __getattr__(self, name: str) -> Any:  # everything else is the wrapped ranker's
        return getattr(self._ranker, name)
