"""Run the offline stages in order: load -> clean -> segment -> chunk."""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import Any

from qa_service.core.models import Article, Chunk, ChunkSettings, Corpus, CorpusStream, Document, document_digest
from qa_service.core.parallel import bounded_imap, default_workers
from qa_service.core.progress import progress, progress_bar
from qa_service.ingest.chunking import chunk_article
from qa_service.ingest.cleaning import clean_document
from qa_service.ingest.loaders import load_paths
from qa_service.ingest.segment import segment
from qa_service.ingest.userdict import NameCounter

log = logging.getLogger(__name__)

# Documents per unit of work, and the fewest worth starting worker processes for.
BATCH = 256
PARALLEL_MIN_DOCS = 2000


def process_document(doc: Document, settings: ChunkSettings) -> tuple[list[Article], list[Chunk]]:
    articles = segment(doc, clean_document(doc.text))
    chunks = [c for a in articles for c in chunk_article(a, doc.text, settings)]
    return articles, chunks


# What a consumer of the stream makes of a kept document (its articles and chunks), worked out in the
# worker process that made them: the spooled build encodes a document's records and texts there, so
# the process collecting the documents, which every document passes through, has less to do.
Prepare = Callable[[Document, list[Article], list[Chunk]], Any]


@dataclass
class _Batch:
    """A batch of documents as a worker process returns it: each one's number of articles and chunks
    and ``prepare`` of them (the articles and chunks themselves without one; None for a document
    left without chunks), and the batch's share of the learned names and the documents' digests
    (worked out beside the cleaning, not in the process that collects the batches)."""

    results: list[tuple[int, int, Any]]
    names: Counter[str]
    digests: list[str]  # of each document, in order (two documents may share an id)


def _process_batch(args: tuple[list[Document], ChunkSettings, Prepare | None]) -> _Batch:
    docs, settings, prepare = args
    names = NameCounter()
    results = [_process(d, settings, prepare, names) for d in docs]
    return _Batch(results, names.counts, [document_digest(d) for d in docs])


def _process(
    doc: Document, settings: ChunkSettings, prepare: Prepare | None, names: NameCounter
) -> tuple[int, int, Any]:
    articles, chunks = process_document(doc, settings)
    if not chunks:
        return len(articles), 0, None
    names.add(articles)
    return len(articles), len(chunks), (articles, chunks) if prepare is None else prepare(doc, articles, chunks)


def _processed(
    docs: Iterable[Document],
    settings: ChunkSettings,
    show_progress: bool,
    workers: int | None,
    names: NameCounter,
    prepare: Prepare | None,
) -> Iterator[tuple[Document, tuple[int, int, Any], str]]:
    """Each document with its sizes and what ``_process`` made of it, and its digest, in order; in
    worker processes when there are ``PARALLEL_MIN_DOCS`` or more, a few batches in flight at a time
    (the input may be a stream).  The names learned from the articles of documents left with chunks
    go to ``names``."""
    workers = default_workers() if workers is None else workers
    total = len(docs) if isinstance(docs, Sized) else None
    it = iter(docs)
    head = list(islice(it, PARALLEL_MIN_DOCS))
    if workers <= 1 or len(head) < PARALLEL_MIN_DOCS:
        for doc in progress(chain(head, it), desc="segmenting", unit="doc", enabled=show_progress, total=total):
            yield doc, _process(doc, settings, prepare, names), document_digest(doc)
        return
    batches = ((batch, settings, prepare) for batch in _batches(chain(head, it), BATCH))
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with progress_bar(total, "segmenting", "doc", show_progress) as advance, ctx.Pool(workers) as pool:
        for (batch, _, _), done in bounded_imap(pool, _process_batch, batches, 2 * workers):
            names.counts.update(done.names)
            yield from zip(batch, done.results, done.digests, strict=True)
            advance(len(batch))


def _batches(items: Iterator[Document], size: int) -> Iterator[list[Document]]:
    while batch := list(islice(items, size)):
        yield batch


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
    return stream_corpus(docs, settings, show_progress, paths, workers).collect()


def stream_corpus(
    docs: Iterable[Document],
    settings: ChunkSettings = ChunkSettings(),
    show_progress: bool = False,
    paths: list[str] | None = None,
    workers: int | None = None,
) -> CorpusStream:
    """``docs`` cleaned, segmented and chunked one at a time as the stream is read (documents
    left without text are skipped); the names to keep whole are learned on the way."""
    stream = CorpusStream(lambda prepare: iter(()), paths=paths or [])  # _kept fills in the stream it reads
    stream.prepared = partial(_kept, stream, docs, settings, show_progress, workers)
    return stream


def _kept(
    stream: CorpusStream,
    docs: Iterable[Document],
    settings: ChunkSettings,
    show_progress: bool,
    workers: int | None,
    prepare: Prepare | None,
) -> Iterator[tuple[Document, Any]]:
    names = NameCounter()
    counts = [0, 0, 0]
    for doc, (articles, chunks, made), digest in _processed(docs, settings, show_progress, workers, names, prepare):
        stream.digests[doc.id] = digest
        if not chunks:
            log.warning("skipping %s: no text left after cleaning", doc.id)
            continue
        counts[0] += 1
        counts[1] += articles
        counts[2] += chunks
        yield doc, made
    stream.user_words = names.names()
    log.info("%d documents, %d articles, %d passages", *counts)
