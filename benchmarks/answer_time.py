"""What answer composition adds to a question: retrieval alone (the baseline) beside the whole ask.

    python benchmarks/answer_time.py [--questions 300] [--top-k 5] [--set ../shared/eval/cmrc2018_trial.json]

Every paragraph of the set is a document (in memory, as `qa-service eval` does); each question is
timed three ways in one run, interleaved so a busy machine slows all alike: parse + retrieve (the
baseline), the whole `QAService.ask`, and their difference per question (what composing the
answer adds).  Prints p50/p95 in milliseconds, and the CPU seconds of the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=int, default=300)
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--set", default=None, help="SQuAD-style JSON (default: CMRC2018 trial)")
    a = p.parse_args()
    from qa_service.evaluation.cmrc import DEFAULT_CMRC, cmrc_documents
    from qa_service.index.embedded.store import EmbeddedIndex
    from qa_service.ingest.pipeline import corpus_from_documents
    from qa_service.qa.question import parse_question
    from qa_service.qa.retrieve import retrieve
    from qa_service.qa.service import QAService

    docs, qs = cmrc_documents(a.set or DEFAULT_CMRC)
    svc = QAService(EmbeddedIndex.build(corpus_from_documents(docs)))
    questions = [q for q, _, _ in qs][: a.questions]
    for q in questions[:10]:  # warm-up: jieba's dictionary, numpy
        svc.ask(q, top_k=a.top_k)
    retrieval, whole = [], []
    cpu0 = time.process_time()
    for q in questions:
        t0 = time.perf_counter()
        retrieve(svc.ranker, parse_question(svc.index.tokenizer, q), a.top_k)
        t1 = time.perf_counter()
        svc.ask(q, top_k=a.top_k)
        t2 = time.perf_counter()
        retrieval.append((t1 - t0) * 1000)
        whole.append((t2 - t1) * 1000)
    added = np.array(whole) - np.array(retrieval)

    def pct(v) -> dict[str, float]:
        return {"p50": round(float(np.percentile(v, 50)), 2), "p95": round(float(np.percentile(v, 95)), 2)}

    print(
        json.dumps(
            {
                "questions": len(questions),
                "top_k": a.top_k,
                "baseline: parse + retrieve (ms)": pct(retrieval),
                "whole ask (ms)": pct(whole),
                "answer composition added (ms)": pct(added),
                "cpu_seconds": round(time.process_time() - cpu0, 1),
            },
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
