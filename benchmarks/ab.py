"""What the A/B benchmarks (ask_load.py, index_build.py) share: this checkout beside a baseline
checkout, on one generated corpus, each side run with its own code and this venv's Python."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from corpus import parse_size, size_label  # noqa: E402
from run import PY, bench_http_corpus, log, tree_memory_mb  # noqa: E402


@dataclass
class Sides:
    """The baseline and this checkout, and the generated corpus both index."""

    label: str  # the corpus size, as 100k
    data: Path  # benchmarks/.data: corpora, indexes, logs
    shards: Path  # the corpus: JSONL files of 10,000 passages
    checkouts: dict[str, Path]  # "baseline", "this"
    report: dict[str, Any] = field(default_factory=dict)

    def index_dir(self, kind: str, side: str) -> Path:
        return self.data / f"{kind}-{side}-{self.label}"


def ab_parser(description: str, rounds: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--baseline", required=True, help="path of the baseline checkout (e.g. a git worktree)")
    p.add_argument("--size", default="100k", help="generated passages (10k, 100k, 1m)")
    p.add_argument("--rounds", type=int, default=rounds)
    p.add_argument("--data-dir", default=str(HERE / ".data"))
    return p


def sides_of(a: argparse.Namespace) -> Sides:
    n = parse_size(a.size)
    data = Path(a.data_dir)
    checkouts = {"baseline": Path(a.baseline).resolve(), "this": ROOT}
    sides = Sides(size_label(n), data, bench_http_corpus(n, data), checkouts)
    sides.report = {"size": sides.label, "commits": {k: commit_of(v) for k, v in checkouts.items()}}
    return sides


def commit_of(checkout: Path) -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=checkout, capture_output=True)
    return out.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


class PeakSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.pss, self.rss, self.done = pid, 0.0, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pss, rss = tree_memory_mb(self.pid)
            self.pss, self.rss = max(self.pss, pss), max(self.rss, rss)
            self.done.wait(0.2)


def build_index(checkout: Path, shards: Path, index_dir: Path) -> dict[str, Any]:
    """``qa_service index`` of ``shards`` with ``checkout``'s code: wall and CPU seconds, peak memory."""
    shutil.rmtree(index_dir, ignore_errors=True)
    cmd = [PY, "-m", "qa_service", "index", str(shards), "--index-dir", str(index_dir), "--no-progress"]
    log("$ " + " ".join(cmd) + f"  (in {checkout})")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # The corpus configured as the one indexed: the index's state then records it, and a server
    # started on it later (incremental.py) finds the index current instead of catching up first.
    env = {**os.environ, "QA_CORPUS": str(shards)}
    p = subprocess.Popen(cmd, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = PeakSampler(p.pid)
    sampler.start()
    _, err = p.communicate()
    sampler.done.set()
    sampler.join()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        raise SystemExit(f"index with {checkout} exited {p.returncode}: {err.decode(errors='replace')[-1000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    size = sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file())
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_pss_mb": round(sampler.pss),
        "peak_rss_summed_mb": round(sampler.rss),
        "index_mb": round(size / 1e6),
    }
