"""Seconds from ``qa-service serve`` to its first answered /api/ask, this checkout beside a baseline.

    python benchmarks/startup.py --baseline ../base [--rounds 6]

On the seed corpus, each side with its own index (built by its own first start, not counted), then,
round after round, each side started in turn with its index present (``serve --workers 2`` on
127.0.0.1, run.py's start_server: polls /api/ask until it answers) and stopped; a pause after each
stop lets the catch-up that start set off finish, so it does not slow the next start.  Prints the
median and every time per side, and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from ab import commit_of
from run import ROOT, free_port, start_server, stop_server

PAUSE_S = 3.0


def started(checkout: Path, index_dir: Path, log_file: Path) -> float:
    proc, secs = start_server(index_dir, free_port(), log_file, corpus=str(ROOT / "seeds"), cwd=checkout)
    stop_server(proc)
    time.sleep(PAUSE_S)
    return secs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", required=True, help="path of the baseline checkout (e.g. a git worktree)")
    p.add_argument("--rounds", type=int, default=6)
    a = p.parse_args()
    sides = {"baseline": Path(a.baseline).resolve(), "this": ROOT}
    times: dict[str, list[float]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory() as tmp:
        log_file = Path(tmp) / "serve.log"
        for name, checkout in sides.items():
            started(checkout, Path(tmp) / name, log_file)  # builds its index
        for _ in range(a.rounds):
            for name, checkout in sides.items():
                times[name].append(round(started(checkout, Path(tmp) / name, log_file), 2))
    medians = {name: statistics.median(t) for name, t in times.items()}
    report = {
        "commits": {name: commit_of(checkout) for name, checkout in sides.items()},
        "seconds": times,
        "median_s": medians,
        "this_over_baseline": round(medians["this"] / medians["baseline"], 2),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
