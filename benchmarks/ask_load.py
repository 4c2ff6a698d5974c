"""/api/ask throughput of this checkout beside a baseline checkout, over HTTP, on one corpus.

    python benchmarks/ask_load.py --baseline ../base [--size 100k] [--seconds 20] [--rounds 2]

``--baseline``: another checkout of the project (e.g. ``git worktree add ../base <commit>``); its code
builds its own index and serves it, run with this venv's Python.  Both indexes are built from the
same generated corpus (benchmarks/corpus.py) with ``qa_service index``; then, round after round, each
server is started in turn (``serve --workers 2`` on 127.0.0.1) and loaded with 1, 8 and 32 clients
(run.py's load_run: CMRC2018 questions, a new connection per request), so a busy machine slows both
alike.  Prints one JSON object: per side and client count, the median over rounds of req/s and of
p50/p95/p99, and the ratio of this checkout's req/s to the baseline's.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from ab import ab_parser, build_index, sides_of
from run import free_port, load_run, log, questions, start_server, stop_server

LEVELS = (1, 8, 32)


def load_levels(
    checkout: Path, index_dir: Path, corpus: Path, log_file: Path, qs: list[str], seconds: int
) -> dict[int, Any]:
    port = free_port()
    # Served on the corpus it was built from (ab.build_index configures it): not stale, no catch-up.
    proc, _ = start_server(index_dir, port, log_file, corpus=str(corpus), cwd=checkout)
    try:
        load_run(port, 2, 5, qs)  # warm up both workers
        return {c: load_run(port, c, seconds, qs) for c in LEVELS}
    finally:
        stop_server(proc)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("rps", "p50_ms", "p95_ms", "p99_ms")
    out: dict[str, Any] = {k: round(statistics.median(r[k] for r in runs), 1) for k in keys}
    out["requests"] = sum(r["requests"] for r in runs)
    out["errors"] = sum(r["errors"] for r in runs)
    return out


def main() -> None:
    p = ab_parser(__doc__.split("\n\n")[0], rounds=2)
    p.add_argument("--seconds", type=int, default=20, help="seconds per load level")
    a = p.parse_args()
    sides = sides_of(a)
    qs = questions(300)
    for name, checkout in sides.checkouts.items():
        sides.report[f"{name}_build"] = build_index(checkout, sides.shards, sides.index_dir("ask-load", name))
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {name: {c: [] for c in LEVELS} for name in sides.checkouts}
    for r in range(a.rounds):
        for name, checkout in sides.checkouts.items():
            index_dir, log_file = sides.index_dir("ask-load", name), sides.data / f"ask-load-{name}.log"
            for c, res in load_levels(checkout, index_dir, sides.shards, log_file, qs, a.seconds).items():
                log(f"round {r + 1} {name} c={c}: {res['rps']:.0f} req/s, p50 {res['p50_ms']:.1f} ms")
                runs[name][c].append(res)
    for c in LEVELS:
        base, this = median_of(runs["baseline"][c]), median_of(runs["this"][c])
        ratio = round(this["rps"] / base["rps"], 2)
        sides.report[f"clients_{c}"] = {"baseline": base, "this": this, "rps_ratio": ratio}
    print(json.dumps(sides.report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
