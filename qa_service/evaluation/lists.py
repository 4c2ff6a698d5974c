"""List questions of a SQuAD-style set (哪些/哪几/分别…): how the service's items compare with the
gold span.  Those sets hold no item lists, so the gold span stands in for one:

- with items: the share of list questions that get any items;
- item precision: the share of items that lie inside the gold span;
- part recall: for gold spans that are themselves lists (three or more parts between 、，及和与),
  the share of their parts after the first (whose lead-in words are not an item) that an item
  matches, either holding the other.

The list rules were written against the seed set; these figures are on data they were not written on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from qa_service.core.text import strip_ws
from qa_service.qa.enumerate import asks_for_list
from qa_service.qa.service import QAService

_PARTS = re.compile(r"[、，,及和与]")


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 3) if values else 0.0


def list_figures(svc: QAService, questions: Iterable[tuple[str, str, list[str]]], top_k: int = 5) -> dict[str, Any]:
    asked = with_items = 0
    precision: list[float] = []
    recall: list[float] = []
    for question, _, answers in questions:
        if not answers or not asks_for_list(question):
            continue
        asked += 1
        items = [strip_ws(i["text"]) for i in svc.ask(question, top_k=top_k)["answer"]["items"]]
        gold = strip_ws(answers[0])
        if items:
            with_items += 1
            precision.append(sum(i in gold for i in items) / len(items))
        parts = [strip_ws(p) for p in _PARTS.split(answers[0]) if len(p) >= 2]
        if len(parts) >= 3:
            recall.append(sum(any(i in p or p in i for i in items) for p in parts[1:]) / len(parts[1:]))
    return {
        "list questions": asked,
        "with items": _mean([1.0] * with_items + [0.0] * (asked - with_items)),
        "item precision (inside gold span)": _mean(precision),
        "part recall (gold spans that are lists)": _mean(recall),
        "gold spans that are lists": len(recall),
    }
