"""kill -9 the indexer at random points while it writes: the last complete index survives."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from qa_service.core.settings import Settings
from qa_service.index.embedded.store import EmbeddedIndex
from qa_service.ingest.pipeline import build_corpus
from qa_service.web.app import create_app
from tests.conftest import ROOT, SEEDS

KILLS = 24


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_corpus(path, n):
    """``n`` records recombined from the seed sentences: enough text that a build takes a while."""
    corpus = build_corpus([SEEDS])
    sentences = [s + "。" for a in corpus.articles for s in a.body.text.replace("\n", "").split("。") if s]
    rng = random.Random(n)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            text = "".join(rng.choice(sentences) for _ in range(8))
            out.write(json.dumps({"id": f"r{i}", "title": f"记录{i}", "text": text}, ensure_ascii=False) + "\n")


def partial_files(index_dir) -> set[str]:
    return {p.name for p in index_dir.iterdir() if p.name.startswith((".tmp-", ".CURRENT."))}


def run_index(corpus, index_dir):
    return subprocess.Popen(
        [sys.executable, "-m", "qa_service", "index", str(corpus), "--index-dir", str(index_dir), "--no-progress"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_kill_9_while_indexing_never_leaves_a_broken_index(tmp_path):
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    make_corpus(small, 300)
    make_corpus(big, 1500)
    before = {p: digest(p) for p in (small, big)}
    index_dir = tmp_path / "index"
    assert run_index(small, index_dir).wait(120) == 0
    valid_counts = {EmbeddedIndex.load(index_dir).manifest["counts"]["documents"]}

    t0 = time.monotonic()
    assert run_index(big, index_dir).wait(300) == 0
    full = time.monotonic() - t0
    valid_counts.add(EmbeddedIndex.load(index_dir).manifest["counts"]["documents"])
    assert valid_counts == {300, 1500}

    rng = random.Random(7)
    killed_mid_write = 0
    for i in range(KILLS):
        leftovers = partial_files(index_dir)  # from earlier kills

        def writing(index_dir=index_dir, leftovers=leftovers) -> bool:
            return bool(partial_files(index_dir) - leftovers)

        proc = run_index(small if i % 2 else big, index_dir)
        if i % 3 == 0:
            time.sleep(rng.uniform(0.3, full * 1.1))  # anywhere: loading, tokenizing, writing
        else:
            # Wait for the new version folder to appear, then kill somewhere inside the write.
            deadline = time.monotonic() + full * 3
            while proc.poll() is None and time.monotonic() < deadline and not writing():
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.05))
        if proc.poll() is None:
            killed_mid_write += writing()
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
        # Whatever happened, the live index is complete, passes its checksums and is one of the two builds.
        idx = EmbeddedIndex.load(index_dir, verify=True)
        assert idx.manifest["counts"]["documents"] in valid_counts
        assert len(idx) == idx.manifest["counts"]["passages"]
    assert {p: digest(p) for p in (small, big)} == before  # the corpus is never touched
    # Timing on a loaded machine varies; a handful of kills inside the write is what matters.
    assert killed_mid_write >= 3, f"only {killed_mid_write} kills landed while files were written"

    app = create_app(Settings(index_dir=str(index_dir), corpus=[str(big)], build_if_missing=False))
    r = app.test_client().post("/api/ask", json={"question": "谁陪同宋洁督导爱国卫生工作？"})
    assert r.status_code == 200 and r.get_json()["passages"]
