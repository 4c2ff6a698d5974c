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
| QA_MAX_BODY_BYTES     | 262144             | largest request body accepted                        |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
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
    ):
        if env.get(key):
            try:
                kw[name] = int(env[key])
            except ValueError as exc:
                raise SystemExit(f"{key} must be a whole number, got {env[key]!r}") from exc
    if "QA_LOG_LEVEL" in env:
        kw["log_level"] = env["QA_LOG_LEVEL"].upper()
    if "QA_BUILD_IF_MISSING" in env:
        kw["build_if_missing"] = _bool(env["QA_BUILD_IF_MISSING"])
    return s.with_overrides(**kw)
