"""Shared fixtures: the real seed corpus, an index built from it, the Flask app."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa_service.core.models import Corpus
from qa_service.core.settings import Settings
from qa_service.index.embedded.store import EmbeddedIndex
from qa_service.ingest.pipeline import build_corpus
from qa_service.qa.service import QAService
from qa_service.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
EVAL_SET = ROOT / "eval" / "seed_questions.jsonl"
# A spread of question kinds: who, list, number, date, unanswerable.
SAMPLE_QUESTIONS = [
    "谁陪同宋洁督导爱国卫生工作？",
    "哪些街道开展了爱国卫生或创卫工作？",
    "上街区一季度一般公共预算收入是多少？",
    "肥城市什么时候召开了政法队伍教育整顿动员部署会议？",
    "法国的首都是哪里？",
]


@pytest.fixture(scope="session")
def seed_corpus() -> Corpus:
    return build_corpus([SEEDS])


@pytest.fixture(scope="session")
def originals(seed_corpus: Corpus) -> dict[str, str]:
    return {d.id: d.text for d in seed_corpus.documents}


@pytest.fixture(scope="session")
def seed_index(seed_corpus: Corpus) -> EmbeddedIndex:
    return EmbeddedIndex.build(seed_corpus)


@pytest.fixture(scope="session")
def service(seed_index: EmbeddedIndex) -> QAService:
    return QAService(seed_index)


@pytest.fixture()
def app(service: QAService, tmp_path: Path):
    settings = Settings(index_dir=str(tmp_path / "index"), corpus=[str(SEEDS)])
    return create_app(settings, service=service)


@pytest.fixture()
def client(app):
    return app.test_client()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(index_dir: Path, env: dict[str, str] | None = None, workers: int = 2) -> Iterator[str]:
    """``qa-service serve`` (gunicorn) on a free loopback port; yields its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "qa_service", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--index-dir", str(index_dir), "--workers", str(workers)]
    log = open(index_dir.parent / f"server-{port}.log", "w+")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read()}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not become healthy in 120 s") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
