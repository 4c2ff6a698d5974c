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

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from corpus import parse_size, size_label  # noqa: E402
from run import PY, bench_http_corpus, free_port, load_run, log, questions, run_timed, start_server, stop_server  # noqa: E402

LEVELS = (1, 8, 32)


def commit_of(checkout: Path) -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=checkout, capture_output=True)
    return out.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def build(checkout: Path, shards: Path, index_dir: Path) -> dict[str, Any]:
    shutil.rmtree(index_dir, ignore_errors=True)
    cmd = [PY, "-m", "qa_service", "index", str(shards), "--index-dir", str(index_dir), "--no-progress"]
    secs, rss, code = run_timed(cmd, cwd=checkout)
    if code:
        raise SystemExit(f"index with {checkout} exited {code}")
    return {"index_s": round(secs, 1), "index_peak_rss_mb": round(rss)}


def load_levels(checkout: Path, index_dir: Path, log_file: Path, qs: list[str], seconds: int) -> dict[int, Any]:
    port = free_port()
    proc, _ = start_server(index_dir, port, log_file, cwd=checkout)
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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", required=True, help="path of the baseline checkout")
    p.add_argument("--size", default="100k")
    p.add_argument("--seconds", type=int, default=20, help="seconds per load level")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data-dir", default=str(HERE / ".data"))
    a = p.parse_args()
    n = parse_size(a.size)
    data = Path(a.data_dir)
    shards = bench_http_corpus(n, data)
    sides = {"baseline": Path(a.baseline).resolve(), "this": ROOT}
    qs = questions(300)
    report: dict[str, Any] = {"size": size_label(n), "commits": {k: commit_of(v) for k, v in sides.items()}}
    for name, checkout in sides.items():
        report[f"{name}_build"] = build(checkout, shards, data / f"ask-load-{name}-{size_label(n)}")
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {name: {c: [] for c in LEVELS} for name in sides}
    for r in range(a.rounds):
        for name, checkout in sides.items():
            index_dir = data / f"ask-load-{name}-{size_label(n)}"
            for c, res in load_levels(checkout, index_dir, data / f"ask-load-{name}.log", qs, a.seconds).items():
                log(f"round {r + 1} {name} c={c}: {res['rps']:.0f} req/s, p50 {res['p50_ms']:.1f} ms")
                runs[name][c].append(res)
    for c in LEVELS:
        base, this = median_of(runs["baseline"][c]), median_of(runs["this"][c])
        report[f"clients_{c}"] = {"baseline": base, "this": this, "rps_ratio": round(this["rps"] / base["rps"], 2)}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
