"""The embedded backend: the index folder, and how it is built, saved, loaded and searched.

``EmbeddedIndex`` is the default ``Backend`` (index/base.py): BM25 over jieba+bigram tokens, a
self-contained folder holding passages, article metadata and the original text of every document, so
citations and the source view never depend on the corpus files still being where they were.
Optionally it also holds one embedding per passage (``vectors``, see index/embeddings.py), which
rankers.py fuses with BM25.

On disk, ``INDEX_DIR/CURRENT`` names the live version folder.  A build writes a new version folder
under a temporary name, fsyncs it, renames it into place and only then atomically replaces
``CURRENT``: a crash at any point leaves the previous index live and intact.  Every file's SHA-256 is
in the manifest, so a corrupted or truncated file is detected on load.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Collection, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_service.core.errors import IndexCorrupt, IndexIncompatible
from qa_service.core.models import Chunk, Corpus
from qa_service.core.progress import progress_bar
from qa_service.core.tokenizer import Tokenizer
from qa_service.index.documents import DocumentLookup, corpus_tables
from qa_service.index.embedded.bm25 import BM25, BM25Params, CorpusStats
from qa_service.index.embedded.config import IndexSettings, index_tokenizer
from qa_service.index.embedded.rankers import make_ranker
from qa_service.index.embedded.words import WordStarts, index_passages
from qa_service.index.embeddings import (
    DEFAULT_BATCH,
    KEY_BYTES,
    Embedder,
    EmbedStats,
    PassageVectors,
    embed_passages,
    embedding_text,
)
from qa_service.index.layout import LayoutStore
from qa_service.index.publish import (
    FolderWriter,
    VersionWriter,
    json_bytes,
    map_array,
    map_bytes,
    npy_bytes,
    pack_texts,
    read_live_manifest,
)
from qa_service.index.records import RecordTable

if TYPE_CHECKING:
    from qa_service.index.base import Filters, Ranker
    from qa_service.index.fusion import FusionSettings

log = logging.getLogger(__name__)

# 2: BM25 as BM25.save writes it; embeddings are optional extra files.  3: BM25 records its total length
# and mean idf, which a version of several segments (segments.py) needs.  4: passages' word starts (words.py).
# 5: the documents and articles as record tables read in place (index/records.py), not JSON lists.
FORMAT_VERSION = 5
EMBEDDINGS = "embeddings.npy"
EMBEDDING_KEYS = "embedding_keys.npy"
REBUILD = "rebuild with `qa-service index`"


def new_manifest(
    settings: IndexSettings, paths: list[str], fingerprint: str, counts: dict[str, int], seconds: float
) -> dict[str, Any]:
    """The manifest of a full build, in memory or spooled (spool.py)."""
    return {
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "segment_id": uuid.uuid4().hex,  # follows the folder into every version that keeps it
        "settings": settings.to_dict(),
        "corpus": {"paths": paths, "fingerprint": fingerprint},
        "counts": counts,
        "build_seconds": round(seconds, 3),
    }


class EmbeddedIndex(DocumentLookup):
    name = "embedded"

    def __init__(
        self,
        bm25: BM25,
        tokenizer: Tokenizer,
        chunk_text: bytes | memoryview,
        chunk_bounds: np.ndarray,
        chunk_meta: np.ndarray,
        articles: RecordTable,
        documents: RecordTable,
        doc_text: bytes | memoryview,
        doc_bounds: np.ndarray,
        manifest: dict[str, Any],
        vectors: PassageVectors | None = None,
        layout: LayoutStore | None = None,
        words: WordStarts | None = None,
    ) -> None:
        self.bm25 = bm25
        self.tokenizer = tokenizer
        self._chunk_text = chunk_text
        self._chunk_bounds = chunk_bounds  # byte offsets into chunk_text, len n+1
        self._chunk_meta = chunk_meta  # (n, 3) int64: article, char_start, char_end
        self.articles = articles
        self.documents = documents
        self._doc_text = doc_text
        self._doc_bounds = doc_bounds
        self.manifest = manifest
        self.vectors = vectors
        self.layout = layout
        self.words = words  # where each passage's words start (None: not stored, the reader cuts them)
        self.spooled: Path | None = None  # the folder of a spooled build's texts (spool.py), linked in on save
        self.location: Path | None = None  # the version folder it was saved to or loaded from

    # -- building -------------------------------------------------------
    @classmethod
    def build(
        cls,
        corpus: Corpus,
        settings: IndexSettings = IndexSettings(),
        show_progress: bool = False,
        embedder: Embedder | None = None,
        previous: PassageVectors | None = None,
        batch_size: int = DEFAULT_BATCH,
        tokenizer: Tokenizer | None = None,
        stats: CorpusStats | None = None,
    ) -> EmbeddedIndex:
        """BM25 over the corpus; with an ``embedder``, passage vectors too, reusing those of
        ``previous`` (the index being replaced) for passages whose text is unchanged.  A segment added
        to a live index (segments.py) is cut by that index's ``tokenizer`` and weighed by its ``stats``."""
        t0 = time.perf_counter()
        if tokenizer is None:
            tokenizer = Tokenizer(corpus.user_words, bigrams=settings.bigrams, segmenter=settings.segmenter)
        documents, articles = corpus_tables(corpus)
        chunk_meta = np.array(
            [(a, c.char_start, c.char_end) for c, a in zip(corpus.chunks, corpus.chunk_article, strict=True)],
            dtype=np.int64,
        ).reshape(-1, 3)
        texts = [c.text for c in corpus.chunks]
        with progress_bar(len(texts), "indexing", "passage", show_progress) as advance:
            # Worker processes (one per core) cut and count; small corpora stay in this process.
            bm25, words = index_passages(texts, chunk_meta, articles, tokenizer, settings, stats, advance)
        chunk_text, chunk_bounds = pack_texts(texts)
        doc_text, doc_bounds = pack_texts([d.text for d in corpus.documents])
        counts = {
            "documents": len(documents),
            "articles": len(articles),
            "passages": len(corpus.chunks),
            "terms": len(bm25.vocab),
        }
        manifest = new_manifest(settings, corpus.paths, corpus.fingerprint(), counts, time.perf_counter() - t0)
        layout = LayoutStore.from_documents(corpus.documents)
        index = cls(
            bm25, tokenizer, chunk_text, chunk_bounds, chunk_meta, articles, documents, doc_text, doc_bounds, manifest,
            layout=layout, words=words,
        )  # fmt: skip
        if embedder is not None:
            index.embed(embedder, previous, batch_size, show_progress)
        return index

    def embed(
        self,
        embedder: Embedder,
        previous: PassageVectors | None = None,
        batch_size: int = DEFAULT_BATCH,
        show_progress: bool = False,
    ) -> EmbedStats:
        """Give every passage a vector from ``embedder``; rows of ``previous`` (default: the vectors
        this index already has) are reused where the passage text and the model are the same."""
        texts = [embedding_text(self.chunk(i)) for i in range(len(self))]
        previous = previous if previous is not None else self.vectors
        self.vectors, stats = embed_passages(embedder, texts, previous, batch_size, show_progress)
        self.manifest["embeddings"] = {
            **self.vectors.meta(),
            "computed": stats.computed,
            "reused": stats.reused,
            "seconds": round(stats.seconds, 3),
        }
        log.info(
            "embedded %d passages with %s in %.1fs (%d reused)",
            stats.computed,
            embedder.model_id,
            stats.seconds,
            stats.reused,
        )
        return stats

    # -- searching ------------------------------------------------------
    def __len__(self) -> int:
        return self.bm25.n_docs

    def search(self, tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        ids, scores = self.bm25.top_k(tokens, k)
        return [(int(i), float(s)) for i, s in zip(ids, scores, strict=True)]

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        return self.bm25.scores(tokens)

    def passage_mask(self, filters: Filters) -> np.ndarray:
        """Which passages match ``filters``: decided per article, spread to the passages by article."""
        return filters.article_mask(self.articles)[self._passage_articles()]

    def live_mask(self) -> np.ndarray | None:
        """Which passages are not deleted: None, all of them (a folder of its own has no deletions)."""
        return None

    def document_mask(self, doc_ids: Collection[str]) -> np.ndarray:
        """Which passages belong to one of the documents ``doc_ids``."""
        return self.articles.equal_any("document", doc_ids)[self._passage_articles()]

    def _passage_articles(self) -> np.ndarray:
        return np.asarray(self._chunk_meta[:, 0], dtype=np.int64)

    def chunk_text(self, i: int) -> str:
        a, b = self._chunk_bounds[i], self._chunk_bounds[i + 1]
        return bytes(self._chunk_text[a:b]).decode("utf-8")

    def chunk(self, i: int) -> Chunk:
        art_no, start, end = (int(x) for x in self._chunk_meta[i])
        art = self.article(art_no)
        text = self.chunk_text(i)
        return Chunk(
            id=f"{art['document']}#{art['index']}.{i}",
            text=text,
            char_start=start,
            char_end=end,
            doc_id=art["document"],
            article=art["index"],
            title=art["title"],
            published=art["published"],
            publisher=art["publisher"],
            attribution=art["attribution"],
            section=art["section"],
            locate=self.locator(art["document"], start, end),
            words=None if self.words is None else partial(self.words.starts, i, len(text)),
        )

    # -- the Backend protocol -----------------------------------------------------------
    def term_idf(self, term: str) -> float | None:
        return self.bm25.term_idf(term)

    @property
    def max_idf(self) -> float:
        return self.bm25.max_idf

    def make_ranker(self, embedder: Embedder | None, fusion: FusionSettings) -> Ranker:
        return make_ranker(self, embedder, fusion)

    def health(self) -> None:
        """Nothing to check: the index is in this process."""

    def close(self) -> None:
        """Nothing to release: the files are memory-mapped and unmapped with the object."""

    def summary(self) -> list[str]:
        c = self.manifest["counts"]
        where = f" -> {self.location}" if self.location else ""
        lines = [f"indexed {c['documents']} documents, {c['articles']} articles, {c['passages']} passages{where}"]
        if "embeddings" in self.manifest:
            e = self.manifest["embeddings"]
            lines.append(
                f"embedded {e.get('computed', 0)} passages with {e['model_id']} in {e.get('seconds', 0)}s "
                f"({e.get('reused', 0)} reused)"
            )
        return lines

    # -- persistence ----------------------------------------------------
    def save(self, index_dir: str | Path) -> Path:
        """Write a new version folder and switch ``CURRENT`` to it atomically."""
        with VersionWriter(Path(index_dir)) as out:
            manifest, kept = self._put_files(out)
            where, self.manifest = out.publish(manifest)
        self._saved_to(where, kept)
        log.info("index written to %s", where)
        return where

    def save_segment(self, folder: Path) -> dict[str, Any]:
        """Write the index as a segment: the new folder ``folder`` (inside a version being written)
        with its own manifest; returns the manifest."""
        out = FolderWriter(folder)
        manifest, kept = self._put_files(out)
        self.manifest = out.finish(manifest)
        self._saved_to(folder, kept)
        return self.manifest

    def _put_files(self, out: FolderWriter) -> tuple[dict[str, Any], dict[str, int]]:
        """Every file of the index put in ``out``; the manifest to finish it with, the originals kept."""
        for name, meta in self.bm25.save(out.tmp).items():  # bm25.json, bm25_*.npy, bm25_terms.bin, …
            out.files[name] = meta
        out.put("userdict.json", json_bytes(self.tokenizer.user_words))
        self._put_text(out, "chunk_text.bin", self._chunk_text)
        out.put("chunk_bounds.npy", npy_bytes(self._chunk_bounds))
        out.put("chunk_meta.npy", npy_bytes(self._chunk_meta))
        self.articles.save(out, "articles")
        self.documents.save(out, "documents")
        self._put_text(out, "doc_text.bin", self._doc_text)
        out.put("doc_bounds.npy", npy_bytes(self._doc_bounds))
        if self.words is not None:
            self.words.save(out)
        manifest = {k: v for k, v in self.manifest.items() if k not in ("embeddings", "originals", "files")}
        kept = self.layout.save(out) if self.layout is not None else {}
        if kept:
            manifest["originals"] = kept
        if self.vectors is not None:
            out.put(EMBEDDINGS, npy_bytes(np.asarray(self.vectors.matrix, dtype=np.float32)))
            out.put(EMBEDDING_KEYS, npy_bytes(np.asarray(self.vectors.keys, dtype=np.uint8)))
            manifest["embeddings"] = {**self.manifest.get("embeddings", {}), **self.vectors.meta()}
        return manifest, kept

    def _put_text(self, out: FolderWriter, name: str, data: bytes | memoryview) -> None:
        if self.spooled is not None and (self.spooled / name).is_file():
            out.put_file(name, self.spooled / name)
        else:
            out.put(name, bytes(data))

    def _saved_to(self, where: Path, kept: dict[str, int]) -> None:
        self.location = where
        if self.layout is not None:
            self.layout.saved_to(where, kept)

    def moved_to(self, where: Path) -> None:
        """The same files, now (hard-linked) in ``where``: a segment a newer version keeps."""
        self._saved_to(where, self.manifest.get("originals", {}))

    @classmethod
    def load(cls, index_dir: str | Path, verify: bool = True, tokenizer: str | None = None) -> EmbeddedIndex:
        """The live version in ``index_dir``; ``tokenizer``: the configured QA_TOKENIZER, which must be
        the one that built it (None: whichever did)."""
        root = Path(index_dir)
        vdir, manifest = read_live_manifest(root, "index", REBUILD, verify)
        return cls.load_folder(vdir, manifest, root, configured=tokenizer)

    @classmethod
    def load_folder(
        cls,
        vdir: Path,
        manifest: dict[str, Any],
        root: Path,
        configured: str | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> EmbeddedIndex:
        """The index in the (checked) folder ``vdir``: a version, or a segment of one.  ``tokenizer``:
        the one the other segments of its version already loaded (else made from the folder)."""
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexIncompatible(
                f"index in {root} has format version {manifest.get('format_version')}, this program reads "
                f"version {FORMAT_VERSION}: rebuild it with `qa-service index`"
            )
        try:
            bm25 = BM25.load(vdir, mmap=True)
            params = BM25Params(**manifest["settings"]["bm25"])
            if bm25.params != params or bm25.n_docs != manifest["counts"]["passages"]:
                raise ValueError("the BM25 files do not match the manifest")
            if tokenizer is None:
                user_words = json.loads((vdir / "userdict.json").read_text("utf-8"))
                tokenizer = index_tokenizer(manifest, user_words, root, configured)
            index = cls(
                bm25,
                tokenizer,
                map_bytes(vdir / "chunk_text.bin"),
                map_array(vdir / "chunk_bounds.npy"),
                map_array(vdir / "chunk_meta.npy"),
                RecordTable.load(vdir, "articles"),
                RecordTable.load(vdir, "documents"),
                map_bytes(vdir / "doc_text.bin"),
                map_array(vdir / "doc_bounds.npy"),
                manifest,
                _load_vectors(vdir, manifest),
                LayoutStore.load(vdir, manifest),
                WordStarts.load(vdir),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(f"index in {vdir} cannot be read ({exc}): rebuild with `qa-service index`") from exc
        index.location = vdir
        return index


def _load_vectors(vdir: Path, manifest: dict[str, Any]) -> PassageVectors | None:
    meta = manifest.get("embeddings")
    if not meta:
        return None
    if EMBEDDINGS not in manifest.get("files", {}) or EMBEDDING_KEYS not in manifest.get("files", {}):
        raise IndexCorrupt(f"{vdir} lists embeddings but not their files: rebuild with `qa-service index`")
    matrix = np.load(vdir / EMBEDDINGS, mmap_mode="r")
    keys = np.load(vdir / EMBEDDING_KEYS, mmap_mode="r")
    n = manifest["counts"]["passages"]
    if matrix.dtype != np.float32 or matrix.shape != (n, meta["dim"]) or keys.shape != (n, KEY_BYTES):
        raise IndexCorrupt(
            f"embeddings in {vdir} have shape {matrix.shape}, not ({n}, {meta['dim']}): rebuild with `qa-service index`"
        )
    return PassageVectors(model=meta["model"], model_id=meta["model_id"], matrix=matrix, keys=keys)
