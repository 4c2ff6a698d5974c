"""One collection on one Milvus: connection, retries, schema, rows and searches."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa_service.index.embedded.bm25 import BM25Params
from qa_service.index.milvus.config import (
    DELETE_GROUP,
    INDEX_HINT,
    INT_FIELDS,
    MAX_VARCHAR,
    OUTPUT_FIELDS,
    RECREATE_HINT,
    SCHEMA_VERSION,
    STRING_FIELDS,
    MilvusCollectionMissing,
    MilvusConfig,
    MilvusError,
    MilvusSchemaMismatch,
    MilvusUnavailable,
    _pymilvus,
    reason,
    transient,
)

log = logging.getLogger(__name__)


def _literal(s: str) -> str:
    """A string literal for a Milvus filter expression (Lite 2.5 has no filter templates)."""
    return json.dumps(s, ensure_ascii=False)


def _pk_filter(pks: Sequence[int] | None, expr: str = "") -> dict[str, str]:
    """The search's filter: those rows (``pks``) and/or the rows ``expr`` (the question's filters) admits."""
    parts = [f"pk in [{', '.join(str(int(p)) for p in pks)}]"] if pks else []
    parts += [f"({expr})"] if expr else []
    return {"filter": " and ".join(parts)} if parts else {}


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
            raise MilvusUnavailable(f"cannot connect to {self.config.where()}: {reason(exc)}") from exc

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

    # -- calls --------------------------------------------------------------------------------
    def call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.method(*args, **kwargs)``, retried with exponential backoff on transient errors."""
        return self.retrying(what, lambda: getattr(self.client(), method)(*args, timeout=self.call_timeout, **kwargs))

    def retrying(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, retried ``config.retries`` times after ``config.backoff`` seconds (doubling) when
        Milvus cannot be reached or fails transiently; any other failure is translated at once."""
        attempt = 0
        while True:
            try:
                return fn()
            except MilvusUnavailable as exc:  # could not connect: try again
                if attempt >= self.config.retries:
                    raise
                err: BaseException = exc
            except MilvusError:
                raise
            except Exception as exc:
                if not transient(exc):
                    raise self._translate(what, exc) from exc
                self.reset()
                if attempt >= self.config.retries:
                    raise MilvusUnavailable(
                        f"{self.config.where()} did not answer ({what}) after {attempt + 1} tries: {reason(exc)}"
                    ) from exc
                err = exc
            delay = self.config.backoff * 2**attempt
            log.warning("Milvus %s failed (%s); retrying in %.2fs", what, reason(err), delay)
            self._sleep(delay)
            attempt += 1

    def _translate(self, what: str, exc: BaseException) -> MilvusError:
        code = getattr(exc, "code", None)
        text = reason(exc)
        if code == 100 or "can't find collection" in text.lower() or "collection not found" in text.lower():
            return self._missing()
        return MilvusError(f"Milvus {what} failed on collection {self.config.collection!r}: {text}")

    def _missing(self) -> MilvusCollectionMissing:
        return MilvusCollectionMissing(
            f"collection {self.config.collection!r} does not exist on {self.config.where()}: index the corpus with "
            f"{INDEX_HINT}"
        )

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
        bm25 = pm.Function(
            name="bm25",
            function_type=pm.FunctionType.BM25,
            input_field_names=["search_text"],
            output_field_names=["sparse"],
        )
        schema.add_function(bm25)
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
            raise self._missing()
        info = self.call("describe_collection", "describe_collection", name)
        hint = f"re-create it with {RECREATE_HINT} (collection {name!r} on {where})"
        try:
            desc = json.loads(info.get("description") or "{}")
        except ValueError:
            desc = {}
        if not isinstance(desc, dict):
            raise MilvusSchemaMismatch(f"collection {name!r} was not made by qa-service: {hint}")
        if desc.get("qa_service") != SCHEMA_VERSION:
            raise MilvusSchemaMismatch(
                f"collection {name!r} was not made by this version of qa-service (schema {desc.get('qa_service')!r}"
                f" if any, expected {SCHEMA_VERSION}): {hint}"
            )
        fields = {f["name"]: f for f in info.get("fields", [])}
        missing = sorted({*STRING_FIELDS, *INT_FIELDS, "pk", "search_text", "sparse"} - set(fields))
        if missing:
            raise MilvusSchemaMismatch(f"collection {name!r} lacks the fields {', '.join(missing)}: {hint}")
        if desc.get("analyzer") != self.config.analyzer:
            raise MilvusSchemaMismatch(
                f"collection {name!r} was indexed with the {desc.get('analyzer')!r} analyzer, but QA_MILVUS_ANALYZER "
                f"is {self.config.analyzer!r}: set it back, or {hint}"
            )
        if desc.get("embedding") and "vector" not in fields:
            raise MilvusSchemaMismatch(f"collection {name!r} lists embeddings but has no vector field: {hint}")
        return desc

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
                if not self._lite and transient(exc):
                    raise MilvusUnavailable(f"cannot reach {self.config.where()}: {reason(exc)}") from exc
        return self._lite

    # -- rows ---------------------------------------------------------------------------------
    def versions(self) -> dict[str, tuple[set[str], int, int]]:
        """For each document in the collection: its row versions, its row count, the count it should have."""
        return self.retrying("scan", self._scan)

    def _scan(self) -> dict[str, tuple[set[str], int, int]]:
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
            while rows := it.next():
                for r in rows:
                    vs, n, want = out.get(r["doc_id"], (set(), 0, 0))
                    vs.add(r["version"])
                    out[r["doc_id"]] = (vs, n + 1, max(want, int(r["n_passages"])))
        finally:
            it.close()
        return out

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

    # -- searches -----------------------------------------------------------------------------
    def search(self, text: str, k: int, pks: Sequence[int] | None = None, expr: str = "") -> list[dict[str, Any]]:
        """Passages by BM25; with ``pks``, the scores of those of them that share a term with the text;
        with ``expr``, only among the rows it admits."""
        return self._search("search", [text], "sparse", "BM25", k, pks, expr)

    def dense_search(
        self, vector: np.ndarray, k: int, pks: Sequence[int] | None = None, expr: str = ""
    ) -> list[dict[str, Any]]:
        """Passages by inner product with ``vector``; with ``pks``, the scores of exactly those rows."""
        return self._search("dense search", [_floats(vector)], "vector", "IP", k, pks, expr)

    def _search(
        self, what: str, data: list[Any], field: str, metric: str, k: int, pks: Sequence[int] | None, expr: str = ""
    ) -> list[dict[str, Any]]:
        res = self.call(
            what,
            "search",
            self.config.collection,
            data=data,
            anns_field=field,
            limit=k,
            output_fields=OUTPUT_FIELDS,
            search_params={"metric_type": metric},
            **_pk_filter(pks, expr),
        )
        return list(res[0]) if res else []

    def hybrid_search(
        self, text: str | None, vector: np.ndarray, k: int, ranker: Any, candidates: int, expr: str = ""
    ) -> list[dict]:
        """Milvus's own hybrid search: a BM25 request (if there is text) and a dense one, fused by ``ranker``;
        each request only among the rows ``expr`` admits."""
        pm = _pymilvus()
        reqs, where = [], {"expr": expr} if expr else {}
        if text:
            reqs.append(
                pm.AnnSearchRequest(
                    data=[text], anns_field="sparse", param={"metric_type": "BM25"}, limit=candidates, **where
                )
            )
        reqs.append(
            pm.AnnSearchRequest(
                data=[_floats(vector)], anns_field="vector", param={"metric_type": "IP"}, limit=candidates, **where
            )
        )
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


def _floats(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).tolist()


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
