"""``qa-service eval``: retrieval and answer quality on the seed set and CMRC2018.

Both indexes are built in memory from the sources, so the figures do not depend
on whatever is in the on-disk index.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import PROJECT_DIR, Settings
from .index import EmbeddedIndex, IndexSettings
from .models import Document
from .pipeline import build_corpus, corpus_from_documents
from .service import QAService
from .text import strip_ws

log = logging.getLogger(__name__)

DEFAULT_SEED_SET = PROJECT_DIR / "eval" / "seed_questions.jsonl"
DEFAULT_CMRC = PROJECT_DIR.parent / "shared" / "eval" / "cmrc2018_trial.json"
K = 10


def load_questions(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line.strip()]


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
    answer_accuracy: float = 0.0
    answered_rate: float = 0.0
    abstain_rate: float = 0.0
    item_recall: float = 0.0
    offset_errors: int = 0
    failures: list[str] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("Hit@1 (answerable)", f"{self.hit1:.3f}"),
            ("Hit@5 (answerable)", f"{self.hit5:.3f}"),
            ("MRR@10 (answerable)", f"{self.mrr10:.3f}"),
            ("answer contains gold", f"{self.answer_accuracy:.3f}"),
            ("answered (answerable)", f"{self.answered_rate:.3f}"),
            ("abstained (unanswerable)", f"{self.abstain_rate:.3f}"),
            ("list item recall", f"{self.item_recall:.3f}"),
            ("offset errors", str(self.offset_errors)),
        ]


def evaluate_seed_set(svc: QAService, questions: list[dict[str, Any]], originals: dict[str, str]) -> SeedReport:
    rep = SeedReport()
    ranks: list[int | None] = []
    answer_ok: list[bool] = []
    answered: list[bool] = []
    abstained: list[bool] = []
    recalls: list[float] = []
    for q in questions:
        rep.n[q["type"]] = rep.n.get(q["type"], 0) + 1
        res = svc.ask(q["question"], top_k=K)
        for p in res["passages"]:
            src = p["source"]
            orig = originals.get(src["document"], "")
            if strip_ws(orig[src["char_start"] : src["char_end"]]) != strip_ws(p["text"]):
                rep.offset_errors += 1
        ans = res["answer"]
        if q["type"] == "unanswerable":
            ok = ans["text"] is None and not ans["items"]
            abstained.append(ok)
            if not ok:
                rep.failures.append(f"{q['id']} answered an unanswerable question: {ans['text']!r}")
            continue
        r = _rank_of_hit(res["passages"], q["gold_doc"], q.get("must_contain"))
        ranks.append(r)
        if r is None or r > 0:
            rep.failures.append(f"{q['id']} gold passage at rank {None if r is None else r + 1}: {q['question']}")
        if q["type"] == "list":
            gold = q.get("items") or []
            got = [i["text"] for i in ans["items"]]
            found = [g for g in gold if any(g == x or g in x for x in got)]
            recalls.append(len(found) / len(gold) if gold else 1.0)
            if len(found) < len(gold):
                rep.failures.append(f"{q['id']} items missing {sorted(set(gold) - set(found))}; got {got}")
            continue
        answered.append(ans["text"] is not None)
        if q.get("answer_contains"):
            ok = ans["text"] is not None and strip_ws(q["answer_contains"]) in strip_ws(ans["text"])
            answer_ok.append(ok)
            if not ok:
                rep.failures.append(f"{q['id']} answer {ans['text']!r} lacks {q['answer_contains']!r}")
    if ranks:
        rep.hit1 = sum(r == 0 for r in ranks) / len(ranks)
        rep.hit5 = sum(r is not None and r < 5 for r in ranks) / len(ranks)
        rep.mrr10 = sum(1 / (r + 1) for r in ranks if r is not None and r < 10) / len(ranks)
    rep.answer_accuracy = sum(answer_ok) / len(answer_ok) if answer_ok else 0.0
    rep.answered_rate = sum(answered) / len(answered) if answered else 0.0
    rep.abstain_rate = sum(abstained) / len(abstained) if abstained else 0.0
    rep.item_recall = sum(recalls) / len(recalls) if recalls else 0.0
    return rep


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


def evaluate_retrieval(svc: QAService, questions: Iterable[tuple[str, str, list[str]]]) -> dict[str, float]:
    r1 = r5 = mrr = ahit = 0.0
    n = 0
    for question, gold, answers in questions:
        hits = svc.retriever.search(svc.retriever.query(question), K * 3)
        docs: list[str] = []
        for h in hits:
            if h.chunk.doc_id not in docs:
                docs.append(h.chunk.doc_id)
        n += 1
        if gold in docs[:1]:
            r1 += 1
        if gold in docs[:5]:
            r5 += 1
        if gold in docs[:K]:
            mrr += 1 / (docs.index(gold) + 1)
        top5 = " ".join(h.chunk.text for h in hits[:5])
        if any(a and a in top5 for a in answers):
            ahit += 1
    return {"questions": n, "R@1": r1 / n, "R@5": r5 / n, "MRR@10": mrr / n, "answer-hit@5": ahit / n}


def run_eval(args: argparse.Namespace, s: Settings) -> int:
    settings = IndexSettings(bigrams=not args.no_bigrams)
    out: dict[str, Any] = {"tokenizer": settings.to_dict()["tokenizer"]}
    seed_path = Path(args.seed_set) if args.seed_set else DEFAULT_SEED_SET
    if seed_path.is_file():
        corpus = build_corpus(s.corpus)
        svc = QAService(EmbeddedIndex.build(corpus, settings))
        rep = evaluate_seed_set(svc, load_questions(seed_path), {d.id: d.text for d in corpus.documents})
        out["seed"] = {"questions": rep.n, **dict(rep.rows())}
        out["seed_failures"] = rep.failures
    else:
        log.warning("no seed question set at %s", seed_path)
    cmrc_path = Path(args.cmrc) if args.cmrc else DEFAULT_CMRC
    if cmrc_path.is_file():
        docs, qs = cmrc_documents(cmrc_path)
        t0 = time.perf_counter()
        svc = QAService(EmbeddedIndex.build(corpus_from_documents(docs), settings))
        res = evaluate_retrieval(svc, qs)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        out["cmrc2018_trial"] = {"paragraphs": len(docs), **{k: round(v, 4) for k, v in res.items()}}
    else:
        log.warning("no CMRC2018 file at %s", cmrc_path)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(f"tokenizer: {out['tokenizer']}")
    if "seed" in out:
        print(
            f"\nseed set ({seed_path.name}; {sum(out['seed']['questions'].values())} questions: "
            + ", ".join(f"{v} {k}" for k, v in out["seed"]["questions"].items())
            + ")"
        )
        for k, v in out["seed"].items():
            if k != "questions":
                print(f"  {k:<28}{v}")
        if out["seed_failures"]:
            print("  misses:")
            for f in out["seed_failures"]:
                print(f"    - {f}")
    if "cmrc2018_trial" in out:
        c = out["cmrc2018_trial"]
        print(f"\nCMRC2018 trial ({c['paragraphs']} paragraphs, {c['questions']} questions)")
        for k in ("R@1", "R@5", "MRR@10", "answer-hit@5"):
            print(f"  {k:<28}{c[k]:.4f}")
    return 0


def _strip(s: str) -> str:
    return re.sub(r"\s", "", s)
