"""The one place that reads configuration: environment variables (here only), then CLI flags.

| variable              | default            | meaning                                              |
|-----------------------|--------------------|------------------------------------------------------|
| QA_INDEX_DIR          | ./index            | where the index lives                                |
| QA_CORPUS             | ./seeds            | corpus built when no index exists (paths, ``:``-separated) |
| QA_HOST               | 127.0.0.1          | address ``serve`` binds                              |
| QA_PORT               | 8000               | port ``serve`` binds                                 |
| QA_WORKERS            | 2                  | gunicorn worker processes                            |
| QA_LOG_LEVEL          | INFO               | logging level                                        |
| QA_BUILD_IF_MISSING   | 1                  | build the index from the corpus when none exists     |
| QA_MAX_QUESTION_CHARS | 2000               | longest question accepted                            |
| QA_MAX_HISTORY        | 20                 | most history turns accepted                          |
| QA_MAX_BODY_BYTES     | 262144             | largest request body accepted (uploads aside)        |
| QA_ADMIN_TOKEN        | (unset)            | bearer token for POST/DELETE /api/documents; unset = writes disabled |
| QA_UPLOAD_DIR         | ./uploads          | where uploaded documents are stored (part of the corpus) |
| QA_MAX_UPLOAD_BYTES   | 10485760           | largest uploaded document                            |
| QA_EMBEDDING_MODEL    | (unset)            | sentence-transformers model (name or folder); unset = BM25 only |
| QA_READER_MODEL       | (unset)            | extractive QA model (name or folder) adding answer spans; ``[reader]`` |
| QA_HYBRID_WEIGHT      | 0.4                | dense share of the hybrid score (0 = BM25 order, 1 = dense order) |
| QA_HYBRID_FUSION      | weighted           | ``weighted`` (min-max scores mixed) or ``rrf`` (reciprocal rank, k=60) |
| QA_EMBEDDING_BATCH    | 32                 | passages per embedding batch when indexing           |
| QA_TOKENIZER          | (unset)            | index terms' segmenter: rjieba, jieba, jieba_fast (``[fast]``); unset: |
|                       |                    | an index's own, and rjieba for new ones              |
| QA_BACKEND            | embedded           | ``embedded`` (the index folder) or ``milvus`` (docs/milvus.md) |
| QA_MILVUS_URI         | QA_INDEX_DIR/milvus.db | Milvus Lite file (``….db``) or ``http://host:19530`` |
| QA_MILVUS_TOKEN       | (unset)            | Milvus credentials: ``user:password`` or an API key  |
| QA_MILVUS_COLLECTION  | qa_passages        | the corpus's collection (letters, digits, ``_``)     |
| QA_MILVUS_ANALYZER    | jieba+bigrams      | ``jieba+bigrams`` (our terms) or ``chinese`` (Milvus's analyzer) |
| QA_MILVUS_TIMEOUT     | 10                 | seconds per Milvus call before it counts as failed   |
| QA_PROGRESS           | (unset)            | 1: progress bars even when stderr is not a terminal  |
| QA_HEADER_TIMEOUT     | 10                 | seconds a connection has to send its request line and headers |
| QA_BODY_TIMEOUT       | 60                 | seconds it then has to send its body                 |
| QA_MAX_BUFFERED_BYTES | 67108864           | request bodies a server worker holds in memory at once (503 beyond) |
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qa_service.core.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = PACKAGE_DIR.parent


def _default_corpus() -> list[str]:
    return [str(PROJECT_DIR / "seeds")] if (PROJECT_DIR / "seeds").is_dir() else ["seeds"]


@dataclass(frozen=True)
class Settings:
    index_dir: str = "index"
    corpus: list[str] = field(default_factory=_default_corpus)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    log_level: str = "INFO"
    build_if_missing: bool = True
    max_question_chars: int = 2000
    max_history: int = 20
    max_history_chars: int = 4000
    max_top_k: int = 20
    default_top_k: int = 5
    max_body_bytes: int = 256 * 1024
    admin_token: str | None = None
    # How often a worker looks for an index version another one published (0: before every request,
    # one small file read, so a request that follows a write sees it in every worker).
    reload_check_seconds: float = 0.0
    upload_dir: str = "uploads"
    max_upload_bytes: int = 10 * 1024 * 1024
    # How long an upload or delete waits for another write (a rebuild of the corpus, a catch-up)
    # before it is refused with 503 index_busy rather than left hanging.
    write_wait_seconds: float = 30.0
    embedding_model: str = ""  # empty: BM25 only
    reader_model: str = ""  # empty: the fitted reader alone (no neural span proposals)
    hybrid_weight: float = 0.4
    hybrid_fusion: str = "weighted"
    embedding_batch: int = 32
    # The segmenter of index terms (core/tokenizer.py).  None: an index is searched with the one that
    # built it (it records it), and new indexes are built with DEFAULT_TOKENIZER.
    tokenizer: str | None = None
    backend: str = "embedded"  # or "milvus"
    milvus_uri: str = ""  # empty: a Milvus Lite file in the index folder
    milvus_token: str | None = field(default=None, repr=False)
    milvus_collection: str = "qa_passages"
    milvus_analyzer: str = "jieba+bigrams"
    milvus_timeout: float = 10.0
    milvus_retries: int = 3  # retries of a transient Milvus failure (connection refused, timeout, rate limit)...
    milvus_backoff: float = 0.25  # ...after 0.25 s, 0.5 s, 1 s
    progress: bool | str = True  # progress bars on a terminal; "always" (QA_PROGRESS=1): on any stderr
    header_timeout: float = 10.0  # the server's limits on slow clients (web/server.py)
    body_timeout: float = 60.0
    buffer_budget: int = 64 * 1024 * 1024

    @property
    def build_tokenizer(self) -> str:
        """The segmenter a new index is built with."""
        return self.tokenizer or DEFAULT_TOKENIZER

    def corpus_paths(self) -> list[str]:
        """The corpus plus the upload folder, once something has been uploaded."""
        up = Path(self.upload_dir)
        extra = [str(up)] if up.is_dir() and str(up) not in self.corpus else []
        return [*self.corpus, *extra]

    def with_overrides(self, **kw: Any) -> Settings:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


def _bool(v: str) -> bool:
    return v.strip().lower() in {"1", "true", "yes", "on"}


def _int(var: str, v: str) -> int:
    try:
        return int(v)
    except ValueError as exc:
        raise ConfigError(f"{var} must be a whole number, got {v!r}") from exc


def _fraction(var: str, v: str) -> float:
    try:
        x = float(v)
    except ValueError:
        x = -1.0
    if not 0.0 <= x <= 1.0:
        raise ConfigError(f"{var} must be a number from 0 to 1, got {v!r}")
    return x


def _seconds(var: str, v: str) -> float:
    try:
        x = float(v)
    except ValueError:
        x = -1.0
    if x <= 0:
        raise ConfigError(f"{var} must be a positive number of seconds, got {v!r}")
    return x


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(var: str, v: str) -> str:
        x = v.strip().lower()
        if x not in allowed:
            raise ConfigError(f"{var} must be one of {', '.join(allowed)}, got {v!r}")
        return x

    return parse


def _collection(var: str, v: str) -> str:
    name = v.strip()
    if not _COLLECTION.match(name):
        raise ConfigError(f"{var} must be letters, digits and _ (not first a digit), got {name!r}")
    return name


MIN_TOKEN_CHARS = 16


def _token(var: str, v: str) -> str:
    token = v.strip()
    if len(token) < MIN_TOKEN_CHARS or any(ch.isspace() for ch in token):
        raise ConfigError(
            f"{var} must be at least {MIN_TOKEN_CHARS} characters with no spaces (got {len(token)}); "
            "unset it to disable writes, or make one with: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )
    return token


def _milvus_uri(var: str, v: str) -> str:
    x = v.strip()
    if x and not _URI_SCHEMES.match(x) and not x.endswith(".db"):
        raise ConfigError(f"{var} must be a Milvus Lite file ending in .db or http(s)://host:port, got {x!r}")
    return x


BACKENDS = ("embedded", "milvus")
TOKENIZERS = ("jieba", "rjieba", "jieba_fast")
# jieba-rs cuts 11x faster than jieba and the same way on 99.98% of news passages, with the same retrieval
# and answers (benchmarks/RESULTS.md, benchmarks/tokenizers.py): what builds an index unless told otherwise.
DEFAULT_TOKENIZER = "rjieba"
MILVUS_ANALYZERS = ("jieba+bigrams", "chinese")
_COLLECTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_URI_SCHEMES = re.compile(r"^(?:https?|tcp|grpc|unix)://|^unix:")

# variable -> (field, parse(variable, value), an empty value counts).  Parsers raise ConfigError.
_VARIABLES: dict[str, tuple[str, Callable[[str, str], Any], bool]] = {
    "QA_INDEX_DIR": ("index_dir", lambda _, v: v, True),
    "QA_CORPUS": ("corpus", lambda _, v: [p for p in v.split(os.pathsep) if p], False),
    "QA_HOST": ("host", lambda _, v: v, True),
    "QA_PORT": ("port", _int, False),
    "QA_WORKERS": ("workers", _int, False),
    "QA_LOG_LEVEL": ("log_level", lambda _, v: v.upper(), True),
    "QA_BUILD_IF_MISSING": ("build_if_missing", lambda _, v: _bool(v), True),
    "QA_MAX_QUESTION_CHARS": ("max_question_chars", _int, False),
    "QA_MAX_HISTORY": ("max_history", _int, False),
    "QA_MAX_BODY_BYTES": ("max_body_bytes", _int, False),
    "QA_ADMIN_TOKEN": ("admin_token", _token, False),
    "QA_UPLOAD_DIR": ("upload_dir", lambda _, v: v, False),
    "QA_MAX_UPLOAD_BYTES": ("max_upload_bytes", _int, False),
    "QA_WRITE_WAIT_SECONDS": ("write_wait_seconds", _seconds, False),
    "QA_EMBEDDING_MODEL": ("embedding_model", lambda _, v: v.strip(), True),
    "QA_READER_MODEL": ("reader_model", lambda _, v: v.strip(), True),
    "QA_HYBRID_WEIGHT": ("hybrid_weight", _fraction, False),
    "QA_HYBRID_FUSION": ("hybrid_fusion", _choice("weighted", "rrf"), False),
    "QA_EMBEDDING_BATCH": ("embedding_batch", _int, False),
    "QA_TOKENIZER": ("tokenizer", _choice(*TOKENIZERS), False),
    "QA_PROGRESS": ("progress", lambda _, v: "always" if _bool(v) else True, False),
    "QA_BACKEND": ("backend", _choice(*BACKENDS), False),
    "QA_MILVUS_URI": ("milvus_uri", _milvus_uri, False),
    "QA_MILVUS_TOKEN": ("milvus_token", lambda _, v: v, False),
    "QA_MILVUS_COLLECTION": ("milvus_collection", _collection, False),
    "QA_MILVUS_ANALYZER": ("milvus_analyzer", _choice(*MILVUS_ANALYZERS), False),
    "QA_MILVUS_TIMEOUT": ("milvus_timeout", _seconds, False),
    "QA_HEADER_TIMEOUT": ("header_timeout", _seconds, False),
    "QA_BODY_TIMEOUT": ("body_timeout", _seconds, False),
    "QA_MAX_BUFFERED_BYTES": ("buffer_budget", _int, False),
}


def from_env(env: dict[str, str] | None = None) -> Settings:
    """Settings from QA_* variables (default: this process's environment): the only place that reads
    it.  A value the service cannot use raises ConfigError naming the variable."""
    env = dict(os.environ if env is None else env)
    kw: dict[str, Any] = {}
    for var, (name, parse, empty_counts) in _VARIABLES.items():
        value = env.get(var)
        if value is not None and (value or empty_counts):
            kw[name] = parse(var, value)
    return Settings().with_overrides(**kw)


def use_environment(env: Mapping[str, str]) -> None:
    """Make ``env`` this process's environment: ``serve`` becoming gunicorn's master, whose workers
    read their settings from it (``from_env``)."""
    os.environ.clear()
    os.environ.update(env)


def worker_environment(settings: Settings, extra: dict[str, str]) -> dict[str, str]:
    """The environment for server worker processes: this one's, with ``settings`` written back as
    QA_* variables (so the workers read the same settings) and ``extra`` on top."""
    env = dict(os.environ)
    env.update(
        QA_INDEX_DIR=os.path.abspath(settings.index_dir),
        QA_CORPUS=os.pathsep.join(os.path.abspath(p) for p in settings.corpus),
        QA_LOG_LEVEL=settings.log_level,
        QA_BUILD_IF_MISSING="0",
        QA_BACKEND=settings.backend,
        **extra,
    )
    if settings.tokenizer is None:  # unset: the workers, too, search each index with its own segmenter
        env.pop("QA_TOKENIZER", None)
    else:
        env["QA_TOKENIZER"] = settings.tokenizer
    # glibc gives every thread its own malloc arena; with gthread workers that shows up as
    # RSS that grows with concurrency but is never used again. Two arenas a process is plenty.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env
