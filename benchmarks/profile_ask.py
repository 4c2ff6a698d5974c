"""Where /api/ask spends its time: QAService.ask in process under pyinstrument.

    python benchmarks/profile_ask.py QA_INDEX_DIR [--questions 200]

Prints one JSON object: the ask latency percentiles, the self time of the
hottest functions (file:function), and the path of pyinstrument's full tree.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("index_dir")
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--tree", default=str(HERE / ".data" / "profile-ask.txt"))
    a = p.parse_args()
    from pyinstrument import Profiler

    from qa_service.evaluation import DEFAULT_CMRC, cmrc_documents
    from qa_service.index.embedded.store import EmbeddedIndex
    from qa_service.qa.question import parse_question
    from qa_service.qa.retrieve import retrieve
    from qa_service.qa.service import QAService

    _, qs = cmrc_documents(DEFAULT_CMRC)
    questions = [q for q, _, _ in qs][: a.questions]
    svc = QAService(EmbeddedIndex.load(a.index_dir))
    for q in questions[:10]:
        svc.ask(q)
    times = []
    split = {"retrieve": 0.0, "ask": 0.0}
    for q in questions:
        t0 = time.perf_counter()
        query = parse_question(svc.index.tokenizer, q)
        retrieve(svc.ranker, query, 30)
        t1 = time.perf_counter()
        svc.ask(q)
        t2 = time.perf_counter()
        split["retrieve"] += t1 - t0
        split["ask"] += t2 - t1
        times.append((t2 - t1) * 1000)
    times.sort()
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for q in questions:
        svc.ask(q)
    profiler.stop()
    Path(a.tree).write_text(profiler.output_text(unicode=True, color=False, show_all=False), encoding="utf-8")
    self_time: dict[str, float] = defaultdict(float)
    total = 0.0

    def walk(frame) -> None:
        nonlocal total
        if frame is None:
            return
        st = frame.total_self_time
        total += st
        path = frame.file_path_short or frame.file_path or ""
        self_time[f"{path}:{frame.function}"] += st
        for child in frame.children:
            walk(child)

    walk(profiler.last_session.root_frame())
    hot = sorted(self_time.items(), key=lambda kv: -kv[1])[:20]
    out = {
        "questions": len(questions),
        "ask_p50_ms": times[len(times) // 2],
        "ask_p95_ms": times[int(len(times) * 0.95)],
        "retrieval_share": split["retrieve"] / split["ask"],
        "hot_self_time": [{"where": k, "share": v / total} for k, v in hot],
        "tree": a.tree,
    }
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
