"""The retrieval set-ups an eval compares: BM25 alone, hybrid fusions, and Milvus with each analyzer."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from qa_service.core.errors import ConfigError
from qa_service.core.settings import Settings
from qa_service.index.embeddings import Embedder, get_embedder
from qa_service.index.fusion import FusionSettings
from qa_service.qa.service import QAService


@dataclass
class Mode:
    """One retrieval set-up to evaluate: BM25 alone (no embedder) or a fusion of BM25 and dense,
    on the embedded index or on Milvus with one of its analyzers (``engine`` "milvus:<analyzer>")."""

    name: str
    embedder: Embedder | None = None
    fusion: FusionSettings = field(default_factory=FusionSettings)
    engine: str = "embedded"

    def service(self, index: Any) -> QAService:
        return QAService(index, embedder=self.embedder, fusion=self.fusion)


def eval_modes(args: argparse.Namespace, s: Settings) -> tuple[list[Mode], Embedder | None]:
    modes = [Mode("bm25")]
    name = args.embedding_model or s.embedding_model
    if not name:
        return modes, None
    weight = s.hybrid_weight if args.hybrid_weight is None else args.hybrid_weight
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"--hybrid-weight must be from 0 to 1, got {weight}")
    embedder = get_embedder(name)
    if embedder is None:
        raise ConfigError(f"cannot use embedding model {name!r} (the log above says why)")
    weighted = FusionSettings(weight=weight)
    rrf = FusionSettings(method="rrf")
    modes += [Mode(f"hybrid {weighted.label()}", embedder, weighted), Mode(f"hybrid {rrf.label()}", embedder, rrf)]
    return modes, embedder


def milvus_modes(embedder: Embedder | None, weight: float) -> list[Mode]:
    """Milvus beside the embedded modes: BM25 with each analyzer, and Milvus's hybrid search."""
    modes = [Mode("milvus bm25", engine="milvus:jieba+bigrams"), Mode("milvus bm25 chinese", engine="milvus:chinese")]
    if embedder is not None:
        for f in (FusionSettings(weight=weight), FusionSettings(method="rrf")):
            modes.append(Mode(f"milvus hybrid {f.label()}", embedder, f, engine="milvus:jieba+bigrams"))
    return modes


def parse_weights(arg: str | None) -> list[float]:
    if not arg:
        return []
    try:
        ws = [float(w) for w in arg.split(",") if w.strip()]
    except ValueError as exc:
        raise ConfigError(f"--weights takes numbers like 0,0.3,0.5: {exc}") from exc
    if any(not 0 <= w <= 1 for w in ws):
        raise ConfigError("every weight must be from 0 to 1")
    return ws
