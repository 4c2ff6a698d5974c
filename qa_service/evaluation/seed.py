"""The seed question set: retrieval, answers, abstentions and list items on the bundled corpus."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_service.core.settings import PROJECT_DIR
from qa_service.core.text import sentence_spans, strip_ws
from qa_service.qa.service import QAService

DEFAULT_SEED_SET = PROJECT_DIR / "eval" / "seed_questions.jsonl"
# Forms a chat user wraps a question in (请问{q}, {q0}，你清楚吗？): the seed set asked that way too.
CHAT_FORMS = PROJECT_DIR / "eval" / "chat_wrappers.txt"
CHAT_ROWS = (
    "short answer contains gold",
    "evidence contains gold",
    "answered (answerable)",
    "abstained (unanswerable)",
    "list item recall",
    "list item precision",
)
K = 10


def load_questions(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line.strip()]


def load_forms(path: str | Path = CHAT_FORMS) -> list[str]:
    """The forms of ``path``: one a line, ``{q}`` the question, ``{q0}`` it without its question mark."""
    lines = Path(path).read_text("utf-8").splitlines()
    return [f for f in (line.strip() for line in lines) if f and not f.startswith("#")]


def chat_wrapped(questions: list[dict[str, Any]], forms: list[str]) -> list[dict[str, Any]]:
    """``questions`` as chat users might type them: each one not a follow-up in the next form, in
    turn (a follow-up's history would not read with it)."""
    out, n = [], 0
    for q in questions:
        if not q.get("history"):
            form, n = forms[n % len(forms)], n + 1
            bare = q["question"].rstrip("？?")
            q = {**q, "question": form.replace("{q0}", bare).replace("{q}", q["question"])}
        out.append(q)
    return out


def _rank_of_hit(passages: list[dict[str, Any]], doc: str, must: str | None) -> int | None:
    needle = strip_ws(must) if must else None
    for r, p in enumerate(passages):
        if p["source"]["document"] == doc and (needle is None or needle in strip_ws(p["text"])):
            return r
    return None


@dataclass
class SeedReport:
    n: dict[str, int] = field(default_factory=dict)
    hit1: float = 0.0
    hit5: float = 0.0
    mrr10: float = 0.0
    answer_accuracy: float = 0.0  # the short answer holds an accepted gold answer
    evidence_accuracy: float = 0.0  # the evidence sentence (or the short answer) holds it
    naive_accuracy: float = 0.0  # the baseline: the top passage's sentence sharing most characters
    answered_rate: float = 0.0
    abstain_rate: float = 0.0
    item_recall: float = 0.0
    item_precision: float = 0.0
    offset_errors: int = 0
    failures: list[str] = field(default_factory=list)
    top1: list[bool] = field(default_factory=list)  # per answerable question, in order: gold passage first?

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("Hit@1 (answerable)", f"{self.hit1:.3f}"),
            ("Hit@5 (answerable)", f"{self.hit5:.3f}"),
            ("MRR@10 (answerable)", f"{self.mrr10:.3f}"),
            ("short answer contains gold", f"{self.answer_accuracy:.3f}"),
            ("evidence contains gold", f"{self.evidence_accuracy:.3f}"),
            ("naive sentence contains gold", f"{self.naive_accuracy:.3f}"),
            ("answered (answerable)", f"{self.answered_rate:.3f}"),
            ("abstained (unanswerable)", f"{self.abstain_rate:.3f}"),
            ("list item recall", f"{self.item_recall:.3f}"),
            ("list item precision", f"{self.item_precision:.3f}"),
            ("offset errors", str(self.offset_errors)),
        ]


@dataclass
class _Tally:
    """Per-question outcomes, by the kind of question they concern."""

    ranks: list[int | None] = field(default_factory=list)  # answerable: rank of the gold passage
    answer_ok: list[bool] = field(default_factory=list)  # with an expected answer: does it contain it?
    evidence_ok: list[bool] = field(default_factory=list)  # … does the evidence sentence?
    naive_ok: list[bool] = field(default_factory=list)  # … does the naive baseline's sentence?
    precisions: list[float] = field(default_factory=list)  # lists: share of the items given that are gold
    answered: list[bool] = field(default_factory=list)  # answerable, not lists: answered at all?
    abstained: list[bool] = field(default_factory=list)  # unanswerable: no answer?
    recalls: list[float] = field(default_factory=list)  # lists: share of the gold items found

    def fill(self, rep: SeedReport) -> None:
        ranks = self.ranks
        rep.top1 = [r == 0 for r in ranks]
        if ranks:
            rep.hit1 = sum(r == 0 for r in ranks) / len(ranks)
            rep.hit5 = sum(r is not None and r < 5 for r in ranks) / len(ranks)
            rep.mrr10 = sum(1 / (r + 1) for r in ranks if r is not None and r < 10) / len(ranks)
        rep.answer_accuracy = _mean(self.answer_ok)
        rep.evidence_accuracy = _mean(self.evidence_ok)
        rep.naive_accuracy = _mean(self.naive_ok)
        rep.item_precision = _mean(self.precisions)
        rep.answered_rate = _mean(self.answered)
        rep.abstain_rate = _mean(self.abstained)
        rep.item_recall = _mean(self.recalls)


def _mean(values: list[bool] | list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def evaluate_seed_set(svc: QAService, questions: list[dict[str, Any]], originals: dict[str, str]) -> SeedReport:
    rep = SeedReport()
    tally = _Tally()
    for q in questions:
        rep.n[q["type"]] = rep.n.get(q["type"], 0) + 1
        res = svc.ask(q["question"], history=q.get("history") or (), top_k=K)
        rep.offset_errors += _offset_errors(res["passages"], originals)
        _score(q, res, rep, tally)
    tally.fill(rep)
    return rep


def _offset_errors(passages: list[dict[str, Any]], originals: dict[str, str]) -> int:
    """Passages whose offsets do not cut their text out of the original document."""
    errors = 0
    for p in passages:
        src = p["source"]
        orig = originals.get(src["document"], "")
        if strip_ws(orig[src["char_start"] : src["char_end"]]) != strip_ws(p["text"]):
            errors += 1
    return errors


def _score(q: dict[str, Any], res: dict[str, Any], rep: SeedReport, tally: _Tally) -> None:
    """Tally one question's result, noting in ``rep.failures`` what went wrong."""
    ans = res["answer"]
    if q["type"] == "unanswerable":
        ok = ans["text"] is None and not ans["items"]
        tally.abstained.append(ok)
        if not ok:
            rep.failures.append(f"{q['id']} answered an unanswerable question: {ans['text']!r}")
        return
    r = _rank_of_hit(res["passages"], q["gold_doc"], q.get("must_contain"))
    tally.ranks.append(r)
    if r is None or r > 0:
        rep.failures.append(f"{q['id']} gold passage at rank {None if r is None else r + 1}: {q['question']}")
    if q["type"] == "list" or (q.get("items") and res["answer"]["items"]):
        _score_list(q, ans, rep, tally)
        return
    tally.answered.append(ans["text"] is not None)
    golds = accepted_answers(q)
    if golds:
        # A two-part question is answered part by part (answer.slots); every part's gold is sought
        # in the parts' answers together.
        parts = ans.get("slots") or [ans]
        short = "；".join(p["text"] for p in parts if p["text"]) or None
        evidence = "；".join((p.get("evidence") or {}).get("text") or p["text"] or "" for p in parts) or short
        ok = _holds(short, golds, q)
        tally.answer_ok.append(ok)
        tally.evidence_ok.append(_holds(evidence, golds, q))
        top = res["passages"][0]["text"] if res["passages"] else None
        tally.naive_ok.append(_holds(naive_sentence(q["question"], top), golds, q))
        if not ok:
            rep.failures.append(f"{q['id']} answer {short!r} lacks {_missing(short, golds, q)!r}")


def accepted_answers(q: dict[str, Any]) -> list[str]:
    """The short answers a question accepts (for two-slot questions, the first slot's)."""
    if q.get("slots"):
        return list(q["slots"][0]["answers"])
    golds = list(q.get("answers") or [])
    for key in ("answer", "answer_contains"):
        if q.get(key) and q[key] not in golds:
            golds.append(q[key])
    return golds


def _holds(text: str | None, golds: list[str], q: dict[str, Any]) -> bool:
    """``text`` holds an accepted answer (every slot's, for two-slot questions)."""
    if not text:
        return False
    t = strip_ws(text)
    slots = [s["answers"] for s in q["slots"]] if q.get("slots") else [golds]
    return all(any(strip_ws(g) in t for g in answers) for answers in slots)


def _missing(text: str | None, golds: list[str], q: dict[str, Any]) -> str:
    """The first accepted answer of the first slot ``text`` does not hold (the gold, without slots)."""
    t = strip_ws(text or "")
    for answers in [s["answers"] for s in q["slots"]] if q.get("slots") else [golds]:
        if not any(strip_ws(g) in t for g in answers):
            return answers[0]
    return golds[0]


def naive_sentence(question: str, text: str | None) -> str | None:
    """The baseline: the sentence of ``text`` (the top passage's) sharing the most characters with
    the question."""
    if not text:
        return None
    spans = sentence_spans(text)
    if not spans:
        return None
    q = set(question)
    s, e = max(spans, key=lambda sp: len(q & set(text[sp[0] : sp[1]])))
    return text[s:e]


def _score_list(q: dict[str, Any], ans: dict[str, Any], rep: SeedReport, tally: _Tally) -> None:
    gold = q.get("items") or []
    got = [i["text"] for i in ans["items"]]
    found = [g for g in gold if any(g == x or g in x for x in got)]
    right = [x for x in got if any(g == x or g in x for g in gold)]
    tally.recalls.append(len(found) / len(gold) if gold else 1.0)
    tally.precisions.append(len(right) / len(got) if got else 0.0)
    if len(found) < len(gold):
        rep.failures.append(f"{q['id']} items missing {sorted(set(gold) - set(found))}; got {got}")
