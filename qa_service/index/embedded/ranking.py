"""The arithmetic of BM25 shared by one index and an index of segments: Okapi idf as rank-bm25
computes it, and picking the k best of every passage's accumulated score."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from qa_service.index.embedded.bm25 import BM25Params

# The idf a term gets when the Okapi formula leaves it at or below zero (okapi_idf).
MIN_IDF = 1e-3


def length_norm(doc_len: np.ndarray, params: BM25Params, avgdl: float) -> np.ndarray:
    """``k1 * (1 - b + b * len / avgdl)`` of each passage (float64 lengths)."""
    avgdl = avgdl or 1.0
    return params.k1 * (1 - params.b + params.b * doc_len / avgdl)


def max_idf(n_docs: int) -> float:
    """The idf of a term in one of ``n_docs`` passages: what an unseen term would at least weigh."""
    return float(np.log(n_docs + 0.5) - np.log(1.5)) if n_docs else 0.0


def _raw_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """float64 Okapi idf of each term from its document frequency, before any is raised."""
    d = df.astype(np.float64)
    return np.log(n_docs - d + 0.5) - np.log(d + 0.5)


def _mean(idf: np.ndarray) -> float:
    return math.fsum(idf.tolist()) / len(idf) if len(idf) else 0.0


def raw_mean_idf(df: np.ndarray, n_docs: int) -> float:
    """The mean of the terms' Okapi idf before any is raised: what rank-bm25's epsilon rule scales."""
    return _mean(_raw_idf(df, n_docs))


def okapi_idf(df: np.ndarray, n_docs: int, params: BM25Params, mean_idf: float | None = None) -> np.ndarray:
    """float64 idf of each term from its document frequency (rank-bm25's, but never <= 0).
    ``mean_idf``: the raw mean the epsilon rule scales (default: that of ``df`` itself)."""
    idf = _raw_idf(df, n_docs)
    if len(idf):
        idf[idf < 0] = params.epsilon * (_mean(idf) if mean_idf is None else mean_idf)
        # Our one departure from rank-bm25: an idf that is still not positive (a term in
        # at least half the passages of a corpus of one or a few passages, where even the
        # mean idf is negative) would make such a corpus unsearchable; it counts a little.
        idf[idf <= 0] = MIN_IDF
    return idf


def select_top_k(acc: np.ndarray | None, docs: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and float32 scores of the k passages with the best positive score in ``acc``, best first,
    ties by id.  ``docs``: the passages of each query term; the k-th best score among those of the
    rarest terms is a lower bound on the k-th best overall, so only passages reaching it are ranked."""
    if acc is None or k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    # Slightly lowered, so that every passage whose float32 score could tie the k-th is kept.
    theta = 0.0
    if len(acc) > 4 * k:
        seed: list[np.ndarray] = []
        n = 0
        for d in sorted(docs, key=len):
            seed.append(d)
            n += len(d)
            if n >= 2 * k:
                break
        sample = np.unique(np.concatenate(seed)) if len(seed) > 1 else seed[0]
        if len(sample) >= k:
            vals = acc[sample]
            theta = float(np.partition(vals, len(vals) - k)[len(vals) - k]) * (1 - 1e-6)
    cand = np.flatnonzero(acc >= theta) if theta > 0 else np.flatnonzero(acc > 0)
    s32 = acc[cand].astype(np.float32)
    keep = s32 > 0
    cand, s32 = cand[keep], s32[keep]
    if len(cand) > k:
        kth = np.partition(s32, len(s32) - k)[len(s32) - k]
        keep = s32 >= kth
        cand, s32 = cand[keep], s32[keep]
    order = np.lexsort((cand, -s32))[:k]
    return cand[order].astype(np.int64), s32[order]


def union_mean_idf(parts: Sequence[Any], n_docs: int) -> float | None:
    """The raw mean idf (``raw_mean_idf``) of the terms of several BM25 segments taken as one corpus of
    ``n_docs`` passages: each term's passage counts summed across them.  Linear in the largest
    segment's terms, no sort of it: its rows are counted where they are and the other segments' terms
    found in it by hash.  None if their term hashes are salted differently (cannot be matched)."""
    if len({p.vocab.salt for p in parts}) != 1:
        return None
    largest = max(parts, key=lambda p: len(p.vocab))
    df = np.diff(np.asarray(largest.indptr)).astype(np.int64)
    others = [p for p in parts if p is not largest]
    extra = np.zeros(0, dtype=np.int64)
    if others:
        hashes = np.concatenate([np.asarray(p.vocab.hashes) for p in others])
        counts = np.concatenate([np.diff(np.asarray(p.indptr)) for p in others]).astype(np.int64)
        uniq, inverse = np.unique(hashes, return_inverse=True)
        summed = np.bincount(inverse, weights=counts, minlength=len(uniq)).astype(np.int64)
        big = np.asarray(largest.vocab.hashes)
        pos = np.minimum(np.searchsorted(big, uniq), max(len(big) - 1, 0))
        shared = big[pos] == uniq if len(big) else np.zeros(len(uniq), dtype=bool)
        df = df.copy()
        np.add.at(df, pos[shared], summed[shared])
        extra = summed[~shared]
    total = float(np.sum(_raw_idf(df, n_docs))) + float(np.sum(_raw_idf(extra, n_docs)))
    terms = len(df) + len(extra)
    return total / terms if terms else 0.0
