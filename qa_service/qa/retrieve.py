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
    match them: the ranker applies them, so a narrow filter still gets a full pool.  A follow-up
    about the earlier answer (``query.earlier``) reads the articles that answer cited first."""
    k = max(top_k, POOL)
    pool = _rank(ranker, query, k, filters)
    if query.earlier is None:
        return pool
    return earlier_first(pool, _rank(ranker, query.earlier, top_k, filters)[:top_k])


def retrieve_parts(ranker: Ranker, query: Query, top_k: int, filters: Filters | None = None) -> list[list[Hit]]:
    """The best passages for each part of a question asking the same of different things
    (``query.apart``): the things of 「A和B分别…」 are often told in two articles, and the whole
    question's best passages may all be about one of them.  Empty for other questions: the parts of
    「…是哪天开的？会上是谁讲的话？」 share one subject, and retrieved on their own they found fewer
    answers (DRCD's joined questions, evaluation/slots.py: both parts found 0.247 -> 0.217)."""
    if not query.apart:
        return []
    return [_rank(ranker, part, top_k, filters) for part in query.slots]


def _rank(ranker: Ranker, query: Query, k: int, filters: Filters | None) -> list[Hit]:
    """``ranker.rank``, with the filters passed only when there are some."""
    return ranker.rank(query, k, filters) if filters else ranker.rank(query, k)


def earlier_first(pool: list[Hit], earlier: list[Hit]) -> list[Hit]:
    """``pool`` with the passages of the articles ``earlier`` cited first, each part in its order;
    the earlier passages themselves join when the pool lacks them."""
    cited = {(h.chunk.doc_id, h.chunk.article) for h in earlier}
    held = {h.chunk.id for h in pool}
    first = [h for h in pool if (h.chunk.doc_id, h.chunk.article) in cited]
    first += [h for h in earlier if h.chunk.id not in held]
    return first + [h for h in pool if (h.chunk.doc_id, h.chunk.article) not in cited]
