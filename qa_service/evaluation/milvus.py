"""Throw-away Milvus collections for ``qa-service eval --backend milvus``."""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qa_service.core.models import Corpus
from qa_service.core.settings import Settings
from qa_service.index.embedded.store import IndexSettings
from qa_service.index.embeddings import Embedder

log = logging.getLogger(__package__)  # "qa_service.evaluation", as before the split into modules


class MilvusEval:
    """Throw-away collections for the eval (dropped afterwards), one per corpus and analyzer."""

    def __init__(self, s: Settings, workdir: str) -> None:
        from qa_service.index.milvus import MilvusConfig

        self.base = s.with_overrides(backend="milvus", index_dir=workdir)
        if not s.milvus_uri:
            self.base = self.base.with_overrides(milvus_uri=str(Path(workdir) / "eval.db"))
        self.tag = uuid.uuid4().hex[:8]
        self.config = MilvusConfig.from_settings(self.base)
        self.stores: list[Any] = []

    def index(self, corpus: Corpus, what: str, analyzer: str, embedder: Embedder | None, settings: IndexSettings):
        from qa_service.index.milvus import MilvusIndex

        s = self.base.with_overrides(milvus_collection=f"qa_eval_{what}_{analyzer[:7]}_{self.tag}".replace("+", "_"))
        s = s.with_overrides(milvus_analyzer=analyzer)
        index = MilvusIndex.create(corpus, s, embedder, index_settings=settings)
        self.stores.append(index.store)
        return index

    def close(self) -> None:
        for store in self.stores:
            try:
                store.drop()
            except Exception as exc:  # a cleanup failure must not hide the figures
                log.warning("could not drop eval collection %s: %s", store.config.collection, exc)
        for store in self.stores:
            store.close()


@contextmanager
def milvus_eval(s: Settings, args: Any) -> Iterator[MilvusEval | None]:
    """Throw-away Milvus collections when the eval was asked to compare Milvus (``--backend milvus``)."""
    if vars(args).get("backend", "embedded") != "milvus":
        yield None
        return
    # A Milvus failure is a QAError: the CLI reports it as "qa-service eval: …".
    with tempfile.TemporaryDirectory(prefix="qa-eval-milvus-") as workdir:
        ev = MilvusEval(s, workdir)
        try:
            yield ev
        finally:
            ev.close()
