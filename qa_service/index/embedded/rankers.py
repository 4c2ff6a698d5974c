"""The embedded index's rankers: BM25 alone, or BM25 fused with dense vectors (index/fusion.py).

Dense scores are one matrix-vector product over every passage: exact, and a
few milliseconds at tens of thousands of passages.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from qa_service.core.models import Hit, Query
from qa_service.index.base import Filters, Ranker
from qa_service.index.embeddings import Embedder, PassageVectors, QueryEncoder, query_encoder
from qa_service.index.fusion import FusionSettings, fuse, top_ids

if TYPE_CHECKING:
    from qa_service.index.embedded.store import EmbeddedIndex

log = logging.getLogger(__name__)


class BM25Ranker:
    mode = "bm25"

    def __init__(self, index: EmbeddedIndex) -> None:
        self.index = index

    def rank(self, query: Query, k: int, filters: Filters | None = None) -> list[Hit]:
        if filters:
            # Every passage's score, those outside the filters zeroed: the k best of the rest, ties by
            # id as BM25.top_k orders them.
            scores = self.index.scores(query.tokens)
            scores[~self.index.passage_mask(filters)] = 0
            ids = top_ids(scores, k, positive_only=True)
            found = [(int(i), float(scores[i])) for i in ids]
        else:
            found = self.index.search(query.tokens, k)
        return [
            Hit(chunk=self.index.chunk(i), score=score, rank=r, explain={"bm25": score, "bm25_rank": r})
            for r, (i, score) in enumerate(found)
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

    def rank(self, query: Query, k: int, filters: Filters | None = None) -> list[Hit]:
        bm25 = self.index.scores(query.tokens)
        dense = np.asarray(self.vectors.matrix @ self.queries(query.text), dtype=np.float32)
        # Filtered: fused over the matching passages only (their candidates, their min-max ranges).
        mask = self.index.passage_mask(filters) if filters else self.index.live_mask()
        keep = np.flatnonzero(mask) if mask is not None else np.arange(len(bm25))
        return [
            Hit(chunk=self.index.chunk(int(keep[f.passage])), score=f.score, rank=r, explain=f.explain)
            for r, f in enumerate(fuse(bm25[keep], dense[keep], self.settings, k))
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
