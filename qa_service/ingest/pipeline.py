"""Run the offline stages in order: load -> clean -> segment -> chunk."""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Iterable, Iterator
from pathlib import Path

from qa_service.core.models import Article, Chunk, ChunkSettings, Corpus, Document
from qa_service.core.parallel import default_workers
from qa_service.core.progress import progress, progress_bar
from qa_service.ingest.chunking import chunk_article
from qa_service.ingest.cleaning import clean_document
from qa_service.ingest.loaders import load_paths
from qa_service.ingest.segment import segment
from qa_service.ingest.userdict import learn_names

log = logging.getLogger(__name__)

# Documents per unit of work, and the fewest worth starting worker processes for.
BATCH = 256
PARALLEL_MIN_DOCS = 2000


def process_document(doc: Document, settings: ChunkSettings) -> tuple[list[Article], list[Chunk]]:
    articles = segment(doc, clean_document(doc.text))
    chunks = [c for a in articles for c in chunk_article(a, doc.text, settings)]
    return articles, chunks


def _process_batch(args: tuple[list[Document], ChunkSettings]) -> list[tuple[list[Article], list[Chunk]]]:
    docs, settings = args
    return [process_document(d, settings) for d in docs]


def _processed(
    docs: list[Document], settings: ChunkSettings, show_progress: bool, workers: int | None
) -> Iterator[tuple[Document, tuple[list[Article], list[Chunk]]]]:
    """Each document with its articles and chunks, in order; in worker processes for large corpora."""
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(docs) < PARALLEL_MIN_DOCS:
        for doc in progress(docs, desc="segmenting", unit="doc", enabled=show_progress):
            yield doc, process_document(doc, settings)
        return
    batches = [docs[i : i + BATCH] for i in range(0, len(docs), BATCH)]
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with progress_bar(len(docs), "segmenting", "doc", show_progress) as advance, ctx.Pool(workers) as pool:
        for batch, results in zip(batches, pool.imap(_process_batch, [(b, settings) for b in batches]), strict=True):
            yield from zip(batch, results, strict=True)
            advance(len(batch))


def build_corpus(
    paths: Iterable[str | Path],
    settings: ChunkSettings = ChunkSettings(),
    show_progress: bool = False,
    workers: int | None = None,
) -> Corpus:
    """Load every file under ``paths`` and run it through clean, segment and chunk."""
    paths = [str(Path(p).resolve()) for p in paths]
    return corpus_from_documents(list(load_paths(paths)), settings, show_progress, paths, workers)


def corpus_from_documents(
    docs: list[Document],
    settings: ChunkSettings = ChunkSettings(),
    show_progress: bool = False,
    paths: list[str] | None = None,
    workers: int | None = None,
) -> Corpus:
    """Clean, segment and chunk ``docs``; with ``PARALLEL_MIN_DOCS`` or more, in ``workers`` processes
    (default: one per core).  The result is the same either way."""
    corpus = Corpus(paths=paths or [])
    for doc, (articles, chunks) in _processed(docs, settings, show_progress, workers):
        if not chunks:
            log.warning("skipping %s: no text left after cleaning", doc.id)
            continue
        base = len(corpus.articles)
        corpus.documents.append(doc)
        corpus.articles.extend(articles)
        for c in chunks:
            corpus.chunks.append(c)
            corpus.chunk_article.append(base + c.article)
    corpus.user_words = learn_names(corpus.articles)
    log.info("%d documents, %d articles, %d passages", len(corpus.documents), len(corpus.articles), len(corpus.chunks))
    return corpus
