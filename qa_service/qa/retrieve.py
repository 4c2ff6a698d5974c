"""Retrieve stage: a parsed question (qa/question.py) -> ranked passages.

Ranking is the backend's ``Ranker``: BM25, or BM25 fused with dense vectors.
Rankers get the whole ``Query``, since a dense model reads the text, not tokens.
"""

from __future__ import annotations

from qa_service.core.models import Hit, Query
from qa_service.index import Filters, Ranker

# Candidate pool for list questions: items may come from beyond the top_k shown.
POOL = 30


def retrieve(ranker: Ranker, query: Query, top_k: int, filters: Filters | None = None) -> list[Hit]:
    """The best passages for the question: at least ``POOL`` of them, so that a list question can
    draw its items from beyond the ``top_k`` shown.  With ``filters``, the best of the passages that
    match them: the ranker applies them, so a narrow filter still gets a full pool."""
    k = max(top_k, POOL)
    return ranker.rank(query, k, filters) if filters else ranker.rank(query, k)
