"""Retrieval in Milvus: BM25 alone, or BM25 fused with dense vectors (hybrid search)."""

from __future__ import annotations

from typing import Any

import numpy as np

from qa_service.core.models import Chunk, Hit, Query
from qa_service.index.base import Filters
from qa_service.index.embeddings import QueryEncoder
from qa_service.index.fusion import FusionSettings, fuse
from qa_service.index.milvus.config import _pymilvus
from qa_service.index.milvus.store import MilvusStore, _literal


def filter_expr(filters: Filters | None) -> str:
    """The question's filters as a Milvus filter expression on the rows' own fields (dates are ISO
    strings, so they compare as text; a row without a date holds "" and is out once a bound is set)."""
    if not filters:
        return ""
    parts = []
    if filters.published_from is not None:
        parts.append(f"published >= {_literal(filters.published_from)}")
    if filters.published_to is not None:
        parts.append(f'published <= {_literal(filters.published_to)} and published != ""')
    if filters.publisher is not None:
        parts.append(f"publisher == {_literal(filters.publisher)}")
    if filters.documents is not None:
        parts.append(f"doc_id in [{', '.join(_literal(d) for d in filters.documents)}]")
    return " and ".join(parts)


def row_chunk(r: dict[str, Any]) -> Chunk:
    """The passage a row (or a search hit's entity) holds, with the pipeline's chunk id."""
    return Chunk(
        id=f"{r['doc_id']}#{r['article']}.{r['seq']}",
        text=r["text"],
        char_start=int(r["char_start"]),
        char_end=int(r["char_end"]),
        doc_id=r["doc_id"],
        article=int(r["article"]),
        title=r["title"],
        published=r.get("published") or None,
        publisher=r.get("publisher") or None,
        attribution=r.get("attribution") or None,
        section=r.get("section") or None,
    )


def query_text(query: Query, analyzer: str) -> str:
    """What Milvus analyses: our terms (jieba+bigrams), or the text for its own analyzer."""
    if analyzer == "jieba+bigrams":
        return " ".join(query.tokens)
    if not query.tokens:
        return ""
    # A follow-up's own words count twice more, as in qa/question.py.
    return f"{query.text} {query.question} {query.question}" if query.followup else query.text


class MilvusBM25Ranker:
    mode = "bm25"

    def __init__(self, store: MilvusStore) -> None:
        self.store = store

    def rank(self, query: Query, k: int, filters: Filters | None = None) -> list[Hit]:
        text = query_text(query, self.store.config.analyzer)
        if not text.strip():
            return []
        return [
            Hit(
                chunk=row_chunk(h["entity"]),
                score=float(h["distance"]),
                rank=r,
                explain={"bm25": float(h["distance"]), "bm25_rank": r, "engine": "milvus"},
            )
            for r, h in enumerate(self.store.search(text, k, expr=filter_expr(filters)))
        ]


class MilvusHybridRanker:
    """Hybrid retrieval in Milvus, with the same weight setting (QA_HYBRID_WEIGHT, the dense share)
    as the embedded hybrid.

    On a Milvus server or cluster it is Milvus's own hybrid search: a BM25 and a dense request
    fused by its WeightedRanker (or RRFRanker).  Milvus Lite 2.5's WeightedRanker normalises BM25
    as if it were a distance, which turns the BM25 order upside down (its RRFRanker is right); on
    Lite, weighted fusion therefore runs the two searches in Milvus and fuses them here with the
    embedded hybrid's own formula (fusion.fuse: min-max over the candidates of both).

    ``native_weighted`` forces the choice: True, Milvus's WeightedRanker even on Lite; False, the
    fusion here even on a server; None (default), by the engine."""

    mode = "hybrid"

    def __init__(
        self,
        store: MilvusStore,
        queries: QueryEncoder,
        fusion: FusionSettings,
        native_weighted: bool | None = None,
    ) -> None:
        self.store = store
        self.queries = queries
        self.fusion = fusion
        self.native_weighted = native_weighted

    def ranker(self) -> Any:
        pm = _pymilvus()
        if self.fusion.method == "rrf":
            return pm.RRFRanker(self.fusion.rrf_k)
        w = float(self.fusion.weight)
        return pm.WeightedRanker(1.0 - w, w)

    def native(self) -> bool:
        if self.fusion.method == "rrf":
            return True
        if self.native_weighted is not None:
            return self.native_weighted
        return not self.store.is_lite()

    def rank(self, query: Query, k: int, filters: Filters | None = None) -> list[Hit]:
        text = query_text(query, self.store.config.analyzer).strip()
        vector = self.queries(query.text)
        expr = filter_expr(filters)
        if not self.native():
            return self._fused_here(text, vector, k, expr)
        label = f"{self.fusion.label()} (Milvus)"
        candidates = max(k, self.fusion.candidates)
        hits = self.store.hybrid_search(text or None, vector, k, self.ranker(), candidates, expr)
        return [
            Hit(
                chunk=row_chunk(h["entity"]),
                score=float(h["distance"]),
                rank=r,
                explain={"fused": round(float(h["distance"]), 6), "fusion": label, "engine": "milvus"},
            )
            for r, h in enumerate(hits)
        ]

    def _fused_here(self, text: str, vector: np.ndarray, k: int, expr: str = "") -> list[Hit]:
        store, n = self.store, self.fusion.candidates
        bm25_hits = store.search(text, n, expr=expr) if text else []
        dense_hits = store.dense_search(vector, n, expr=expr)
        rows = {h["id"]: h["entity"] for h in (*dense_hits, *bm25_hits)}
        bm25 = {h["id"]: float(h["distance"]) for h in bm25_hits}
        dense = {h["id"]: float(h["distance"]) for h in dense_hits}
        # Each candidate's score on the side that did not bring it, as the embedded fusion has it.
        if text and (todo := [p for p in rows if p not in bm25]):
            bm25.update({h["id"]: float(h["distance"]) for h in store.search(text, len(todo), pks=todo)})
        if todo := [p for p in rows if p not in dense]:
            dense.update({h["id"]: float(h["distance"]) for h in store.dense_search(vector, len(todo), pks=todo)})
        pks = sorted(rows)
        b = np.array([bm25.get(p, 0.0) for p in pks], dtype=np.float64)
        d = np.array([dense.get(p, -1.0) for p in pks], dtype=np.float64)
        out = []
        for r, f in enumerate(fuse(b, d, self.fusion, k)):
            label = f"{f.explain['fusion']} (Milvus searches, fused here)"
            explain = {**f.explain, "fusion": label, "engine": "milvus"}
            out.append(Hit(chunk=row_chunk(rows[pks[f.passage]]), score=f.score, rank=r, explain=explain))
        return out
