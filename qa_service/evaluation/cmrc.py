"""CMRC2018: every paragraph a document; recall of the gold paragraph and paired McNemar tests."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_service.core.models import Document
from qa_service.core.settings import PROJECT_DIR
from qa_service.evaluation.seed import K
from qa_service.qa.question import parse_question
from qa_service.qa.service import QAService

DEFAULT_CMRC = PROJECT_DIR.parent / "shared" / "eval" / "cmrc2018_trial.json"


def cmrc_documents(path: str | Path) -> tuple[list[Document], list[tuple[str, str, list[str]]]]:
    """Every paragraph a document; each question with its paragraph and gold answers."""
    data = json.loads(Path(path).read_text("utf-8"))
    docs, qs = [], []
    for article in data["data"]:
        for n, para in enumerate(article["paragraphs"]):
            pid = para.get("id") or f"{article.get('id', len(docs))}-{n}"
            docs.append(
                Document(id=pid, text=para["context"], path=str(path), format="jsonl", title=article.get("title"))
            )
            for qa in para["qas"]:
                qs.append((qa["question"], pid, [a["text"] for a in qa.get("answers", [])]))
    return docs, qs


@dataclass
class RetrievalResult:
    """Per question: rank of the gold paragraph (None past the candidates) and answer-hit@5."""

    ranks: list[int | None] = field(default_factory=list)
    answer_hits: list[bool] = field(default_factory=list)

    @property
    def top1(self) -> list[bool]:
        return [r == 0 for r in self.ranks]

    def metrics(self) -> dict[str, float]:
        n = len(self.ranks) or 1
        return {
            "questions": len(self.ranks),
            "R@1": sum(r == 0 for r in self.ranks) / n,
            "R@5": sum(r is not None and r < 5 for r in self.ranks) / n,
            "MRR@10": sum(1 / (r + 1) for r in self.ranks if r is not None and r < K) / n,
            "answer-hit@5": sum(self.answer_hits) / n,
        }


def retrieve_cmrc(svc: QAService, questions: Iterable[tuple[str, str, list[str]]]) -> RetrievalResult:
    res = RetrievalResult()
    for question, gold, answers in questions:
        hits = svc.ranker.rank(parse_question(svc.index.tokenizer, question), K * 3)
        docs: list[str] = []
        for h in hits:
            if h.chunk.doc_id not in docs:
                docs.append(h.chunk.doc_id)
        res.ranks.append(docs.index(gold) if gold in docs else None)
        top5 = " ".join(h.chunk.text for h in hits[:5])
        res.answer_hits.append(any(a and a in top5 for a in answers))
    return res


def evaluate_retrieval(svc: QAService, questions: Iterable[tuple[str, str, list[str]]]) -> dict[str, float]:
    return retrieve_cmrc(svc, questions).metrics()


def mcnemar(base: Sequence[bool], other: Sequence[bool]) -> dict[str, Any]:
    """Exact two-sided McNemar (sign) test of paired per-question hits: under no difference,
    each question one method gets and the other misses is a fair coin."""
    if len(base) != len(other):
        raise ValueError("paired results must cover the same questions")
    gained = sum(o and not b for b, o in zip(base, other, strict=True))
    lost = sum(b and not o for b, o in zip(base, other, strict=True))
    n = gained + lost
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1)) / 2**n if n else 1.0
    return {"gained": gained, "lost": lost, "p": min(1.0, 2 * tail)}
