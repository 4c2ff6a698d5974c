"""Retrieve stage: a parsed question (qa/question.py) -> ranked passages.

Ranking is the backend's ``Ranker``: BM25, or BM25 fused with dense vectors.
Rankers get the whole ``Query``, since a dense model reads the text, not tokens.
"""

from __future__ import annotations

from qa_service.core.models import Hit, Query
from qa_service.index import Ranker

# Candidate pool for list questions: items may come from beyond the top_k shown.
POOL = 30


def retrieve(ranker: Ranker, query: Query, top_k: int) -> list[Hit]:
    """The best passages for the question: at least ``POOL`` of them, so that a list question can
    draw its items from beyond the ``top_k`` shown."""
    return ranker.rank(query, max(top_k, POOL))
