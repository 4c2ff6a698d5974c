"""Fusing BM25 and dense scores into one ranking: shared by the embedded and Milvus backends.

Candidates are the union of the BM25 top-N (passages sharing a term with the
question) and the dense top-N.  Each score is min-max normalised over the
candidates and the two are mixed with a weight (``(1 - w) * bm25 + w * dense``):
w = 0 is the BM25 order, w = 1 the dense order.  Weighted fusion is the default
because it keeps how far apart the scores are, which rank fusion (RRF) throws
away; on CMRC2018 RRF did worse than BM25 alone (docs/embeddings.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np

from qa_service.core.settings import Settings

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
