"""A full build from a corpus streamed one document at a time, holding none of it in memory.

``qa-service index`` used to load the whole corpus as Python objects (documents, articles with a
cleaned copy of their text, passages) before tokenizing any of it: about 11 KB a passage, so a
million passages needed over 10 GB before the index itself.  Here each document, as it comes out of
cleaning and chunking, is written to disk and dropped: its text and its passages' texts appended to
the two files the index keeps (``doc_text.bin``, ``chunk_text.bin``), its records appended to the
record tables' files (index/records.py), its passage rows kept (24 bytes a passage).  Once the
stream ends, the names learned from the whole corpus are known, so the passages are read back from
disk in order, cut and counted in worker processes (each block's postings moved to a file as it
comes, counting.BlockSpill), the postings file is written by ranges of terms
(counting.write_scattered), and the texts and tables are hard-linked into the version folder: the
result is the same index, file for file, as ``EmbeddedIndex.build`` of the same corpus in memory
(tests/test_spool.py).

What still grows with the corpus: the terms (each worker's table of the terms it has seen, the new
terms each block brings as arrays, about 18 bytes a term, the merged term table), each block's term
ids and counts (8 bytes per distinct term of a block), the passage rows and the documents' key
hashes (24 and 8 bytes), and the page layout of PDFs (about 18 bytes a character).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, islice
from pathlib import Path
from typing import Any

import numpy as np

from qa_service.core.errors import DocumentError
from qa_service.core.models import Article, Chunk, CorpusStream, Document, fingerprint_of
from qa_service.core.progress import progress_bar
from qa_service.core.tokenizer import Tokenizer
from qa_service.index.base import EMPTY_CORPUS
from qa_service.index.documents import article_record, document_record
from qa_service.index.embedded.config import IndexSettings
from qa_service.index.embedded.store import EmbeddedIndex, new_manifest
from qa_service.index.embedded.words import index_passages
from qa_service.index.layout import LayoutStore
from qa_service.index.publish import map_bytes
from qa_service.index.records import ARTICLE_COLUMNS, DOCUMENT_COLUMNS, RecordWriter, key_hash, row_cells, table_columns

CHUNK_TEXT, DOC_TEXT = "chunk_text.bin", "doc_text.bin"
READ_BLOCK = 1 << 24  # bytes of passage text read back at a time


class CorpusSpool:
    """Documents written to a folder on the index's filesystem as they come (``add``), then indexed
    (``index``).  Remove the folder with ``discard`` once the index is saved (its texts are
    hard-linked into the version folder) or if the build fails."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        self.folder = folder
        self._chunk_file = open(folder / CHUNK_TEXT, "wb")  # noqa: SIM115 - closed by close()
        self._doc_file = open(folder / DOC_TEXT, "wb")  # noqa: SIM115
        self.chunk_bounds = array("q", [0])
        self.doc_bounds = array("q", [0])
        self.chunk_meta = array("q")  # article, char_start, char_end of each passage
        # The records, appended to files of the folder as they come (index/records.py).
        self.documents = RecordWriter(DOCUMENT_COLUMNS, "id", folder, "documents")
        self.articles = RecordWriter(ARTICLE_COLUMNS, None, folder, "articles")
        self.kept: list[str] = []  # the documents' ids, in order
        self._pages: list[np.ndarray] = []
        self._boxes: list[np.ndarray] = []
        self._originals: dict[str, tuple[Path, str]] = {}
        self._run = 0  # characters of paged documents so far

    def add(self, doc: Document, articles: list[Article], chunks: list[Chunk]) -> None:
        self.add_entry(doc, _entry(doc, articles, chunks, self._run))
        if doc.layout is not None:
            paged = LayoutStore.from_documents([doc])
            self._pages.append(paged.pages)
            self._boxes.append(paged.boxes)
            self._originals.update(paged.originals)
            self._run += len(doc.text)

    def add_entry(self, doc: Document, entry: SpoolEntry) -> None:
        """``add`` of a document whose records and texts were encoded elsewhere (``spool_entry``)."""
        base = len(self.articles)
        self.documents.add_cells(entry.document, entry.key)
        for cells in entry.articles:
            self.articles.add_cells(cells)
        self.kept.append(doc.id)
        _append(self._doc_file, self.doc_bounds, doc.text)
        self._chunk_file.write(b"".join(entry.passages))
        self.chunk_bounds.extend(islice(accumulate(map(len, entry.passages), initial=self.chunk_bounds[-1]), 1, None))
        meta = np.array(entry.meta, dtype=np.int64).reshape(-1, 3)
        meta[:, 0] += base
        self.chunk_meta.frombytes(meta.tobytes())

    def __len__(self) -> int:
        return len(self.chunk_bounds) - 1

    def index(
        self,
        settings: IndexSettings,
        user_words: Sequence[str],
        paths: list[str],
        digests: dict[str, str],
        show_progress: bool = False,
    ) -> EmbeddedIndex:
        """The index of everything added, its texts mapped from the spooled files; ``digests``: those
        of the documents added (the index's fingerprint)."""
        t0 = time.perf_counter()
        self._chunk_file.close()
        self._doc_file.close()
        if not len(self):
            raise DocumentError(EMPTY_CORPUS, "empty_corpus")
        tokenizer = Tokenizer(user_words, bigrams=settings.bigrams, segmenter=settings.segmenter)
        documents, articles = self.documents.finish(), self.articles.finish()
        bounds = np.frombuffer(self.chunk_bounds, dtype=np.int64)
        meta = np.frombuffer(self.chunk_meta, dtype=np.int64).reshape(-1, 3)
        texts = SpooledTexts(self.folder / CHUNK_TEXT, bounds)
        with progress_bar(len(texts), "indexing", "passage", show_progress) as advance:
            bm25, words = index_passages(texts, meta, articles, tokenizer, settings, None, advance, self.folder)
        counts = {
            "documents": len(documents),
            "articles": len(articles),
            "passages": len(self),
            "terms": len(bm25.vocab),
        }
        manifest = new_manifest(settings, paths, fingerprint_of(digests), counts, time.perf_counter() - t0)
        index = EmbeddedIndex(
            bm25,
            tokenizer,
            map_bytes(self.folder / CHUNK_TEXT),
            bounds,
            meta,
            articles,
            documents,
            map_bytes(self.folder / DOC_TEXT),
            np.frombuffer(self.doc_bounds, dtype=np.int64),
            manifest,
            layout=self._layout(),
            words=words,
        )
        index.spooled = self.folder
        return index

    def _layout(self) -> LayoutStore:
        if not self._pages:
            return LayoutStore.from_documents([])
        return LayoutStore(np.concatenate(self._pages), np.concatenate(self._boxes), dict(self._originals))

    def discard(self) -> None:
        for f in (self._chunk_file, self._doc_file):
            f.close()
        self.documents.close()
        self.articles.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class SpoolEntry:
    """A document as ``CorpusSpool.add`` writes it, encoded where it was cleaned (``spool_entry``):
    its records' cells, its passages' texts as UTF-8, and their article (within the document) and
    range.  Sent between processes, its pickle is half the size of the articles' and passages' it
    stands for and quicker to read back, and the process that collects every document only
    appends it."""

    document: list[bytes]
    key: int
    articles: list[list[bytes]]
    passages: list[bytes]
    meta: list[int]  # article, char_start, char_end of each passage


_DOCUMENT_TABLE, _ARTICLE_TABLE = table_columns(DOCUMENT_COLUMNS), table_columns(ARTICLE_COLUMNS)


def spool_entry(
    doc: Document, articles: list[Article], chunks: list[Chunk]
) -> SpoolEntry | tuple[list[Article], list[Chunk]]:
    """What the spool writes of a document, made in the ingest worker (``CorpusStream.prepared``).
    A paged document (a PDF) is left as it is: its record says where its characters start among all
    the paged documents', which only the spool knows."""
    return (articles, chunks) if doc.layout is not None else _entry(doc, articles, chunks, 0)


def _entry(doc: Document, articles: list[Article], chunks: list[Chunk], run: int) -> SpoolEntry:
    """``run``: where the document's characters start among the paged documents' (if it is paged)."""
    return SpoolEntry(
        row_cells(_DOCUMENT_TABLE, document_record(doc, articles, run)),
        key_hash(doc.id),
        [row_cells(_ARTICLE_TABLE, article_record(a)) for a in articles],
        [c.text.encode("utf-8") for c in chunks],
        [v for c in chunks for v in (c.article, c.char_start, c.char_end)],
    )


def spooled_index(
    stream: CorpusStream, root: Path, settings: IndexSettings, show_progress: bool = False
) -> tuple[EmbeddedIndex, CorpusSpool]:
    """The index of a streamed corpus, spooled in a folder of ``root`` (the index folder, so that its
    texts can be hard-linked into the version).  Discard the spool once the index is saved."""
    spool = CorpusSpool(root / f".spool-{uuid.uuid4().hex[:12]}")
    try:
        for doc, made in stream.prepared(spool_entry):
            if isinstance(made, SpoolEntry):
                spool.add_entry(doc, made)
            else:
                spool.add(doc, *made)
        kept = {doc_id: stream.digests[doc_id] for doc_id in spool.kept}
        return spool.index(settings, stream.user_words, stream.paths, kept, show_progress), spool
    except BaseException:
        spool.discard()
        raise


class SpooledTexts(Sequence[str]):
    """The passage texts of a spooled file, read in order in large blocks (not mapped: a mapping
    would keep every page read resident in the building process)."""

    def __init__(self, path: Path, bounds: np.ndarray) -> None:
        self.path = path
        self.bounds = bounds

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        a, b = int(self.bounds[i]), int(self.bounds[i + 1])
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return os.pread(fd, b - a, a).decode("utf-8")
        finally:
            os.close(fd)

    def __iter__(self) -> Iterator[str]:
        with open(self.path, "rb") as f:
            i, n = 0, len(self)
            while i < n:
                # As many whole passages as fit in READ_BLOCK (at least one).
                j = max(i + 1, int(np.searchsorted(self.bounds, self.bounds[i] + READ_BLOCK, side="right")) - 1)
                j = min(j, n)
                block = f.read(int(self.bounds[j] - self.bounds[i]))
                base = int(self.bounds[i])
                for k in range(i, j):
                    yield block[int(self.bounds[k]) - base : int(self.bounds[k + 1]) - base].decode("utf-8")
                i = j


def _append(f: Any, bounds: array, text: str) -> None:
    data = text.encode("utf-8")
    f.write(data)
    bounds.append(bounds[-1] + len(data))
