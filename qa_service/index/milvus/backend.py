"""Milvus backend: the same retrieval seam as the embedded index, with the passages in a Milvus collection.

Only retrieval moves.  Loading, cleaning, segmenting, chunking and answer
composition are the embedded pipeline's, unchanged; what differs is where the
passages are searched:

* **In Milvus** (one collection per corpus, ``QA_MILVUS_COLLECTION``): one row
  per passage with its text, every field of ``source`` the API returns
  (document, article, title, section, published, publisher, attribution,
  char_start, char_end), the analysed search text, a sparse vector filled by
  Milvus's built-in BM25 function, and the passage embedding when an embedding
  model is configured.  BM25 ranking, dense ranking and their fusion (Milvus
  hybrid search with a weighted or RRF ranker) happen there (``rankers.py``).
* **In a small local metadata store** (``QA_INDEX_DIR/milvus/<collection>/``,
  versioned and checksummed like the embedded index): the documents list, each
  document's original text (``/api/documents/<id>`` and the answer's off-topic
  check read it), the articles, the user dictionary learned from the corpus,
  and each term's document frequency (answer composition weighs question words
  by idf).  No postings and no passage text: it is a few percent of the corpus.

Analyzers (``QA_MILVUS_ANALYZER``): ``jieba+bigrams`` (default) stores the terms
of this service's own tokenizer (jieba with the learned dictionary, plus
character bigrams), which Milvus splits on whitespace, so Milvus ranks with
exactly the terms the embedded index uses.  ``chinese`` hands the raw text to
Milvus's built-in Chinese analyzer (jieba without our dictionary and without
bigrams); Milvus Lite 2.5 accepts neither a custom jieba dictionary nor an
n-gram tokenizer, so that gap cannot be closed inside Milvus (docs/milvus.md).

Re-indexing is incremental and per document (``sync.py``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa_service.core.errors import DocumentError, IndexCorrupt, IndexIncompatible, IndexMissing
from qa_service.core.models import Corpus, CorpusStream
from qa_service.core.settings import Settings
from qa_service.core.tokenizer import Tokenizer
from qa_service.index.base import EMPTY_CORPUS, Backend, Ranker
from qa_service.index.documents import DocumentLookup, LocatingRanker, article_table, document_table
from qa_service.index.embedded.store import IndexSettings, index_tokenizer
from qa_service.index.embeddings import Embedder, query_encoder
from qa_service.index.fusion import FusionSettings
from qa_service.index.layout import LayoutStore
from qa_service.index.milvus.config import (
    INDEX_HINT,
    META_FORMAT,
    MilvusCollectionMissing,
    MilvusConfig,
    MilvusSchemaMismatch,
    meta_dir,
)
from qa_service.index.milvus.rankers import MilvusBM25Ranker, MilvusHybridRanker
from qa_service.index.milvus.store import MilvusStore, shared_store
from qa_service.index.milvus.sync import SyncStats, TermStats, meta_manifest, prepare, save_meta, sync
from qa_service.index.publish import map_bytes, read_live_manifest

log = logging.getLogger(__name__)

REINDEX = "re-index with --backend milvus"


def pointer_dir(settings: Settings) -> Path:
    """The folder whose ``CURRENT`` names the live version: the metadata store of the collection."""
    return meta_dir(settings)


class MilvusIndex(DocumentLookup):
    """The Backend with retrieval in Milvus and documents and term statistics from the local store."""

    name = "milvus"

    def __init__(
        self,
        store: MilvusStore,
        tokenizer: Tokenizer,
        terms: TermStats,
        documents: list[dict[str, Any]],
        articles: list[dict[str, Any]],
        doc_text: bytes | memoryview,
        doc_bounds: np.ndarray,
        manifest: dict[str, Any],
        root: Path,
        native_weighted: bool | None = None,
    ) -> None:
        self.store = store
        self.tokenizer = tokenizer
        self.terms = terms
        self.documents = document_table(documents)
        self.articles = article_table(articles)
        self._doc_text = doc_text
        self._doc_bounds = doc_bounds
        self.manifest = manifest
        self.root = root  # the metadata store
        self.native_weighted = native_weighted  # see MilvusHybridRanker
        self.stats: SyncStats | None = None  # what the build that returned this index did

    @property
    def embedding(self) -> dict[str, Any] | None:
        return self.manifest.get("embeddings")

    def __len__(self) -> int:
        return int(self.manifest["counts"]["passages"])

    # -- term statistics ------------------------------------------------------------------------
    def term_idf(self, term: str) -> float | None:
        return self.terms.term_idf(term)

    @property
    def max_idf(self) -> float:
        return self.terms.max_idf

    # -- life cycle -----------------------------------------------------------------------------
    def health(self) -> None:
        """Raise a MilvusError unless the collection answers: MilvusUnavailable (a BackendUnavailable)
        when Milvus does not, MilvusCollectionMissing when the collection is gone."""
        if not self.store.exists():
            raise MilvusCollectionMissing(
                f"collection {self.store.config.collection!r} does not exist on {self.store.config.where()}"
            )

    def close(self) -> None:
        self.store.close()

    def summary(self) -> list[str]:
        """What `qa-service index` prints after a build."""
        c, config = self.manifest["counts"], self.store.config
        lines = [
            f"indexed {c['documents']} documents, {c['articles']} articles, {c['passages']} passages -> collection "
            f"{config.collection!r} on {config.where()} (metadata in {self.root})"
        ]
        st = self.stats
        if st is not None:
            recreated = " (collection re-created)" if st.recreated else ""
            lines.append(f"milvus: {st.summary()} in {st.seconds:.1f}s{recreated}")
            if self.embedding:
                lines.append(f"embedded {st.embedded} passages with {self.embedding['model_id']}")
        return lines

    # -- retrieval ------------------------------------------------------------------------------
    def make_ranker(self, embedder: Embedder | None, fusion: FusionSettings) -> Ranker:
        """The ranker below; with PDFs, its hits carry their page and boxes (index/layout.py)."""
        ranker = self._engine_ranker(embedder, fusion)
        return LocatingRanker(ranker, self) if self.layout is not None and len(self.layout.pages) else ranker

    def _engine_ranker(self, embedder: Embedder | None, fusion: FusionSettings) -> Ranker:
        """Milvus hybrid search when a model is loaded and the collection holds its vectors; else BM25."""
        if embedder is None:
            return MilvusBM25Ranker(self.store)
        emb = self.embedding
        if not emb:
            log.warning(
                "the Milvus collection has no passage embeddings: retrieval is BM25 only until it is re-indexed "
                "(qa-service index --backend milvus --recreate, with QA_EMBEDDING_MODEL set)"
            )
            return MilvusBM25Ranker(self.store)
        if emb.get("model_id") != embedder.model_id or int(emb.get("dim", 0)) != embedder.dim:
            log.warning(
                "the Milvus collection's embeddings were made by %s, not the configured %s: retrieval is BM25 only "
                "until it is re-indexed (qa-service index --backend milvus --recreate)",
                emb.get("model_id"),
                embedder.model_id,
            )
            return MilvusBM25Ranker(self.store)
        return MilvusHybridRanker(self.store, query_encoder(embedder), fusion, self.native_weighted)

    def apply(self, added: Corpus, removed: Sequence[str], embedder: Embedder | None = None) -> None:
        """None: a write rebuilds from the corpus folders (the sync then updates the collection by document)."""
        return None

    def merge_plan(self) -> list[str]:
        return []  # Milvus merges its own segments

    def merge(self, names: Sequence[str]) -> Any:
        raise NotImplementedError("Milvus merges its own segments")

    def replace(self, names: Sequence[str], merged: Any, snapshot: Backend) -> None:
        raise NotImplementedError("Milvus merges its own segments")

    def add_vectors(self, embedder: Embedder, settings: Settings, show_progress: bool = False) -> bool:
        """Never here: a collection's vectors are written when the corpus is indexed, and another model
        needs a new collection (``--recreate``); until then make_ranker ranks by BM25 and says why."""
        return False

    # -- building and opening -------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        corpus: Corpus,
        settings: Settings,
        embedder: Embedder | None = None,
        previous: Backend | None = None,
        show_progress: bool = False,
        recreate: bool = False,
        *,
        index_settings: IndexSettings | None = None,
    ) -> MilvusIndex:
        """Load ``corpus`` into the configured collection (incrementally: only changed documents are
        replaced, and embedded) and publish a new metadata version; the result is opened, with its
        SyncStats on it.  ``previous`` (the live index) lends its connection."""
        t0 = time.perf_counter()
        config = MilvusConfig.from_settings(settings)
        store = _store_for(config, previous)
        index_settings = index_settings or IndexSettings(segmenter=settings.build_tokenizer)
        prepared = prepare(corpus, config.analyzer, index_settings)
        stats = sync(store, prepared, embedder, recreate, show_progress, settings.embedding_batch)
        manifest = meta_manifest(corpus, config, index_settings, prepared, stats, embedder)
        manifest["build_seconds"] = round(time.perf_counter() - t0, 3)
        save_meta(meta_dir(settings), prepared, manifest)
        index = cls._open(settings, store, check=False)
        index.stats = stats
        return index

    @classmethod
    def create_streamed(
        cls,
        stream: CorpusStream,
        settings: Settings,
        embedder: Embedder | None = None,
        previous: Backend | None = None,
        show_progress: bool = False,
        recreate: bool = False,
    ) -> MilvusIndex:
        """``create`` of the whole streamed corpus: the collection is synced from the corpus in memory."""
        corpus = stream.collect()
        if not corpus.chunks:
            raise DocumentError(EMPTY_CORPUS, "empty_corpus")
        return cls.create(corpus, settings, embedder, previous, show_progress, recreate)

    @classmethod
    def open(
        cls,
        settings: Settings,
        previous: Backend | None = None,
        check: bool = True,
        *,
        native_weighted: bool | None = None,
    ) -> MilvusIndex:
        """The live metadata version of the configured collection; with ``check``, the collection is
        verified to exist with the schema, analyzer and embeddings the metadata says.  ``previous``
        (the live index) lends its connection; ``native_weighted`` is MilvusHybridRanker's."""
        store = _store_for(MilvusConfig.from_settings(settings), previous)
        return cls._open(settings, store, check, native_weighted)

    @classmethod
    def _open(
        cls, settings: Settings, store: MilvusStore, check: bool, native_weighted: bool | None = None
    ) -> MilvusIndex:
        config, root = store.config, meta_dir(settings)
        vdir, manifest = _read_manifest(root, config)
        try:
            index = cls(
                store,
                index_tokenizer(manifest, _json(vdir, "userdict.json"), vdir, settings.tokenizer),
                TermStats(_json(vdir, "terms.json"), np.load(vdir / "df.npy"), manifest["counts"]["passages"]),
                _json(vdir, "documents.json"),
                _json(vdir, "articles.json"),
                map_bytes(vdir / "doc_text.bin"),
                np.load(vdir / "doc_bounds.npy"),
                manifest,
                root,
                native_weighted,
            )
            index.layout = LayoutStore.load(vdir, manifest)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(f"Milvus metadata in {vdir} cannot be read ({exc}): {REINDEX}") from exc
        if check:
            desc = store.check()
            if (desc.get("embedding") or None) != (manifest.get("embeddings") or None):
                raise MilvusSchemaMismatch(
                    f"collection {config.collection!r} on {config.where()} does not match the local metadata in "
                    f"{root} (embeddings differ): re-index with {INDEX_HINT}"
                )
        return index


def _store_for(config: MilvusConfig, previous: Backend | None) -> MilvusStore:
    """The live index's connection when it is to the same collection, else the process's shared one."""
    if isinstance(previous, MilvusIndex) and previous.store.config == config:
        return previous.store
    return shared_store(config)


def _read_manifest(root: Path, config: MilvusConfig) -> tuple[Path, dict[str, Any]]:
    """The live version and its manifest, checked to be Milvus metadata of this format and analyzer,
    with every file intact."""
    try:
        vdir, manifest = read_live_manifest(root, "Milvus metadata", REINDEX)
    except IndexMissing as exc:
        raise IndexMissing(
            f"no Milvus metadata for collection {config.collection!r} in {root}: index the corpus with {INDEX_HINT}"
        ) from exc
    if manifest.get("format_version") != META_FORMAT or manifest.get("backend") != "milvus":
        raise IndexIncompatible(f"{vdir} is not Milvus metadata this version reads: {REINDEX}")
    analyzer = manifest.get("milvus", {}).get("analyzer")
    if analyzer != config.analyzer:
        raise MilvusSchemaMismatch(
            f"collection {config.collection!r} was indexed with the {analyzer!r} analyzer, but QA_MILVUS_ANALYZER "
            f"is {config.analyzer!r}"
        )
    return vdir, manifest


def _json(vdir: Path, name: str) -> Any:
    return json.loads((vdir / name).read_text("utf-8"))
