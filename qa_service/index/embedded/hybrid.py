"""Hybrid retrieval: BM25 and dense cosine scores fused into one ranking.

Candidates are the union of the BM25 top-N (passages sharing a term with the
question) and the dense top-N.  Each score is
min-max normalised over the candidates and the two are mixed with a weight
(``(1 - w) * bm25 + w * dense``): w = 0 is the BM25 order, w = 1 the dense
order.  Weighted fusion is the default because it keeps how far apart the
scores are, which rank fusion (RRF) throws away; on CMRC2018 RRF did worse
than BM25 alone (docs/embeddings.md).

Dense scores are one matrix-vector product over every passage: exact, and a
few milliseconds at tens of thousands of passages.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np

from qa_service.core.models import Hit
from qa_service.core.settings import Settings, from_env
from qa_service.index.embedded.store import EmbeddedIndex
from qa_service.index.embeddings import Embedder, PassageVectors, QueryEncoder, get_embedder, query_encoder
from qa_service.qa.retrieve import BM25Ranker, Query, Ranker

log = logging.getLogger(__name__)

Fusion = Literal["weighted", "rrf"]


@dataclass(frozen=True)
class FusionSettings:
    weight: float = 0.4  # dense share; tuned on the eval sets with m3e-small (docs/embeddings.md)
    method: Fusion = "weighted"
    candidates: int = 100  # from each of BM25 and dense
    rrf_k: int = 60

    def label(self) -> str:
        return f"rrf k={self.rrf_k}" if self.method == "rrf" else f"weighted w={self.weight:g}"

    @classmethod
    def from_settings(cls, s: Settings) -> FusionSettings:
        return cls(weight=s.hybrid_weight, method=cast(Fusion, s.hybrid_fusion))


class _FromSettings(enum.Enum):
    TOKEN = "from settings"


# Default of ``embedder`` arguments: the model QA_EMBEDDING_MODEL names (None = BM25 only),
# so code that only passes an index (the app factory, the CLI) gets the configured mode.
FROM_SETTINGS = _FromSettings.TOKEN
EmbedderChoice = Embedder | None | _FromSettings


def resolve_embedder(choice: EmbedderChoice) -> Embedder | None:
    if isinstance(choice, _FromSettings):
        return get_embedder(from_env().embedding_model)
    return choice


@dataclass
class Fused:
    passage: int
    score: float
    explain: dict[str, Any]


def minmax(x: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; all-equal scores carry no preference and become 0."""
    x = np.asarray(x, dtype=np.float64)
    if not len(x):
        return x
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def top_ids(scores: np.ndarray, n: int, positive_only: bool = False) -> np.ndarray:
    """Ids of the n best scores, best first, ties by id (as BM25.top_k orders them)."""
    n = min(n, len(scores))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    idx = idx[np.lexsort((idx, -scores[idx]))]
    return idx[scores[idx] > 0] if positive_only else idx


def ranks(scores: np.ndarray, ids: np.ndarray, top: np.ndarray) -> np.ndarray:
    """0-based rank of each of ``ids`` over all passages: its place in ``top`` (the best, in order),
    else the count of passages that score higher."""
    place = {int(p): r for r, p in enumerate(top)}
    outside = np.array([int(i) not in place for i in ids], dtype=bool)
    out = np.array([place.get(int(i), -1) for i in ids], dtype=np.int64)
    if outside.any():
        ordered = np.sort(scores)  # ascending: higher scores are past searchsorted(side="right")
        out[outside] = len(scores) - np.searchsorted(ordered, scores[ids[outside]], side="right")
    return out


def fuse(bm25: np.ndarray, dense: np.ndarray, settings: FusionSettings, k: int) -> list[Fused]:
    """The k best passages by fused score, each with its BM25, dense and fused figures."""
    bm25_top = top_ids(bm25, settings.candidates, positive_only=True)
    dense_top = top_ids(dense, settings.candidates)
    # A side with no weight brings no candidates: w = 0 is then exactly BM25, w = 1 exactly dense.
    rrf = settings.method == "rrf"
    pools = [bm25_top if rrf or settings.weight < 1 else (), dense_top if rrf or settings.weight > 0 else ()]
    cand = np.union1d(*pools).astype(np.int64)  # sorted ids: ties below go by id
    if not len(cand):
        return []
    b_rank = ranks(bm25, cand, bm25_top)
    d_rank = ranks(dense, cand, dense_top)
    matched = bm25[cand] > 0  # passages sharing no term with the question have no BM25 rank
    if settings.method == "rrf":
        fused = np.where(matched, 1.0 / (settings.rrf_k + b_rank + 1), 0.0) + 1.0 / (settings.rrf_k + d_rank + 1)
    else:
        w = settings.weight
        fused = (1.0 - w) * minmax(bm25[cand]) + w * minmax(dense[cand])
    order = np.argsort(-fused, kind="stable")[:k]
    return [
        Fused(
            passage=int(cand[j]),
            score=float(fused[j]),
            explain={
                "bm25": round(float(bm25[cand[j]]), 4),
                "bm25_rank": int(b_rank[j]) if matched[j] else None,
                "dense": round(float(dense[cand[j]]), 4),
                "dense_rank": int(d_rank[j]),
                "fused": round(float(fused[j]), 6),
                "fusion": settings.label(),
            },
        )
        for j in order
    ]


class HybridRanker:
    mode = "hybrid"

    def __init__(
        self, index: EmbeddedIndex, vectors: PassageVectors, queries: QueryEncoder, settings: FusionSettings
    ) -> None:
        self.index = index
        self.vectors = vectors
        self.queries = queries
        self.settings = settings

    def rank(self, query: Query, k: int) -> list[Hit]:
        bm25 = self.index.scores(query.tokens)
        dense = np.asarray(self.vectors.matrix @ self.queries(query.text), dtype=np.float32)
        return [
            Hit(chunk=self.index.chunk(f.passage), score=f.score, rank=r, explain=f.explain)
            for r, f in enumerate(fuse(bm25, dense, self.settings, k))
        ]


def vectors_match(vectors: PassageVectors | None, embedder: Embedder) -> bool:
    return vectors is not None and vectors.model_id == embedder.model_id and vectors.dim == embedder.dim


def make_ranker(
    index: EmbeddedIndex,
    embedder: Embedder | None,
    settings: FusionSettings = FusionSettings(),
    queries: QueryEncoder | None = None,
) -> Ranker:
    """Hybrid when a model is loaded and the index holds its vectors; else BM25, saying why."""
    if embedder is None:
        return BM25Ranker(index)
    vectors = index.vectors
    if vectors is None:
        log.warning(
            "the index has no passage embeddings: retrieval is BM25 only until it is rebuilt "
            "(qa-service index, with QA_EMBEDDING_MODEL set)"
        )
        return BM25Ranker(index)
    if not vectors_match(vectors, embedder):
        log.warning(
            "the index's embeddings were made by %s, not the configured %s: retrieval is BM25 only until "
            "it is rebuilt (qa-service index)",
            vectors.model_id,
            embedder.model_id,
        )
        return BM25Ranker(index)
    return HybridRanker(index, vectors, queries or query_encoder(embedder), settings)
