"""Run the offline stages in order: load -> clean -> segment -> chunk."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .chunking import ChunkSettings, chunk_article
from .cleaning import clean_document
from .loaders import load_paths
from .models import Article, Chunk, Document
from .progress import progress
from .segment import segment

log = logging.getLogger(__name__)


@dataclass
class Corpus:
    documents: list[Document] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    # Global article number of each chunk, parallel to ``chunks``.
    chunk_article: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def fingerprint(self) -> str:
        return documents_fingerprint(self.documents)


def documents_fingerprint(documents: Iterable[Document]) -> str:
    h = hashlib.sha256()
    for d in sorted(documents, key=lambda d: d.id):
        h.update(d.id.encode() + b"\0" + hashlib.sha1(d.text.encode()).digest())
    return h.hexdigest()


def process_document(doc: Document, settings: ChunkSettings) -> tuple[list[Article], list[Chunk]]:
    articles = segment(doc, clean_document(doc.text))
    chunks = [c for a in articles for c in chunk_article(a, doc.text, settings)]
    return articles, chunks


def build_corpus(
    paths: Iterable[str | Path], settings: ChunkSettings = ChunkSettings(), show_progress: bool = False
) -> Corpus:
    """Load every file under ``paths`` and run it through clean, segment and chunk."""
    paths = [str(Path(p).resolve()) for p in paths]
    return corpus_from_documents(list(load_paths(paths)), settings, show_progress, paths)


def corpus_from_documents(
    docs: list[Document],
    settings: ChunkSettings = ChunkSettings(),
    show_progress: bool = False,
    paths: list[str] | None = None,
) -> Corpus:
    corpus = Corpus(paths=paths or [])
    for doc in progress(docs, desc="segmenting", unit="doc", enabled=show_progress):
        articles, chunks = process_document(doc, settings)
        if not chunks:
            log.warning("skipping %s: no text left after cleaning", doc.id)
            continue
        base = len(corpus.articles)
        corpus.documents.append(doc)
        corpus.articles.extend(articles)
        for c in chunks:
            corpus.chunks.append(c)
            corpus.chunk_article.append(base + c.article)
    log.info("%d documents, %d articles, %d passages", len(corpus.documents), len(corpus.articles), len(corpus.chunks))
    return corpus
