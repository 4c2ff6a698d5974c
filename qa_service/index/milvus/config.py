"""Milvus settings, constants and errors: what every other module of the backend shares."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qa_service.core.errors import BackendUnavailable, IndexError_, IndexIncompatible, IndexMissing
from qa_service.core.settings import Settings

SCHEMA_VERSION = 1
META_FORMAT = 1
ANALYZERS = ("jieba+bigrams", "chinese")
DEFAULT_COLLECTION = "qa_passages"
MAX_VARCHAR = 65535  # bytes: Milvus's VARCHAR limit
DELETE_GROUP = 200  # document ids per delete expression
INSTALL_HINT = "pip install 'qa-service[milvus]'"
INDEX_HINT = "`qa-service index --backend milvus`"
RECREATE_HINT = "`qa-service index --backend milvus --recreate`"

# The scalar fields of a row, in schema order, and what a Chunk takes from each.
STRING_FIELDS = ("doc_id", "version", "text", "title", "section", "published", "publisher", "attribution")
INT_FIELDS = ("n_passages", "seq", "article", "char_start", "char_end")
OPTIONAL_FIELDS = ("section", "published", "publisher", "attribution")  # None is stored as ""
OUTPUT_FIELDS = ["doc_id", "seq", "article", "char_start", "char_end", "text", "title", *OPTIONAL_FIELDS]


# -- errors ----------------------------------------------------------------------------------
class MilvusError(IndexError_):
    """A Milvus problem reported to the user: the API answers 503 with this message."""


class MilvusNotInstalled(MilvusError, BackendUnavailable):
    """pymilvus / milvus-lite are missing: nothing a rebuild would fix."""


class MilvusUnavailable(MilvusError, BackendUnavailable):
    """Milvus cannot be reached (or kept failing after the retries)."""


class MilvusCollectionMissing(MilvusError, IndexMissing):
    """The collection does not exist: indexing the corpus makes it."""


class MilvusSchemaMismatch(MilvusError, IndexIncompatible, BackendUnavailable):
    """The collection (or the metadata) was made differently: only ``--recreate`` fixes it, so it is
    never rebuilt automatically (a BackendUnavailable, which the ops layer re-raises)."""


# -- configuration ----------------------------------------------------------------------------
@dataclass(frozen=True)
class MilvusConfig:
    uri: str  # a Milvus Lite file (…/name.db) or http(s)://host:port
    token: str = ""
    collection: str = DEFAULT_COLLECTION
    analyzer: str = "jieba+bigrams"
    timeout: float = 10.0  # seconds per call, pymilvus's own retries included
    retries: int = Settings.milvus_retries  # our retries of a transient failure, with exponential backoff
    backoff: float = Settings.milvus_backoff  # seconds before the first retry; doubles each time
    insert_batch: int = 256  # rows per insert call

    @classmethod
    def from_settings(cls, s: Settings) -> MilvusConfig:
        return cls(
            uri=s.milvus_uri or str(Path(s.index_dir) / "milvus.db"),
            token=s.milvus_token or "",
            collection=s.milvus_collection,
            analyzer=s.milvus_analyzer,
            timeout=s.milvus_timeout,
            retries=s.milvus_retries,
            backoff=s.milvus_backoff,
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


def reason(exc: BaseException) -> str:
    """An exception's message on one line, cut to a readable length."""
    msg = getattr(exc, "message", None) or str(exc)
    msg = re.sub(r"\s+", " ", str(msg)).strip()
    return msg[:300] or type(exc).__name__


def transient(exc: BaseException) -> bool:
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
