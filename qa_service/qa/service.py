"""The question-answering service: retrieval plus answer composition over one backend.

Used by the HTTP API and the CLI alike, so both return the same JSON.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from qa_service.core.models import Answer, Query
from qa_service.core.text import IDEOGRAPH
from qa_service.index import Backend, Filters
from qa_service.index.catalog import DocumentCatalog
from qa_service.index.embeddings import Embedder
from qa_service.index.fusion import FusionSettings
from qa_service.qa.answer import compose, highlights
from qa_service.qa.model import AnswerModel
from qa_service.qa.neural import SpanProposer
from qa_service.qa.question import parse_question
from qa_service.qa.reader import load_model
from qa_service.qa.retrieve import retrieve, retrieve_parts

log = logging.getLogger(__name__)


NOT_CHINESE = "本服务回答中文问题，请用中文提问。(This service answers questions in Chinese.)"
_IDEOGRAPH = re.compile(f"[{IDEOGRAPH}]")


def not_chinese(query: Query, idf: Callable[[str], float | None]) -> bool:
    """A question with no Chinese in it whose words the corpus does not hold either."""
    return not _IDEOGRAPH.search(query.question) and all(idf(w) is None for w in query.words)


class QAService:
    def __init__(
        self,
        index: Backend,
        embedder: Embedder | None = None,
        fusion: FusionSettings = FusionSettings(),
        model: AnswerModel | None = None,
        proposer: SpanProposer | None = None,
    ) -> None:
        """Hybrid retrieval when ``embedder`` matches the index's vectors, BM25 otherwise; answers by
        ``model`` (default: the fitted model shipped in the package)."""
        self.index = index
        self.ranker = index.make_ranker(embedder, fusion)
        self.model = model or load_model()
        self.proposer = proposer  # the optional neural reader (QA_READER_MODEL)

    @property
    def mode(self) -> str:
        return self.ranker.mode

    @cached_property
    def catalog(self) -> DocumentCatalog:
        """The index's documents, listed a page at a time (its sorted order is kept with this version)."""
        return DocumentCatalog(self.index.documents)

    def ask(
        self,
        question: str,
        history: Sequence[dict[str, str]] = (),
        top_k: int = 5,
        explain: bool = False,
        filters: Filters | None = None,
    ) -> dict[str, Any]:
        """``filters``: answer only from the passages that match them (dates, publisher, documents)."""
        t0 = time.perf_counter()
        query = parse_question(self.index.tokenizer, question, history)
        pool = retrieve(self.ranker, query, top_k, filters)
        foreign = not_chinese(query, self.index.term_idf)
        if foreign:  # nothing to read: the words are neither Chinese nor the corpus's
            answer, passages = Answer(text=None, passage=None), list(pool[:top_k])
        else:
            answer, passages = compose(
                self.model,
                self.index.tokenizer,
                query,
                pool,
                top_k,
                self.index.term_idf,
                self.index.max_idf,
                self.index.document_text,
                self.proposer,
                retrieve_parts(self.ranker, query, top_k, filters),
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
        if foreign:
            result["notice"] = NOT_CHINESE
        result["took_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        return result
