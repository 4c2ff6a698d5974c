"""Loading a corpus into Milvus: rows and term statistics, the incremental sync, the metadata store.

Re-indexing is incremental and per document: a document's rows carry a
version (a hash of everything stored for it); a document whose version changed
is deleted by id and inserted again, a document that left the corpus is
deleted, and unchanged documents are not touched (nor re-embedded).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa_service.core.models import Corpus
from qa_service.core.progress import progress_bar
from qa_service.core.tokenizer import Tokenizer
from qa_service.index.documents import corpus_records
from qa_service.index.embedded.bm25 import BM25Params, TermIdf, okapi_idf
from qa_service.index.embedded.store import IndexSettings
from qa_service.index.embeddings import Embedder, embedding_text
from qa_service.index.layout import LayoutStore
from qa_service.index.milvus.config import (
    MAX_VARCHAR,
    META_FORMAT,
    OPTIONAL_FIELDS,
    RECREATE_HINT,
    SCHEMA_VERSION,
    MilvusConfig,
    MilvusError,
    MilvusSchemaMismatch,
)
from qa_service.index.milvus.rankers import row_chunk
from qa_service.index.milvus.store import MilvusStore
from qa_service.index.publish import VersionWriter, json_bytes, npy_bytes, pack_texts

log = logging.getLogger(__name__)


# -- term statistics for answer composition ------------------------------------------------------
class TermStats(TermIdf):
    """Per-term document frequencies of the passages, with the embedded BM25's idf (okapi_idf).
    Answer composition weighs question words by it; ranking itself is Milvus's."""

    def __init__(self, terms: list[str], df: np.ndarray, n_docs: int, params: BM25Params = BM25Params()) -> None:
        self.terms = terms
        self.vocab = {t: i for i, t in enumerate(terms)}
        self.df = np.asarray(df, dtype=np.int64)
        self.n_docs = n_docs
        self.idf = okapi_idf(self.df.astype(np.float64), n_docs, params).astype(np.float32)

    @classmethod
    def from_tokens(cls, token_lists: Iterable[Sequence[str]]) -> TermStats:
        df: Counter[str] = Counter()
        n = 0
        for tokens in token_lists:
            df.update(set(tokens))
            n += 1
        terms = sorted(df)
        return cls(terms, np.array([df[t] for t in terms], dtype=np.int64), n)


# -- rows of a corpus -------------------------------------------------------------------------------
@dataclass
class Prepared:
    """A corpus made ready for Milvus: rows per document, term statistics, the local metadata."""

    tokenizer: Tokenizer
    terms: TermStats
    rows: dict[str, list[dict[str, Any]]]  # doc_id -> its rows, without vectors
    versions: dict[str, str]
    documents: list[dict[str, Any]]
    articles: list[dict[str, Any]]
    texts: list[str]
    passages: int
    layout: LayoutStore | None = None  # the page layout of the PDFs (index/layout.py)


def _check_len(value: str, what: str, doc_id: str) -> str:
    if len(value.encode("utf-8")) > MAX_VARCHAR:
        raise MilvusError(f"{what} of a passage of {doc_id!r} is longer than Milvus's {MAX_VARCHAR}-byte limit")
    return value


def _fit(value: str) -> str:
    """The search text cut to Milvus's VARCHAR limit at a term boundary (terms past it are not searched)."""
    data = value.encode("utf-8")
    if len(data) <= MAX_VARCHAR:
        return value
    cut = data[:MAX_VARCHAR].decode("utf-8", errors="ignore")
    return cut.rsplit(" ", 1)[0] if " " in cut else cut


def _versions(rows: dict[str, list[dict[str, Any]]], analyzer: str) -> dict[str, str]:
    """Each document's version (a hash of its rows), written into its rows with their count."""
    versions = {}
    for doc_id, doc_rows in rows.items():
        h = hashlib.sha256(f"{SCHEMA_VERSION}\0{analyzer}\0".encode())
        for r in doc_rows:
            r["n_passages"] = len(doc_rows)
            h.update(json_bytes(r))
        versions[doc_id] = h.hexdigest()[:32]
        for r in doc_rows:
            r["version"] = versions[doc_id]
    return versions


def prepare(corpus: Corpus, analyzer: str, settings: IndexSettings = IndexSettings()) -> Prepared:
    """Rows for every passage, tokenized as the embedded index tokenizes them."""
    tokenizer = Tokenizer(corpus.user_words, bigrams=settings.bigrams, segmenter=settings.segmenter)
    rows: dict[str, list[dict[str, Any]]] = {}
    token_lists = []
    arts = corpus.articles
    for c, a in zip(corpus.chunks, corpus.chunk_article, strict=True):
        bm25_text = f"{c.title} {c.section or ''} {c.text}" if settings.title_in_passages else c.text
        tokens = tokenizer.tokens(bm25_text)
        token_lists.append(tokens)
        doc_rows = rows.setdefault(c.doc_id, [])
        doc_rows.append(
            {
                "doc_id": c.doc_id,
                "seq": len(doc_rows),
                "article": arts[a].index,
                "char_start": c.char_start,
                "char_end": c.char_end,
                "text": _check_len(c.text, "the text", c.doc_id),
                "title": _check_len(c.title, "the title", c.doc_id),
                **{k: _check_len(getattr(c, k) or "", k, c.doc_id) for k in OPTIONAL_FIELDS},
                "search_text": _fit(" ".join(tokens) if analyzer == "jieba+bigrams" else bm25_text),
            }
        )
    documents, articles = corpus_records(corpus)
    return Prepared(
        tokenizer=tokenizer,
        terms=TermStats.from_tokens(token_lists),
        rows=rows,
        versions=_versions(rows, analyzer),
        documents=documents,
        articles=articles,
        texts=[d.text for d in corpus.documents],
        passages=len(corpus.chunks),
        layout=LayoutStore.from_documents(corpus.documents),
    )


# -- syncing the collection -------------------------------------------------------------------------
@dataclass
class SyncStats:
    documents: int = 0
    passages: int = 0
    inserted_documents: int = 0
    inserted_passages: int = 0
    deleted_documents: int = 0
    unchanged_documents: int = 0
    embedded: int = 0
    recreated: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.inserted_documents} documents ({self.inserted_passages} passages) inserted or replaced, "
            f"{self.deleted_documents} deleted, {self.unchanged_documents} unchanged"
        )


def embedding_meta(embedder: Embedder | None) -> dict[str, Any] | None:
    if embedder is None:
        return None
    return {"model": embedder.name, "model_id": embedder.model_id, "dim": int(embedder.dim)}


def _ready(store: MilvusStore, embedding: dict[str, Any] | None, recreate: bool) -> None:
    """The collection, (re-)created if asked or missing, checked to hold vectors of ``embedding``."""
    if recreate:
        store.drop()
    if not store.exists():
        store.create(embedding)
    desc = store.check()
    if (desc.get("embedding") or None) != embedding:
        have = (desc.get("embedding") or {}).get("model_id") or "no embeddings"
        want = (embedding or {}).get("model_id") or "no embeddings"
        raise MilvusSchemaMismatch(
            f"collection {store.config.collection!r} holds passages with {have}, but this index run has {want}: "
            f"re-create it with {RECREATE_HINT}"
        )


def sync(
    store: MilvusStore,
    prepared: Prepared,
    embedder: Embedder | None = None,
    recreate: bool = False,
    show_progress: bool = False,
    embed_batch: int = 32,
) -> SyncStats:
    """Make the collection hold exactly the prepared rows: replace changed documents (delete by id,
    then insert), delete documents that are gone, leave the rest alone."""
    t0 = time.perf_counter()
    stats = SyncStats(documents=len(prepared.rows), passages=prepared.passages, recreated=recreate)
    _ready(store, embedding_meta(embedder), recreate)
    existing = store.versions()
    gone = sorted(d for d in existing if d not in prepared.rows)
    todo = [d for d, rows in prepared.rows.items() if existing.get(d) != ({prepared.versions[d]}, len(rows), len(rows))]
    store.delete_documents(gone + [d for d in todo if d in existing])
    stats.deleted_documents = len(gone)
    stats.unchanged_documents = len(prepared.rows) - len(todo)
    rows = [r for d in todo for r in prepared.rows[d]]
    batch = max(1, store.config.insert_batch)
    with progress_bar(len(rows), "milvus insert", "passage", show_progress) as advance:
        for i in range(0, len(rows), batch):
            part = [dict(r) for r in rows[i : i + batch]]
            if embedder is not None:
                vecs = _embed(embedder, [embedding_text(row_chunk(r)) for r in part], embed_batch)
                for r, v in zip(part, vecs, strict=True):
                    r["vector"] = v.tolist()
                stats.embedded += len(part)
            store.insert(part)
            advance(len(part))
    stats.inserted_documents = len(todo)
    stats.inserted_passages = len(rows)
    stats.seconds = time.perf_counter() - t0
    log.info("Milvus collection %s: %s in %.1fs", store.config.collection, stats.summary(), stats.seconds)
    return stats


def _embed(embedder: Embedder, texts: list[str], batch: int) -> np.ndarray:
    parts = [embedder.encode_passages(texts[i : i + batch]) for i in range(0, len(texts), max(1, batch))]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, embedder.dim), np.float32)


# -- the local metadata store ------------------------------------------------------------------
def meta_manifest(
    corpus: Corpus,
    config: MilvusConfig,
    settings: IndexSettings,
    prepared: Prepared,
    stats: SyncStats,
    embedder: Embedder | None,
) -> dict[str, Any]:
    """The manifest of a metadata version: where the passages are, how they were made, what the sync did."""
    manifest: dict[str, Any] = {
        "format_version": META_FORMAT,
        "backend": "milvus",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "milvus": {"uri": config.where(), "collection": config.collection, "analyzer": config.analyzer},
        "settings": settings.to_dict(),
        "corpus": {"paths": corpus.paths, "fingerprint": corpus.fingerprint()},
        "counts": {
            "documents": len(prepared.documents),
            "articles": len(prepared.articles),
            "passages": prepared.passages,
            "terms": len(prepared.terms.terms),
        },
        "sync": {k: v for k, v in asdict(stats).items() if k not in ("documents", "passages")},
    }
    manifest["sync"]["seconds"] = round(stats.seconds, 3)
    if embedder is not None:
        manifest["embeddings"] = embedding_meta(embedder)
    return manifest


def save_meta(root: Path, prepared: Prepared, manifest: dict[str, Any]) -> Path:
    """Write a new metadata version folder and switch ``CURRENT`` to it atomically."""
    with VersionWriter(root) as out:
        doc_text, doc_bounds = pack_texts(prepared.texts)
        out.put("documents.json", json_bytes(prepared.documents))
        out.put("articles.json", json_bytes(prepared.articles))
        out.put("userdict.json", json_bytes(prepared.tokenizer.user_words))
        out.put("terms.json", json_bytes(prepared.terms.terms))
        out.put("df.npy", npy_bytes(prepared.terms.df))
        out.put("doc_text.bin", doc_text)
        out.put("doc_bounds.npy", npy_bytes(doc_bounds))
        kept = prepared.layout.save(out) if prepared.layout is not None else {}
        where, _ = out.publish({**manifest, "originals": kept} if kept else manifest)
    return where
