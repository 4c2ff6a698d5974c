"""Shared fixtures: the real seed corpus, an index built from it, the Flask app."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from qa_service.app import create_app
from qa_service.config import Settings
from qa_service.index import EmbeddedIndex
from qa_service.pipeline import Corpus, build_corpus
from qa_service.service import QAService

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
EVAL_SET = ROOT / "eval" / "seed_questions.jsonl"


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
