"""Two-part questions made from a SQuAD-style set: two questions about one paragraph asked as one
(``Q1？Q2？``), the way people ask two things at once.  The parts' gold answers must each be found
in the answer's parts (``answer.slots``; without slots, in the one answer).

The set holds no such questions; joining two of its own is how the part-by-part reading is
measured on data its rules were not written on.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from qa_service.core.text import strip_ws
from qa_service.qa.answer import compose
from qa_service.qa.question import parse_question
from qa_service.qa.retrieve import retrieve
from qa_service.qa.service import QAService

MAX_PAIRS = 300


def question_pairs(
    questions: Sequence[tuple[str, str, list[str]]], limit: int = MAX_PAIRS
) -> list[tuple[str, list[list[str]]]]:
    """Consecutive questions about the same paragraph, joined: (question, gold answers per part)."""
    pairs = []
    for (q1, p1, a1), (q2, p2, a2) in pairwise(questions):
        if p1 == p2 and a1 and a2 and len(pairs) < limit:
            pairs.append((f"{q1.rstrip('？?')}？{q2.rstrip('？?')}？", [a1, a2]))
    return pairs


def _found(answer: dict[str, Any], golds: list[str]) -> bool:
    parts = answer.get("slots") or [answer]
    text = strip_ws("；".join(p["text"] or "" for p in parts))
    return any(strip_ws(g) and strip_ws(g) in text for g in golds)


def _whole(svc: QAService, question: str, top_k: int) -> dict[str, Any]:
    """The baseline: the joined question read as one, as before answers had parts."""
    query = parse_question(svc.index.tokenizer, question)
    query.slots = []
    pool = retrieve(svc.ranker, query, top_k)
    idx = svc.index
    answer, _ = compose(svc.model, idx.tokenizer, query, pool, top_k, idx.term_idf, idx.max_idf, idx.document_text)
    return answer.to_dict()


def slot_figures(svc: QAService, questions: Sequence[tuple[str, str, list[str]]], top_k: int = 5) -> dict[str, Any]:
    """Per reading (in parts, as the service does; whole, the baseline): the share of joined
    questions whose first part's, second part's and both gold answers are found."""
    pairs = question_pairs(questions)
    counts = {"parts": [0, 0, 0, 0], "whole": [0, 0, 0, 0]}
    for question, golds in pairs:
        for name, answer in (
            ("parts", svc.ask(question, top_k=top_k)["answer"]),
            ("whole", _whole(svc, question, top_k)),
        ):
            f, s = _found(answer, golds[0]), _found(answer, golds[1])
            c = counts[name]
            c[0], c[1], c[2], c[3] = c[0] + bool(answer.get("slots")), c[1] + f, c[2] + s, c[3] + (f and s)
    n = len(pairs) or 1
    keys = ("read in parts", "first part's answer found", "second part's answer found", "both found")
    return {
        "joined questions": len(pairs),
        **{name: {k: round(v / n, 3) for k, v in zip(keys, c, strict=True)} for name, c in counts.items()},
    }


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m qa_service.evaluation.slots FILE``: the figures on any SQuAD-style file."""
    import json
    import sys

    from qa_service.evaluation.cmrc import cmrc_documents
    from qa_service.index.embedded.store import EmbeddedIndex
    from qa_service.ingest.pipeline import corpus_from_documents

    path = (argv or sys.argv[1:])[0]
    docs, qs = cmrc_documents(path)
    svc = QAService(EmbeddedIndex.build(corpus_from_documents(docs)))
    print(json.dumps(slot_figures(svc, qs), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
