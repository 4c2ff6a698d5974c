"""Retrieval backends behind one protocol (``base.Backend``): the embedded index folder, or Milvus.

This module is the only place that knows which backend is configured
(``Settings.backend``); everything above ``index/`` calls these functions and
the protocol's methods.  A new backend is a subpackage with a class that
implements ``base.Backend`` and ``base.BackendType``, added to ``_types``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qa_service.core.errors import ConfigError
from qa_service.core.models import Corpus, CorpusStream
from qa_service.core.settings import BACKENDS, Settings
from qa_service.index.base import Backend, BackendType, Filters, Ranker

if TYPE_CHECKING:
    from qa_service.index.embeddings import Embedder

__all__ = [
    "Backend",
    "BackendType",
    "Filters",
    "Ranker",
    "ServePlan",
    "build_backend",
    "build_backend_streamed",
    "open_backend",
    "pointer_dir",
]


def _types(settings: Settings) -> BackendType:
    if settings.backend == "embedded":
        from qa_service.index.embedded.versions import SegmentedIndex

        return SegmentedIndex  # type: ignore[return-value]
    if settings.backend == "milvus":
        from qa_service.index.milvus.backend import MilvusIndex

        return MilvusIndex  # type: ignore[return-value]
    raise ConfigError(f"QA_BACKEND must be one of {', '.join(BACKENDS)}, got {settings.backend!r}")


def open_backend(settings: Settings, previous: Backend | None = None) -> Backend:
    """The live version of the configured backend's index.  ``previous`` (the backend being
    replaced) lends its connections.  Raises IndexMissing / IndexIncompatible / IndexCorrupt /
    BackendUnavailable (core.errors)."""
    return _types(settings).open(settings, previous=previous)


def build_backend(
    settings: Settings,
    corpus: Corpus,
    embedder: Embedder | None = None,
    previous: Backend | None = None,
    show_progress: bool = False,
    recreate: bool = False,
) -> Backend:
    """Index ``corpus`` in the configured backend and make it the live version.  ``previous``
    lends what can be reused (passage vectors, connections); ``recreate`` starts an external
    engine's collection afresh."""
    kind = _types(settings)
    return kind.create(corpus, settings, embedder, previous, show_progress=show_progress, recreate=recreate)


def build_backend_streamed(
    settings: Settings,
    stream: CorpusStream,
    embedder: Embedder | None = None,
    previous: Backend | None = None,
    show_progress: bool = False,
    recreate: bool = False,
) -> Backend:
    """``build_backend`` of a corpus read one document at a time (``qa-service index``)."""
    kind = _types(settings)
    return kind.create_streamed(stream, settings, embedder, previous, show_progress=show_progress, recreate=recreate)


def pointer_dir(settings: Settings) -> Path:
    """The folder whose ``CURRENT`` file names the live version: other processes watch it."""
    if settings.backend == "milvus":
        from qa_service.index.milvus import meta_dir

        return meta_dir(settings)
    return Path(settings.index_dir)


@dataclass(frozen=True)
class ServePlan:
    """How the server's worker processes may share the backend."""

    preload: bool  # load the index before forking: workers share its memory-mapped pages
    workers: int
    env: dict[str, str] = field(default_factory=dict)  # settings the workers must see as given here
    note: str | None = None  # why the plan differs from what was asked


def serve_plan(settings: Settings) -> ServePlan:
    if settings.backend != "milvus":
        return ServePlan(preload=True, workers=settings.workers)
    from qa_service.index.milvus import MilvusConfig

    # A gRPC connection must not cross a fork: each worker opens its own (no preload).
    config = MilvusConfig.from_settings(settings)
    if not config.is_file:
        return ServePlan(preload=False, workers=settings.workers)
    # A Milvus Lite file can be opened by one process only, named by an absolute path.
    env = {"QA_MILVUS_URI": str(Path(config.uri).resolve())}
    if settings.workers > 1:
        note = "a Milvus Lite file can be opened by one process only: serving with 1 worker"
        return ServePlan(preload=False, workers=1, env=env, note=note)
    return ServePlan(preload=False, workers=1, env=env)
