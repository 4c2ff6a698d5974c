"""Okapi BM25 as a sparse term x passage matrix of precomputed weights.

Scoring a query is a sum of the matrix rows of its terms: no Python loop over
passages, so a query costs time proportional to the postings it touches
(rank-bm25's ``get_scores`` loops over every passage for every term).

The formula and defaults are rank-bm25's ``BM25Okapi`` (k1=1.5, b=0.75,
epsilon=0.25: a negative idf is replaced by epsilon x the mean idf), so the two
give the same scores for the same tokens; the tests check that.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class BM25Params:
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class BM25:
    def __init__(
        self,
        vocab: dict[str, int],
        indptr: np.ndarray,
        indices: np.ndarray,
        weights: np.ndarray,
        n_docs: int,
        params: BM25Params = BM25Params(),
        idf: np.ndarray | None = None,
    ) -> None:
        self.vocab = vocab
        self.idf = idf if idf is not None else np.zeros(len(vocab), dtype=np.float32)
        self.indptr = indptr  # int64, len(vocab) + 1: row t holds the postings of term t
        self.indices = indices  # int32 passage ids
        self.weights = weights  # float32 BM25 weight of (term, passage)
        self.n_docs = n_docs
        self.params = params

    @classmethod
    def build(cls, docs_tokens: Iterable[Sequence[str]], params: BM25Params = BM25Params()) -> BM25:
        vocab: dict[str, int] = {}
        doc_ids: list[np.ndarray] = []
        term_ids: list[np.ndarray] = []
        tfs: list[np.ndarray] = []
        lengths: list[int] = []
        for d, tokens in enumerate(docs_tokens):
            counts = Counter(tokens)
            ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in counts), dtype=np.int32, count=len(counts))
            term_ids.append(ids)
            tfs.append(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
            doc_ids.append(np.full(len(counts), d, dtype=np.int32))
            lengths.append(len(tokens))
        n_docs = len(lengths)
        if n_docs == 0:
            return cls({}, np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), 0, params, None)
        t = np.concatenate(term_ids)
        d = np.concatenate(doc_ids)
        tf = np.concatenate(tfs)
        doc_len = np.asarray(lengths, dtype=np.float64)
        avgdl = doc_len.mean() if doc_len.sum() else 1.0

        df = np.bincount(t, minlength=len(vocab)).astype(np.float64)
        idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        if len(idf):
            idf[idf < 0] = params.epsilon * idf.mean()
        norm = params.k1 * (1 - params.b + params.b * doc_len / avgdl)
        w = idf[t] * tf * (params.k1 + 1) / (tf + norm[d])

        order = np.argsort(t, kind="stable")
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(t, minlength=len(vocab)), out=indptr[1:])
        return cls(
            vocab,
            indptr,
            d[order].astype(np.int32),
            w[order].astype(np.float32),
            n_docs,
            params,
            idf.astype(np.float32),
        )

    @property
    def max_idf(self) -> float:
        """The idf of a term in one passage: what an unseen term would at least weigh."""
        return float(np.log(self.n_docs + 0.5) - np.log(1.5)) if self.n_docs else 0.0

    def term_idf(self, term: str) -> float | None:
        """The term's idf, or None if no passage contains it."""
        i = self.vocab.get(term)
        return float(self.idf[i]) if i is not None else None

    def term_ids(self, tokens: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Known terms of a query and how often each occurs (rank-bm25 counts repeats)."""
        counts = Counter(t for t in tokens if t in self.vocab)
        ids = np.fromiter((self.vocab[t] for t in counts), dtype=np.int64, count=len(counts))
        reps = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        return ids, reps

    def scores(self, tokens: Iterable[str]) -> np.ndarray:
        """BM25 score of every passage for the query tokens."""
        ids, reps = self.term_ids(tokens)
        if not len(ids):
            return np.zeros(self.n_docs, dtype=np.float32)
        starts, ends = self.indptr[ids], self.indptr[ids + 1]
        lens = ends - starts
        total = int(lens.sum())
        if total == 0:
            return np.zeros(self.n_docs, dtype=np.float32)
        # Gather all postings of the query terms in one vectorised step.
        offs = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens) + np.arange(total)
        w = self.weights[offs] * np.repeat(reps, lens)
        return np.bincount(self.indices[offs], weights=w, minlength=self.n_docs).astype(np.float32)

    def top_k(self, tokens: Iterable[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and scores of the k best passages with a positive score, best first."""
        scores = self.scores(tokens)
        k = min(k, self.n_docs)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        idx = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        idx = idx[np.lexsort((idx, -scores[idx]))]
        idx = idx[scores[idx] > 0]
        return idx, scores[idx]
