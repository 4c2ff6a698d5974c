"""Documents, their articles and original texts, as every backend stores and serves them."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from qa_service.core.models import Article, Corpus


def corpus_records(corpus: Corpus) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The documents and articles as every backend lists them (``/api/documents`` and the source view)."""
    articles = [
        {**a.meta(), "index": a.index, "char_start": a.char_start, "char_end": a.char_end} for a in corpus.articles
    ]
    n_articles = Counter(a.doc_id for a in corpus.articles)
    first: dict[str, Article] = {}
    for a in corpus.articles:
        first.setdefault(a.doc_id, a)
    documents = []
    for d in corpus.documents:
        fa = first.get(d.id)
        documents.append(
            {
                "id": d.id,
                "path": d.path,
                "format": d.format,
                "title": d.title or (fa.title if fa else d.id),
                "publisher": d.publisher or (fa.publisher if fa else None),
                "published": d.published or (fa.published if fa else None),
                "url": d.url,
                "articles": n_articles.get(d.id, 0),
                "chars": len(d.text),
            }
        )
    return documents, articles


class DocumentLookup:
    """Documents, their articles and original texts (packed in one UTF-8 blob), by document id.

    Shared by every backend: retrieval may move to an engine, the source view and the
    answer's checks against the cited document stay local.
    """

    documents: list[dict[str, Any]]
    articles: list[dict[str, Any]]
    _doc_pos: dict[str, int]
    _doc_text: bytes | memoryview
    _doc_bounds: np.ndarray

    def document_text(self, doc_id: str) -> str:
        pos = self._doc_pos.get(doc_id)
        if pos is None:
            return ""
        a, b = self._doc_bounds[pos], self._doc_bounds[pos + 1]
        return bytes(self._doc_text[a:b]).decode("utf-8")

    def document(self, doc_id: str) -> dict[str, Any] | None:
        pos = self._doc_pos.get(doc_id)
        if pos is None:
            return None
        text = self.document_text(doc_id)
        arts = [{k: v for k, v in art.items() if k != "document"} for art in self.articles if art["document"] == doc_id]
        return {**self.documents[pos], "text": text, "articles_list": arts}
