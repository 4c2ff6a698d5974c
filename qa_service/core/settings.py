"""The one place that reads configuration: environment variables, then CLI flags.

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
| QA_HYBRID_WEIGHT      | 0.4                | dense share of the hybrid score (0 = BM25 order, 1 = dense order) |
| QA_HYBRID_FUSION      | weighted           | ``weighted`` (min-max scores mixed) or ``rrf`` (reciprocal rank, k=60) |
| QA_EMBEDDING_BATCH    | 32                 | passages per embedding batch when indexing           |
| QA_BACKEND            | embedded           | ``embedded`` (the index folder) or ``milvus`` (docs/milvus.md) |
| QA_MILVUS_URI         | QA_INDEX_DIR/milvus.db | Milvus Lite file (``….db``) or ``http://host:19530`` |
| QA_MILVUS_TOKEN       | (unset)            | Milvus credentials: ``user:password`` or an API key  |
| QA_MILVUS_COLLECTION  | qa_passages        | the corpus's collection (letters, digits, ``_``)     |
| QA_MILVUS_ANALYZER    | jieba+bigrams      | ``jieba+bigrams`` (our terms) or ``chinese`` (Milvus's analyzer) |
| QA_MILVUS_TIMEOUT     | 10                 | seconds per Milvus call before it counts as failed   |
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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
    upload_dir: str = "uploads"
    max_upload_bytes: int = 10 * 1024 * 1024
    embedding_model: str = ""  # empty: BM25 only
    hybrid_weight: float = 0.4
    hybrid_fusion: str = "weighted"
    embedding_batch: int = 32
    backend: str = "embedded"  # or "milvus"
    milvus_uri: str = ""  # empty: a Milvus Lite file in the index folder
    milvus_token: str | None = field(default=None, repr=False)
    milvus_collection: str = "qa_passages"
    milvus_analyzer: str = "jieba+bigrams"
    milvus_timeout: float = 10.0

    def corpus_paths(self) -> list[str]:
        """The corpus plus the upload folder, once something has been uploaded."""
        up = Path(self.upload_dir)
        extra = [str(up)] if up.is_dir() and str(up) not in self.corpus else []
        return [*self.corpus, *extra]

    def with_overrides(self, **kw: Any) -> Settings:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


def _bool(v: str) -> bool:
    return v.strip().lower() in {"1", "true", "yes", "on"}


def from_env(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    s = Settings()
    kw: dict[str, Any] = {}
    if "QA_INDEX_DIR" in env:
        kw["index_dir"] = env["QA_INDEX_DIR"]
    if env.get("QA_CORPUS"):
        kw["corpus"] = [p for p in env["QA_CORPUS"].split(os.pathsep) if p]
    if "QA_HOST" in env:
        kw["host"] = env["QA_HOST"]
    for key, name in (
        ("QA_PORT", "port"),
        ("QA_WORKERS", "workers"),
        ("QA_MAX_QUESTION_CHARS", "max_question_chars"),
        ("QA_MAX_HISTORY", "max_history"),
        ("QA_MAX_BODY_BYTES", "max_body_bytes"),
        ("QA_MAX_UPLOAD_BYTES", "max_upload_bytes"),
        ("QA_EMBEDDING_BATCH", "embedding_batch"),
    ):
        if env.get(key):
            try:
                kw[name] = int(env[key])
            except ValueError as exc:
                raise SystemExit(f"{key} must be a whole number, got {env[key]!r}") from exc
    if "QA_LOG_LEVEL" in env:
        kw["log_level"] = env["QA_LOG_LEVEL"].upper()
    if env.get("QA_ADMIN_TOKEN"):
        kw["admin_token"] = env["QA_ADMIN_TOKEN"]
    if env.get("QA_UPLOAD_DIR"):
        kw["upload_dir"] = env["QA_UPLOAD_DIR"]
    if "QA_BUILD_IF_MISSING" in env:
        kw["build_if_missing"] = _bool(env["QA_BUILD_IF_MISSING"])
    if "QA_EMBEDDING_MODEL" in env:
        kw["embedding_model"] = env["QA_EMBEDDING_MODEL"].strip()
    if env.get("QA_HYBRID_WEIGHT"):
        try:
            kw["hybrid_weight"] = float(env["QA_HYBRID_WEIGHT"])
        except ValueError:
            kw["hybrid_weight"] = -1.0
        if not 0.0 <= kw["hybrid_weight"] <= 1.0:
            raise SystemExit(f"QA_HYBRID_WEIGHT must be a number from 0 to 1, got {env['QA_HYBRID_WEIGHT']!r}")
    if env.get("QA_HYBRID_FUSION"):
        kw["hybrid_fusion"] = env["QA_HYBRID_FUSION"].strip().lower()
        if kw["hybrid_fusion"] not in ("weighted", "rrf"):
            raise SystemExit(f"QA_HYBRID_FUSION must be 'weighted' or 'rrf', got {env['QA_HYBRID_FUSION']!r}")
    kw.update(_milvus_env(env))
    return s.with_overrides(**kw)


BACKENDS = ("embedded", "milvus")
MILVUS_ANALYZERS = ("jieba+bigrams", "chinese")
_COLLECTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_URI_SCHEMES = re.compile(r"^(?:https?|tcp|grpc|unix)://|^unix:")


def check_backend(value: str) -> str:
    v = value.strip().lower()
    if v not in BACKENDS:
        raise SystemExit(f"QA_BACKEND must be one of {', '.join(BACKENDS)}, got {value!r}")
    return v


def check_milvus_uri(value: str) -> str:
    v = value.strip()
    if v and not _URI_SCHEMES.match(v) and not v.endswith(".db"):
        raise SystemExit(f"QA_MILVUS_URI must be a Milvus Lite file ending in .db or http(s)://host:port, got {v!r}")
    return v


def _milvus_env(env: dict[str, str]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if env.get("QA_BACKEND"):
        kw["backend"] = check_backend(env["QA_BACKEND"])
    if env.get("QA_MILVUS_URI"):
        kw["milvus_uri"] = check_milvus_uri(env["QA_MILVUS_URI"])
    if env.get("QA_MILVUS_TOKEN"):
        kw["milvus_token"] = env["QA_MILVUS_TOKEN"]
    if env.get("QA_MILVUS_COLLECTION"):
        name = env["QA_MILVUS_COLLECTION"].strip()
        if not _COLLECTION.match(name):
            raise SystemExit(f"QA_MILVUS_COLLECTION must be letters, digits and _ (not first a digit), got {name!r}")
        kw["milvus_collection"] = name
    if env.get("QA_MILVUS_ANALYZER"):
        analyzer = env["QA_MILVUS_ANALYZER"].strip().lower()
        if analyzer not in MILVUS_ANALYZERS:
            raise SystemExit(f"QA_MILVUS_ANALYZER must be one of {', '.join(MILVUS_ANALYZERS)}, got {analyzer!r}")
        kw["milvus_analyzer"] = analyzer
    if env.get("QA_MILVUS_TIMEOUT"):
        try:
            kw["milvus_timeout"] = float(env["QA_MILVUS_TIMEOUT"])
        except ValueError:
            kw["milvus_timeout"] = -1.0
        if kw["milvus_timeout"] <= 0:
            given = env["QA_MILVUS_TIMEOUT"]
            raise SystemExit(f"QA_MILVUS_TIMEOUT must be a positive number of seconds, got {given!r}")
    return kw
