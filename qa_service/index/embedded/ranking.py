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


# Passages scored together: a block's float64 scores (512 KiB) stay in a core's cache while every
# query term's postings in it are added, where one array over a million passages takes them at
# random across 8 MB (200k postings in 12 sorted runs: np.bincount 0.7 ms into 64k passages, 5.0 ms
# into 1M, on the benchmark machine).
BLOCK = 1 << 16
_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float32))


def top_k_of_postings(
    docs: Sequence[np.ndarray],
    weights: Sequence[np.ndarray],
    n_docs: int,
    k: int,
    deleted: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Ids and float32 scores of the k passages with the best positive score, best first, ties by id.

    ``docs[i]`` (ascending passage ids) and ``weights[i]`` (float32) are one term's postings; a
    passage's score is the float64 sum of its weights in list order, as ``np.bincount`` over the
    concatenated postings sums them, and ``deleted`` (ascending ids) score 0.  The passages are
    scored a block at a time; a block keeps only those reaching the k-th best score of the blocks
    before it, a lower bound on the k-th best overall."""
    if not docs or k <= 0 or n_docs <= 0:
        return _EMPTY
    size = _block_size(n_docs, sum(len(d) for d in docs))
    if size < n_docs:
        edges = np.arange(0, n_docs + size, size).clip(max=n_docs)
        cuts = [np.searchsorted(d, edges.astype(d.dtype)).tolist() for d in docs]  # each term's block bounds
    else:
        cuts = [[0, len(d)] for d in docs]
    cand: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    theta = 0.0
    for b, lo in enumerate(range(0, n_docs, size)):
        terms = zip(docs, weights, cuts, strict=True)
        parts = [(d[c[b] : c[b + 1]], w[c[b] : c[b + 1]]) for d, w, c in terms if c[b + 1] > c[b]]
        if not parts:
            continue
        dd, ww = _joined(parts, lo)
        block = np.bincount(dd, weights=ww, minlength=min(size, n_docs - lo))
        if deleted is not None:
            gone = deleted[np.searchsorted(deleted, lo) : np.searchsorted(deleted, lo + size)]
            block[gone - lo] = 0.0
        if theta == 0:  # nothing kept yet: bound the block's k-th best by its rarest terms' passages
            theta = _rarest_kth([p[0] for p in parts], block, lo, k)
        sel = np.flatnonzero(block >= theta) if theta > 0 else np.flatnonzero(block > 0)
        cand.append(sel + lo)
        vals.append(block[sel])
        if lo + size < n_docs:
            theta = _raise(cand, vals, k, theta)
    if not cand:
        return _EMPTY
    return _best(np.concatenate(cand), np.concatenate(vals), k)


def _block_size(n_docs: int, postings: int) -> int:
    """Passages scored together.  One array up to twice a block (as fast, fewer steps); but a query
    with at least as many postings as there are passages is scored in half blocks, whose bound rises
    sooner and keeps fewer passages: over 65,536 passages such queries (8% of the benchmark's) took
    0.76 instead of 1.89 ms at 100k and 8.2 instead of 10.0 ms at 1M, lighter ones longer."""
    if n_docs <= BLOCK:
        return n_docs
    if postings >= n_docs:
        return max(1, BLOCK // 2)
    return BLOCK if n_docs > 2 * BLOCK else n_docs


def scores_of_postings(
    docs: Sequence[np.ndarray], weights: Sequence[np.ndarray], n_docs: int, deleted: np.ndarray | None = None
) -> np.ndarray:
    """float32 score of every passage: the float64 sum of its weights in list order (``docs[i]``,
    ``weights[i]``: one term's postings), ``deleted`` ones 0.  What ``top_k_of_postings`` ranks."""
    if not docs:
        return np.zeros(n_docs, dtype=np.float32)
    acc = np.bincount(*_joined(list(zip(docs, weights, strict=True)), 0), minlength=n_docs)
    if deleted is not None:
        acc[deleted] = 0.0
    return acc.astype(np.float32)


def _joined(parts: list[tuple[np.ndarray, np.ndarray]], lo: int) -> tuple[np.ndarray, np.ndarray]:
    """The terms' postings of one block end to end, passage ids relative to its first passage ``lo``
    (a single term's arrays as they are: copying them cost a tenth of a query at 100k)."""
    if len(parts) == 1:
        d, w = parts[0]
        return (d - lo if lo else d), w
    dd = np.concatenate([p[0] for p in parts])
    if lo:
        dd -= lo
    return dd, np.concatenate([p[1] for p in parts])


def _rarest_kth(docs: list[np.ndarray], block: np.ndarray, lo: int, k: int) -> float:
    """The k-th best score in ``block`` (passages ``lo``…) among the passages of its rarest terms,
    slightly lowered (0: they are fewer than k): a lower bound on its k-th best found by reading a
    few dozen scores instead of every passage scored."""
    seed: list[np.ndarray] = []
    n = 0
    for d in sorted(docs, key=len):
        seed.append(d)
        n += len(d)
        if n >= 2 * k:
            break
    sample = np.unique(np.concatenate(seed)) if len(seed) > 1 else seed[0]
    if len(sample) < k:
        return 0.0
    v = block[sample - lo]
    return float(np.partition(v, len(v) - k)[len(v) - k]) * (1 - 1e-6)


def _raise(cand: list[np.ndarray], vals: list[np.ndarray], k: int, theta: float) -> float:
    """The k-th best score kept so far, slightly lowered so that every passage whose float32 score
    could tie it is kept, and the kept passages cut to those reaching it (in place)."""
    n = sum(len(v) for v in vals)
    if n < k:
        return theta
    v = np.concatenate(vals)
    kth = float(np.partition(v, n - k)[n - k]) * (1 - 1e-6)
    if kth <= theta:
        return theta
    keep = v >= kth
    cand[:] = [np.concatenate(cand)[keep]]
    vals[:] = [v[keep]]
    return kth


def _best(cand: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of the candidates by float32 score (positive ones only), ties by id."""
    s32 = scores.astype(np.float32)
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
