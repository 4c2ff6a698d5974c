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
  hybrid search with a weighted or RRF ranker) happen there.
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

Re-indexing is incremental and per document: a document's rows carry a
version (a hash of everything stored for it); a document whose version changed
is deleted by id and inserted again, a document that left the corpus is
deleted, and unchanged documents are not touched (nor re-embedded).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import shutil
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from qa_service.core.models import Chunk, Hit
from qa_service.core.progress import progress_bar
from qa_service.core.settings import Settings
from qa_service.core.tokenizer import Tokenizer, learn_names
from qa_service.index.embedded.bm25 import BM25Params, max_idf
from qa_service.index.embedded.store import (
    MANIFEST,
    DocumentLookup,
    IndexCorrupt,
    IndexError_,
    IndexIncompatible,
    IndexMissing,
    IndexSettings,
    _json,
    _map_bytes,
    _npy,
    _pack,
    _remove_old_versions,
    _sha256_file,
    _write_file,
    current_version_dir,
    publish_version,
)
from qa_service.index.embeddings import Embedder, QueryEncoder, embedding_text, query_encoder
from qa_service.ingest.pipeline import Corpus, build_corpus, corpus_records, documents_fingerprint
from qa_service.qa.retrieve import Query

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
META_FORMAT = 1
ANALYZERS = ("jieba+bigrams", "chinese")
DEFAULT_COLLECTION = "qa_passages"
MAX_VARCHAR = 65535  # bytes: Milvus's VARCHAR limit
DELETE_GROUP = 200  # document ids per delete expression
INSTALL_HINT = "pip install 'qa-service[milvus]'"
RETRIES = 3  # retries of a transient failure (connection refused, timeout, rate limit)...
BACKOFF = 0.25  # ...after 0.25 s, 0.5 s, 1 s

# The scalar fields of a row, in schema order, and what a Chunk takes from each.
STRING_FIELDS = ("doc_id", "version", "text", "title", "section", "published", "publisher", "attribution")
INT_FIELDS = ("n_passages", "seq", "article", "char_start", "char_end")
OPTIONAL_FIELDS = ("section", "published", "publisher", "attribution")  # None is stored as ""
OUTPUT_FIELDS = ["doc_id", "seq", "article", "char_start", "char_end", "text", "title", *OPTIONAL_FIELDS]


# -- errors ----------------------------------------------------------------------------------
class MilvusError(IndexError_):
    """A Milvus problem reported to the user: the API answers 503 with this message."""


class MilvusNotInstalled(MilvusError):
    pass


class MilvusUnavailable(MilvusError):
    """Milvus cannot be reached (or kept failing after the retries)."""


class MilvusCollectionMissing(MilvusError, IndexMissing):
    pass


class MilvusSchemaMismatch(MilvusError, IndexIncompatible):
    pass


# -- configuration ----------------------------------------------------------------------------
@dataclass(frozen=True)
class MilvusConfig:
    uri: str  # a Milvus Lite file (…/name.db) or http(s)://host:port
    token: str = ""
    collection: str = DEFAULT_COLLECTION
    analyzer: str = "jieba+bigrams"
    timeout: float = 10.0  # seconds per call, pymilvus's own retries included
    retries: int = RETRIES  # our retries of a transient failure, with exponential backoff
    backoff: float = BACKOFF  # seconds before the first retry; doubles each time
    insert_batch: int = 256  # rows per insert call

    @classmethod
    def from_settings(cls, s: Settings) -> MilvusConfig:
        return cls(
            uri=s.milvus_uri or str(Path(s.index_dir) / "milvus.db"),
            token=s.milvus_token or "",
            collection=s.milvus_collection,
            analyzer=s.milvus_analyzer,
            timeout=s.milvus_timeout,
            retries=RETRIES,
            backoff=BACKOFF,
        )

    @property
    def is_file(self) -> bool:
        return not re.match(r"^(?:https?|tcp|unix|grpc)://|^unix:", self.uri)

    def where(self) -> str:
        """The URI for messages: a Lite file by name only, a server without credentials."""
        if self.is_file:
            return f"Milvus Lite file {Path(self.uri).name}"
        parts = urlsplit(self.uri)
        host = parts.hostname or ""
        return f"Milvus at {parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


def meta_dir(settings: Settings) -> Path:
    """Where the local metadata store of the configured collection lives."""
    return Path(settings.index_dir) / "milvus" / settings.milvus_collection


def _pymilvus() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # milvus-lite 2.5 imports pkg_resources, which warns
            import pymilvus
    except ImportError as exc:
        raise MilvusNotInstalled(f"QA_BACKEND=milvus needs pymilvus and milvus-lite: {INSTALL_HINT}") from exc
    return pymilvus


def _transient(exc: BaseException) -> bool:
    """Worth retrying: the server unreachable, a timeout, a rate limit; not a bad request."""
    try:
        import grpc
    except ImportError:  # pragma: no cover - pymilvus depends on grpcio
        grpc = None
    if grpc is not None and isinstance(exc, grpc.RpcError):
        code = exc.code() if callable(getattr(exc, "code", None)) else None
        return code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED)
    code = getattr(exc, "code", None)
    if code in (2, 8):  # ConnectFailed, RateLimit
        return True
    text = str(exc).lower()
    return any(w in text for w in ("unavailable", "deadline", "timeout", "timed out", "connect", "retry run out"))


def _literal(s: str) -> str:
    """A string literal for a Milvus filter expression (Lite 2.5 has no filter templates)."""
    return json.dumps(s, ensure_ascii=False)


# -- the collection ---------------------------------------------------------------------------
class MilvusStore:
    """One collection on one Milvus, with retries, backoff and errors that say what went wrong.

    Connections are made lazily and per process: a store created before a fork reconnects in
    the child, and a failed connection is dropped so the next call makes a new one."""

    def __init__(self, config: MilvusConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._client: Any = None
        self._alias = ""
        self._pid = 0
        self._lock = threading.Lock()
        self._sleep = sleep
        self._lite: bool | None = None

    @property
    def call_timeout(self) -> int:
        # Whole seconds: pymilvus bounds its own retries by an int timeout only (a float means
        # "75 retries", minutes against a server that is down).
        return max(1, math.ceil(self.config.timeout))

    # -- connection ---------------------------------------------------------------------------
    def client(self) -> Any:
        if self._client is not None and self._pid == os.getpid():
            return self._client
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._client = self._connect()
                self._pid = os.getpid()
        return self._client

    def _connect(self) -> Any:
        pm = _pymilvus()
        if self.config.is_file:
            Path(self.config.uri).parent.mkdir(parents=True, exist_ok=True)
        self._alias = f"qa-service-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pm.MilvusClient(
                    uri=self.config.uri, token=self.config.token, timeout=self.config.timeout, alias=self._alias
                )
        except Exception as exc:
            raise MilvusUnavailable(f"cannot connect to {self.config.where()}: {_reason(exc)}") from exc

    def reset(self) -> None:
        """Drop the connection after a failure; the next call connects again."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        if self.config.is_file:
            _release_lite(self.config.uri, only_if_dead=True)  # a crashed Lite server is started afresh

    def close(self) -> None:
        """Disconnect, and stop this process's Milvus Lite server for the file (before another process
        opens it: a Lite file is one process's at a time)."""
        self.reset()
        if self.config.is_file:
            _release_lite(self.config.uri)

    def call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.method(*args, **kwargs)``, retried with exponential backoff on transient errors."""
        attempt = 0
        while True:
            try:
                client = self.client()
                return getattr(client, method)(*args, timeout=self.call_timeout, **kwargs)
            except MilvusUnavailable as exc:  # could not connect: try again
                if attempt >= self.config.retries:
                    raise
                err: BaseException = exc
            except MilvusError:
                raise
            except Exception as exc:
                if not _transient(exc):
                    raise self._translate(what, exc) from exc
                if attempt >= self.config.retries:
                    self.reset()
                    raise MilvusUnavailable(
                        f"{self.config.where()} did not answer ({what}) after {attempt + 1} tries: {_reason(exc)}"
                    ) from exc
                err = exc
                self.reset()
            delay = self.config.backoff * 2**attempt
            log.warning("Milvus %s failed (%s); retrying in %.2fs", what, _reason(err), delay)
            self._sleep(delay)
            attempt += 1

    def _translate(self, what: str, exc: BaseException) -> MilvusError:
        code = getattr(exc, "code", None)
        text = _reason(exc)
        name = self.config.collection
        if code == 100 or "can't find collection" in text.lower() or "collection not found" in text.lower():
            return MilvusCollectionMissing(
                f"collection {name!r} does not exist on {self.config.where()}: index the corpus with "
                "`qa-service index --backend milvus`"
            )
        return MilvusError(f"Milvus {what} failed on collection {name!r}: {text}")

    # -- schema -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self.call("has_collection", "has_collection", self.config.collection))

    def description(self, embedding: dict[str, Any] | None) -> dict[str, Any]:
        return {"qa_service": SCHEMA_VERSION, "analyzer": self.config.analyzer, "embedding": embedding}

    def create(self, embedding: dict[str, Any] | None) -> None:
        """The collection: scalar fields, the analysed search text, BM25 sparse vector, optional dense vector."""
        pm = _pymilvus()
        dt = pm.DataType
        schema = pm.MilvusClient.create_schema(
            auto_id=True, enable_dynamic_field=False, description=json.dumps(self.description(embedding))
        )
        schema.add_field("pk", dt.INT64, is_primary=True)
        for name in STRING_FIELDS:
            schema.add_field(name, dt.VARCHAR, max_length=MAX_VARCHAR)
        for name in INT_FIELDS:
            schema.add_field(name, dt.INT64)
        analyzer = {"type": "chinese"} if self.config.analyzer == "chinese" else {"tokenizer": "whitespace"}
        schema.add_field(
            "search_text", dt.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True, analyzer_params=analyzer
        )
        schema.add_field("sparse", dt.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            pm.Function(
                name="bm25",
                function_type=pm.FunctionType.BM25,
                input_field_names=["search_text"],
                output_field_names=["sparse"],
            )
        )
        if embedding:
            schema.add_field("vector", dt.FLOAT_VECTOR, dim=int(embedding["dim"]))
        params = BM25Params()  # the embedded index's k1 and b
        index = self.client().prepare_index_params()
        index.add_index(
            field_name="sparse",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params={"bm25_k1": params.k1, "bm25_b": params.b},
        )
        if embedding:
            index.add_index(field_name="vector", index_type="AUTOINDEX", metric_type="IP")  # unit vectors: cosine
        self.call(
            "create_collection",
            "create_collection",
            self.config.collection,
            schema=schema,
            index_params=index,
            consistency_level="Strong",  # a search sees every insert and delete made before it
        )
        log.info("created Milvus collection %s on %s", self.config.collection, self.config.where())

    def drop(self) -> None:
        if self.exists():
            self.call("drop_collection", "drop_collection", self.config.collection)

    def check(self) -> dict[str, Any]:
        """The collection's description if its schema is the one this version writes; else a clear error."""
        name, where = self.config.collection, self.config.where()
        if not self.exists():
            raise MilvusCollectionMissing(
                f"collection {name!r} does not exist on {where}: index the corpus with `qa-service index --backend "
                "milvus`"
            )
        info = self.call("describe_collection", "describe_collection", name)
        hint = f"re-create it with `qa-service index --backend milvus --recreate` (collection {name!r} on {where})"
        try:
            desc = json.loads(info.get("description") or "{}")
        except ValueError:
            desc = {}
        if not isinstance(desc, dict) or desc.get("qa_service") != SCHEMA_VERSION:
            raise MilvusSchemaMismatch(
                f"collection {name!r} was not made by this version of qa-service (schema {desc.get('qa_service')!r}"
                f" if any, expected {SCHEMA_VERSION}): {hint}"
                if isinstance(desc, dict)
                else f"collection {name!r} was not made by qa-service: {hint}"
            )
        fields = {f["name"]: f for f in info.get("fields", [])}
        expected = {*STRING_FIELDS, *INT_FIELDS, "pk", "search_text", "sparse"}
        missing = sorted(expected - set(fields))
        if missing:
            raise MilvusSchemaMismatch(f"collection {name!r} lacks the fields {', '.join(missing)}: {hint}")
        if desc.get("analyzer") != self.config.analyzer:
            raise MilvusSchemaMismatch(
                f"collection {name!r} was indexed with the {desc.get('analyzer')!r} analyzer, but QA_MILVUS_ANALYZER "
                f"is {self.config.analyzer!r}: set it back, or {hint}"
            )
        emb = desc.get("embedding")
        if emb and "vector" not in fields:
            raise MilvusSchemaMismatch(f"collection {name!r} lists embeddings but has no vector field: {hint}")
        return desc

    # -- rows ---------------------------------------------------------------------------------
    def versions(self) -> dict[str, tuple[set[str], int, int]]:
        """For each document in the collection: its row versions, its row count, the count it should have."""

        def scan() -> dict[str, tuple[set[str], int, int]]:
            out: dict[str, tuple[set[str], int, int]] = {}
            # Milvus Lite has no server-side timestamp for iterators; pymilvus warns and uses its own.
            logging.getLogger("pymilvus.orm.iterator").setLevel(logging.ERROR)
            it = self.client().query_iterator(
                self.config.collection,
                batch_size=4096,
                output_fields=["doc_id", "version", "n_passages"],
                timeout=self.call_timeout,
            )
            try:
                while True:
                    rows = it.next()
                    if not rows:
                        break
                    for r in rows:
                        vs, n, want = out.get(r["doc_id"], (set(), 0, 0))
                        vs.add(r["version"])
                        out[r["doc_id"]] = (vs, n + 1, max(want, int(r["n_passages"])))
            finally:
                it.close()
            return out

        return self._retrying("scan", scan)

    def _retrying(self, what: str, fn: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            try:
                return fn()
            except MilvusUnavailable:
                if attempt >= self.config.retries:
                    raise
                self._sleep(self.config.backoff * 2**attempt)
                attempt += 1
                continue
            except MilvusError:
                raise
            except Exception as exc:
                if not _transient(exc):
                    raise self._translate(what, exc) from exc
                self.reset()
                if attempt >= self.config.retries:
                    raise MilvusUnavailable(f"{self.config.where()} did not answer ({what}): {_reason(exc)}") from exc
                self._sleep(self.config.backoff * 2**attempt)
                attempt += 1

    def delete_documents(self, doc_ids: Sequence[str]) -> None:
        for i in range(0, len(doc_ids), DELETE_GROUP):
            group = doc_ids[i : i + DELETE_GROUP]
            expr = f"doc_id in [{', '.join(_literal(d) for d in group)}]"
            self.call("delete", "delete", self.config.collection, filter=expr)

    def insert(self, rows: list[dict[str, Any]]) -> None:
        self.call("insert", "insert", self.config.collection, rows)

    def count(self) -> int:
        res = self.call("count", "query", self.config.collection, filter="", output_fields=["count(*)"])
        return int(res[0]["count(*)"])

    def search(self, text: str, k: int, pks: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Passages by BM25; with ``pks``, the scores of those of them that share a term with the text."""
        extra = {"filter": f"pk in [{', '.join(str(int(p)) for p in pks)}]"} if pks else {}
        res = self.call(
            "search",
            "search",
            self.config.collection,
            data=[text],
            anns_field="sparse",
            limit=k,
            output_fields=OUTPUT_FIELDS,
            search_params={"metric_type": "BM25"},
            **extra,
        )
        return list(res[0]) if res else []

    def is_lite(self) -> bool:
        """Milvus Lite (file or server form) rather than a Milvus server or cluster: Lite does not
        implement GetVersion."""
        if self._lite is None:
            try:
                quiet = logging.getLogger("pymilvus.decorators")
                level = quiet.level
                quiet.setLevel(logging.CRITICAL)  # pymilvus logs the UNIMPLEMENTED answer as an error
                try:
                    self.client().get_server_version(timeout=self.call_timeout, retry_times=0)
                finally:
                    quiet.setLevel(level)
                self._lite = False
            except MilvusError:
                raise
            except Exception as exc:
                code = getattr(exc, "code", None)
                code = code() if callable(code) else code
                self._lite = "UNIMPLEMENTED" in f"{code} {exc}"
                if not self._lite and _transient(exc):
                    raise MilvusUnavailable(f"cannot reach {self.config.where()}: {_reason(exc)}") from exc
        return self._lite

    def dense_search(self, vector: np.ndarray, k: int, pks: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Passages by inner product with ``vector``; with ``pks``, the scores of exactly those rows."""
        extra = {"filter": f"pk in [{', '.join(str(int(p)) for p in pks)}]"} if pks else {}
        res = self.call(
            "dense search",
            "search",
            self.config.collection,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="vector",
            limit=k,
            output_fields=OUTPUT_FIELDS,
            search_params={"metric_type": "IP"},
            **extra,
        )
        return list(res[0]) if res else []

    def hybrid_search(self, text: str | None, vector: np.ndarray, k: int, ranker: Any, candidates: int) -> list[dict]:
        pm = _pymilvus()
        reqs = []
        if text:
            reqs.append(
                pm.AnnSearchRequest(data=[text], anns_field="sparse", param={"metric_type": "BM25"}, limit=candidates)
            )
        dense = pm.AnnSearchRequest(
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="vector",
            param={"metric_type": "IP"},
            limit=candidates,
        )
        reqs.append(dense)
        res = self.call(
            "hybrid search",
            "hybrid_search",
            self.config.collection,
            reqs,
            ranker if text else pm.WeightedRanker(1.0),
            limit=k,
            output_fields=OUTPUT_FIELDS,
        )
        return list(res[0]) if res else []


_STORES: dict[MilvusConfig, MilvusStore] = {}
_STORES_LOCK = threading.Lock()


def shared_store(config: MilvusConfig) -> MilvusStore:
    """The process's store for ``config``: app instances and index reloads share one connection."""
    with _STORES_LOCK:
        store = _STORES.get(config)
        if store is None:
            store = _STORES[config] = MilvusStore(config)
        return store


def _release_lite(uri: str, only_if_dead: bool = False) -> None:
    try:
        from milvus_lite.server_manager import server_manager_instance as manager
    except ImportError:
        return
    path = str(Path(uri).absolute().resolve())
    server = manager._servers.get(path)
    proc = getattr(server, "_p", None)
    if server is None or (only_if_dead and proc is not None and proc.poll() is None):
        return
    with contextlib.suppress(Exception):
        manager.release_server(path)


def _reason(exc: BaseException) -> str:
    msg = getattr(exc, "message", None) or str(exc)
    msg = re.sub(r"\s+", " ", str(msg)).strip()
    return msg[:300] or type(exc).__name__


# -- term statistics for answer composition ------------------------------------------------------
class TermStats:
    """Per-term document frequencies of the passages, with the embedded BM25's idf (rank-bm25's
    ``BM25Okapi``: a negative idf becomes epsilon x the mean).  Answer composition weighs question
    words by it; ranking itself is Milvus's."""

    def __init__(self, terms: list[str], df: np.ndarray, n_docs: int, params: BM25Params = BM25Params()) -> None:
        self.terms = terms
        self.vocab = {t: i for i, t in enumerate(terms)}
        self.df = np.asarray(df, dtype=np.int64)
        self.n_docs = n_docs
        idf = np.log(n_docs - self.df + 0.5) - np.log(self.df + 0.5)
        if len(idf):
            idf[idf < 0] = params.epsilon * (math.fsum(idf.tolist()) / len(idf))
        self.idf = idf.astype(np.float32)

    @classmethod
    def from_tokens(cls, token_lists: Iterable[Sequence[str]]) -> TermStats:
        df: Counter[str] = Counter()
        n = 0
        for tokens in token_lists:
            df.update(set(tokens))
            n += 1
        terms = sorted(df)
        return cls(terms, np.array([df[t] for t in terms], dtype=np.int64), n)

    @property
    def max_idf(self) -> float:
        return max_idf(self.n_docs)

    def term_idf(self, term: str) -> float | None:
        i = self.vocab.get(term)
        return float(self.idf[i]) if i is not None else None


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


def _opt(v: str | None) -> str:
    return v or ""


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


def prepare(corpus: Corpus, analyzer: str, settings: IndexSettings = IndexSettings()) -> Prepared:
    """Rows for every passage, tokenized as the embedded index tokenizes them."""
    tokenizer = Tokenizer(learn_names(corpus.articles), bigrams=settings.bigrams)
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
                **{k: _check_len(_opt(getattr(c, k)), k, c.doc_id) for k in OPTIONAL_FIELDS},
                "search_text": _fit(" ".join(tokens) if analyzer == "jieba+bigrams" else bm25_text),
            }
        )
    versions = {}
    for doc_id, doc_rows in rows.items():
        h = hashlib.sha256(f"{SCHEMA_VERSION}\0{analyzer}\0".encode())
        for r in doc_rows:
            r["n_passages"] = len(doc_rows)
            h.update(_json(r))
        versions[doc_id] = h.hexdigest()[:32]
        for r in doc_rows:
            r["version"] = versions[doc_id]
    documents, articles = corpus_records(corpus)
    return Prepared(
        tokenizer=tokenizer,
        terms=TermStats.from_tokens(token_lists),
        rows=rows,
        versions=versions,
        documents=documents,
        articles=articles,
        texts=[d.text for d in corpus.documents],
        passages=len(corpus.chunks),
    )


# -- indexing -------------------------------------------------------------------------------------
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


def _embedding_meta(embedder: Embedder | None) -> dict[str, Any] | None:
    if embedder is None:
        return None
    return {"model": embedder.name, "model_id": embedder.model_id, "dim": int(embedder.dim)}


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
    stats = SyncStats(documents=len(prepared.rows), passages=prepared.passages)
    embedding = _embedding_meta(embedder)
    if recreate:
        store.drop()
        stats.recreated = True
    if not store.exists():
        store.create(embedding)
    desc = store.check()
    if (desc.get("embedding") or None) != embedding:
        have = (desc.get("embedding") or {}).get("model_id") or "no embeddings"
        want = (embedding or {}).get("model_id") or "no embeddings"
        raise MilvusSchemaMismatch(
            f"collection {store.config.collection!r} holds passages with {have}, but this index run has {want}: "
            "re-create it with `qa-service index --backend milvus --recreate`"
        )
    existing = store.versions()
    gone = sorted(d for d in existing if d not in prepared.rows)
    todo = [
        d
        for d in prepared.rows
        if existing.get(d) != ({prepared.versions[d]}, len(prepared.rows[d]), len(prepared.rows[d]))
    ]
    stale = [d for d in todo if d in existing]
    store.delete_documents(gone + stale)
    stats.deleted_documents = len(gone)
    stats.unchanged_documents = len(prepared.rows) - len(todo)
    rows = [r for d in todo for r in prepared.rows[d]]
    batch = max(1, store.config.insert_batch)
    with progress_bar(len(rows), "milvus insert", "passage", show_progress) as advance:
        for i in range(0, len(rows), batch):
            part = [dict(r) for r in rows[i : i + batch]]
            if embedder is not None:
                vecs = _embed(embedder, [embedding_text(_row_chunk(r)) for r in part], embed_batch)
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
def save_meta(root: Path, prepared: Prepared, manifest: dict[str, Any]) -> Path:
    """Write a new metadata version folder and switch ``CURRENT`` to it atomically."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        files: dict[str, dict[str, Any]] = {}

        def put(name: str, data: bytes) -> None:
            _write_file(tmp / name, data)
            files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

        doc_text, doc_bounds = _pack(prepared.texts)
        put("documents.json", _json(prepared.documents))
        put("articles.json", _json(prepared.articles))
        put("userdict.json", _json(prepared.tokenizer.user_words))
        put("terms.json", _json(prepared.terms.terms))
        put("df.npy", _npy(prepared.terms.df))
        put("doc_text.bin", doc_text)
        put("doc_bounds.npy", _npy(doc_bounds))
        version = publish_version(root, tmp, {**manifest, "files": files})
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_old_versions(root, keep=version)
    return root / version


# -- the index seen by the service -------------------------------------------------------------------
class MilvusIndex(DocumentLookup):
    """What QAService needs from an index, with retrieval in Milvus and metadata from the local store."""

    backend = "milvus"
    vectors = None  # passage vectors live in Milvus; hybrid.make_ranker is not used for this index

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
    ) -> None:
        self.store = store
        self.tokenizer = tokenizer
        self.terms = terms
        self.documents = documents
        self.articles = articles
        self._doc_pos = {d["id"]: i for i, d in enumerate(documents)}
        self._doc_text = doc_text
        self._doc_bounds = doc_bounds
        self.manifest = manifest

    @property
    def bm25(self) -> TermStats:
        """Term statistics for answer composition (``term_idf``, ``max_idf``), named as on EmbeddedIndex."""
        return self.terms

    @property
    def embedding(self) -> dict[str, Any] | None:
        return self.manifest.get("embeddings")

    def __len__(self) -> int:
        return int(self.manifest["counts"]["passages"])

    def ping(self) -> None:
        """Raise MilvusError unless the collection answers (the health check)."""
        if not self.store.exists():
            raise MilvusCollectionMissing(
                f"collection {self.store.config.collection!r} does not exist on {self.store.config.where()}"
            )

    def close(self) -> None:
        self.store.close()

    def query_text(self, query: Query) -> str:
        """What Milvus analyses: our terms (jieba+bigrams), or the text for its own analyzer."""
        if self.store.config.analyzer == "jieba+bigrams":
            return " ".join(query.tokens)
        if not query.tokens:
            return ""
        # A follow-up's own words count twice more, as in Retriever.query.
        return f"{query.text} {query.question} {query.question}" if query.followup else query.text

    def make_ranker(self, embedder: Embedder | None, fusion: Any) -> Any:
        """Milvus hybrid search when a model is loaded and the collection holds its vectors; else BM25."""
        if embedder is None:
            return MilvusBM25Ranker(self)
        emb = self.embedding
        if not emb:
            log.warning(
                "the Milvus collection has no passage embeddings: retrieval is BM25 only until it is re-indexed "
                "(qa-service index --backend milvus --recreate, with QA_EMBEDDING_MODEL set)"
            )
            return MilvusBM25Ranker(self)
        if emb.get("model_id") != embedder.model_id or int(emb.get("dim", 0)) != embedder.dim:
            log.warning(
                "the Milvus collection's embeddings were made by %s, not the configured %s: retrieval is BM25 only "
                "until it is re-indexed (qa-service index --backend milvus --recreate)",
                emb.get("model_id"),
                embedder.model_id,
            )
            return MilvusBM25Ranker(self)
        return MilvusHybridRanker(self, query_encoder(embedder), fusion)

    # -- loading --------------------------------------------------------------------------------
    @classmethod
    def load(cls, settings: Settings, store: MilvusStore | None = None, check: bool = True) -> MilvusIndex:
        """The metadata store of the configured collection; with ``check``, the collection verified."""
        config = MilvusConfig.from_settings(settings)
        root = meta_dir(settings)
        try:
            vdir = current_version_dir(root)
        except IndexMissing as exc:
            raise IndexMissing(
                f"no Milvus metadata for collection {config.collection!r} in {root}: index the corpus with "
                "`qa-service index --backend milvus`"
            ) from exc
        try:
            manifest = json.loads((vdir / MANIFEST).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(f"Milvus metadata manifest in {vdir} is unreadable: {exc}") from exc
        if manifest.get("format_version") != META_FORMAT or manifest.get("backend") != "milvus":
            raise IndexIncompatible(f"{vdir} is not Milvus metadata this version reads: re-index with --backend milvus")
        if manifest.get("milvus", {}).get("analyzer") != config.analyzer:
            raise MilvusSchemaMismatch(
                f"collection {config.collection!r} was indexed with the {manifest.get('milvus', {}).get('analyzer')!r}"
                f" analyzer, but QA_MILVUS_ANALYZER is {config.analyzer!r}"
            )
        for name, meta in manifest.get("files", {}).items():
            path = vdir / name
            if not path.is_file() or path.stat().st_size != meta["bytes"] or _sha256_file(path) != meta["sha256"]:
                raise IndexCorrupt(f"Milvus metadata file {path} is missing or damaged: re-index with --backend milvus")
        try:
            terms = TermStats(
                json.loads((vdir / "terms.json").read_text("utf-8")),
                np.load(vdir / "df.npy"),
                manifest["counts"]["passages"],
            )
            index = cls(
                store or shared_store(config),
                Tokenizer(json.loads((vdir / "userdict.json").read_text("utf-8")), manifest["settings"]["bigrams"]),
                terms,
                json.loads((vdir / "documents.json").read_text("utf-8")),
                json.loads((vdir / "articles.json").read_text("utf-8")),
                _map_bytes(vdir / "doc_text.bin"),
                np.load(vdir / "doc_bounds.npy"),
                manifest,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(
                f"Milvus metadata in {vdir} cannot be read ({exc}): re-index with --backend milvus"
            ) from exc
        if check:
            desc = index.store.check()
            if (desc.get("embedding") or None) != (manifest.get("embeddings") or None):
                raise MilvusSchemaMismatch(
                    f"collection {config.collection!r} on {config.where()} does not match the local metadata in "
                    f"{root} (embeddings differ): re-index with `qa-service index --backend milvus`"
                )
        return index


def _row_chunk(r: dict[str, Any]) -> Chunk:
    return Chunk(
        id=f"{r['doc_id']}#{r['article']}.{r['seq']}",
        text=r["text"],
        char_start=int(r["char_start"]),
        char_end=int(r["char_end"]),
        doc_id=r["doc_id"],
        article=int(r["article"]),
        title=r["title"],
        published=r.get("published") or None,
        publisher=r.get("publisher") or None,
        attribution=r.get("attribution") or None,
        section=r.get("section") or None,
    )


class MilvusBM25Ranker:
    mode = "bm25"

    def __init__(self, index: MilvusIndex) -> None:
        self.index = index

    def rank(self, query: Query, k: int) -> list[Hit]:
        text = self.index.query_text(query)
        if not text.strip():
            return []
        return [
            Hit(chunk=_row_chunk(h["entity"]), score=float(h["distance"]), rank=r, explain=_explain_bm25(h, r))
            for r, h in enumerate(self.index.store.search(text, k))
        ]


def _explain_bm25(h: dict[str, Any], r: int) -> dict[str, Any]:
    return {"bm25": float(h["distance"]), "bm25_rank": r, "engine": "milvus"}


class MilvusHybridRanker:
    """Hybrid retrieval in Milvus, with the same weight setting (QA_HYBRID_WEIGHT, the dense share)
    as the embedded hybrid.

    On a Milvus server or cluster it is Milvus's own hybrid search: a BM25 and a dense request
    fused by its WeightedRanker (or RRFRanker).  Milvus Lite 2.5's WeightedRanker normalises BM25
    as if it were a distance, which turns the BM25 order upside down (its RRFRanker is right); on
    Lite, weighted fusion therefore runs the two searches in Milvus and fuses them here with the
    embedded hybrid's own formula (hybrid.fuse: min-max over the candidates of both)."""

    mode = "hybrid"
    native_weighted: bool | None = None  # None: Milvus's WeightedRanker except on Milvus Lite

    def __init__(self, index: MilvusIndex, queries: QueryEncoder, fusion: Any) -> None:
        self.index = index
        self.queries = queries
        self.fusion = fusion

    def ranker(self) -> Any:
        pm = _pymilvus()
        if self.fusion.method == "rrf":
            return pm.RRFRanker(self.fusion.rrf_k)
        w = float(self.fusion.weight)
        return pm.WeightedRanker(1.0 - w, w)

    def native(self) -> bool:
        if self.fusion.method == "rrf":
            return True
        forced = type(self).native_weighted
        return forced if forced is not None else not self.index.store.is_lite()

    def rank(self, query: Query, k: int) -> list[Hit]:
        text = self.index.query_text(query).strip()
        vector = self.queries(query.text)
        if not self.native():
            return self._fused_here(text, vector, k)
        label = f"{self.fusion.label()} (Milvus)"
        hits = self.index.store.hybrid_search(text or None, vector, k, self.ranker(), max(k, self.fusion.candidates))
        return [
            Hit(
                chunk=_row_chunk(h["entity"]),
                score=float(h["distance"]),
                rank=r,
                explain={"fused": round(float(h["distance"]), 6), "fusion": label, "engine": "milvus"},
            )
            for r, h in enumerate(hits)
        ]

    def _fused_here(self, text: str, vector: np.ndarray, k: int) -> list[Hit]:
        from qa_service.index.embedded.hybrid import fuse

        store, n = self.index.store, self.fusion.candidates
        bm25_hits = store.search(text, n) if text else []
        dense_hits = store.dense_search(vector, n)
        rows = {h["id"]: h["entity"] for h in (*dense_hits, *bm25_hits)}
        bm25 = {h["id"]: float(h["distance"]) for h in bm25_hits}
        dense = {h["id"]: float(h["distance"]) for h in dense_hits}
        # Each candidate's score on the side that did not bring it, as the embedded fusion has it.
        if text and (todo := [p for p in rows if p not in bm25]):
            bm25.update({h["id"]: float(h["distance"]) for h in store.search(text, len(todo), pks=todo)})
        if todo := [p for p in rows if p not in dense]:
            dense.update({h["id"]: float(h["distance"]) for h in store.dense_search(vector, len(todo), pks=todo)})
        pks = sorted(rows)
        b = np.array([bm25.get(p, 0.0) for p in pks], dtype=np.float64)
        d = np.array([dense.get(p, -1.0) for p in pks], dtype=np.float64)
        out = []
        for r, f in enumerate(fuse(b, d, self.fusion, k)):
            label = f"{f.explain['fusion']} (Milvus searches, fused here)"
            explain = {**f.explain, "fusion": label, "engine": "milvus"}
            out.append(Hit(chunk=_row_chunk(rows[pks[f.passage]]), score=f.score, rank=r, explain=explain))
        return out


# -- building and opening -----------------------------------------------------------------------------
@dataclass
class IndexRun:
    index: MilvusIndex
    stats: SyncStats
    counts: dict[str, int] = field(default_factory=dict)


def index_corpus(
    corpus: Corpus,
    settings: Settings,
    embedder: Embedder | None = None,
    recreate: bool = False,
    show_progress: bool = False,
    index_settings: IndexSettings = IndexSettings(),
    store: MilvusStore | None = None,
) -> IndexRun:
    """Load ``corpus`` into the configured collection (incrementally) and write the metadata store."""
    t0 = time.perf_counter()
    config = MilvusConfig.from_settings(settings)
    store = store or shared_store(config)
    prepared = prepare(corpus, config.analyzer, index_settings)
    stats = sync(store, prepared, embedder, recreate, show_progress, settings.embedding_batch)
    counts = {
        "documents": len(prepared.documents),
        "articles": len(prepared.articles),
        "passages": prepared.passages,
        "terms": len(prepared.terms.terms),
    }
    manifest: dict[str, Any] = {
        "format_version": META_FORMAT,
        "backend": "milvus",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "milvus": {"uri": config.where(), "collection": config.collection, "analyzer": config.analyzer},
        "settings": index_settings.to_dict(),
        "corpus": {"paths": corpus.paths, "fingerprint": corpus.fingerprint()},
        "counts": counts,
        "sync": {
            "inserted_documents": stats.inserted_documents,
            "inserted_passages": stats.inserted_passages,
            "deleted_documents": stats.deleted_documents,
            "unchanged_documents": stats.unchanged_documents,
            "seconds": round(stats.seconds, 3),
        },
        "build_seconds": round(time.perf_counter() - t0, 3),
    }
    if embedder is not None:
        manifest["embeddings"] = _embedding_meta(embedder)
    save_meta(meta_dir(settings), prepared, manifest)
    index = MilvusIndex.load(settings, store=store, check=False)
    return IndexRun(index, stats, counts)


def ensure_milvus_index(
    settings: Settings,
    build_if_missing: bool | None = None,
    check_stale: bool = False,
    show_progress: bool = False,
    embedder: Embedder | None = None,
) -> MilvusIndex:
    """The Milvus-backed index, (re)loading the corpus into the collection if it is missing, or stale
    (with ``check_stale``).  Connection failures and schema mismatches raise MilvusError."""
    build = settings.build_if_missing if build_if_missing is None else build_if_missing
    corpus_paths = settings.corpus_paths()
    reason = None
    manifest_root = meta_dir(settings)
    try:
        index = MilvusIndex.load(settings)
        manifest = index.manifest
        if check_stale and manifest.get("corpus", {}).get("paths") == [str(Path(p).resolve()) for p in corpus_paths]:
            from qa_service.ingest.loaders import load_paths

            if documents_fingerprint(load_paths(corpus_paths)) != manifest["corpus"].get("fingerprint"):
                reason = "stale: the corpus changed since it was indexed"
        if reason is None:
            return index
    except (MilvusUnavailable, MilvusNotInstalled, MilvusSchemaMismatch):
        raise  # nothing a rebuild from here would fix
    except (MilvusCollectionMissing, IndexMissing) as exc:
        reason = f"missing ({exc})"
    except IndexError_ as exc:
        reason = f"unusable ({exc})"
    if not build:
        raise IndexMissing(f"the Milvus index is {reason}; index the corpus with `qa-service index --backend milvus`")
    log.warning("Milvus index (%s) is %s; loading %s into it", manifest_root, reason, ", ".join(corpus_paths))
    corpus = build_corpus(corpus_paths, show_progress=show_progress)
    return index_corpus(corpus, settings, embedder, show_progress=show_progress).index
