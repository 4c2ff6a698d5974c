"""The question-answering service: retrieval plus answer composition over one backend.

Used by the HTTP API and the CLI alike, so both return the same JSON.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from qa_service.index import Backend
from qa_service.index.embeddings import Embedder
from qa_service.index.fusion import FusionSettings
from qa_service.qa.answer import compose, highlights
from qa_service.qa.question import parse_question
from qa_service.qa.retrieve import retrieve

log = logging.getLogger(__name__)


class QAService:
    def __init__(
        self, index: Backend, embedder: Embedder | None = None, fusion: FusionSettings = FusionSettings()
    ) -> None:
        """Hybrid retrieval when ``embedder`` matches the index's vectors, BM25 otherwise."""
        self.index = index
        self.ranker = index.make_ranker(embedder, fusion)

    @property
    def mode(self) -> str:
        return self.ranker.mode

    def ask(
        self, question: str, history: Sequence[dict[str, str]] = (), top_k: int = 5, explain: bool = False
    ) -> dict[str, Any]:
        t0 = time.perf_counter()
        query = parse_question(self.index.tokenizer, question, history)
        pool = retrieve(self.ranker, query, top_k)
        answer, passages = compose(
            self.index.tokenizer,
            query,
            pool,
            top_k,
            self.index.term_idf,
            self.index.max_idf,
            self.index.document_text,
        )
        out_passages = []
        for hit in passages:
            c = hit.chunk
            item: dict[str, Any] = {
                "id": c.id,
                "text": c.text,
                "score": round(hit.score, 4),
                "highlights": highlights(query, c.text),
                "source": c.source(),
            }
            if explain:
                item["explain"] = hit.explain
            out_passages.append(item)
        result: dict[str, Any] = {
            "question": question,
            "mode": self.mode,
            "answer": answer.to_dict(),
            "passages": out_passages,
        }
        if query.followup:
            result["rewritten_question"] = query.text
        result["took_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        return result
