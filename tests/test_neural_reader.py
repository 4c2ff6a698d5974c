"""The optional neural reader (qa/neural.py), with a tiny random extractive-QA model the tests build.

The model is random, so what it proposes is noise; the tests check what must hold for any model:
its spans are spans of the text, the fitted scorer still chooses, every answer stays a cited copy
of the passage, and a model that cannot be loaded is a clear configuration error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from qa_service.core.errors import ConfigError
from qa_service.core.settings import Settings
from qa_service.qa.neural import MAX_ANSWER_TOKENS, best_spans, load_reader
from qa_service.qa.service import QAService
from qa_service.web.app import create_app
from tests.conftest import SEEDS
from tests.tiny_bert import save_char_tokenizer, tiny_bert_config


def _require_transformers() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must install the reader extra: pip install -e '.[dev,reader]'")
        pytest.skip("transformers is not installed (pip install 'qa-service[reader]')")


def build_tiny_qa_model(path: Path, texts: Sequence[str], seed: int = 0) -> Path:
    """A 2-layer BERT (hidden 32) for extractive QA with a character WordPiece vocabulary."""
    from transformers import BertForQuestionAnswering

    vocab_size = save_char_tokenizer(path, texts)
    BertForQuestionAnswering(tiny_bert_config(vocab_size, seed)).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_reader_dir(tmp_path_factory, seed_corpus) -> Path:
    _require_transformers()
    texts = [c.text for c in seed_corpus.chunks] + ["谁什么哪里多少几时为何怎样？"]
    return build_tiny_qa_model(tmp_path_factory.mktemp("reader") / "tiny-qa", texts)


class Counting:
    """Wraps a proposer, recording what it was asked and what it proposed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[tuple[str, list[tuple[int, int, float]]]] = []

    def propose(self, question: str, text: str, k: int = 3):
        out = self.inner.propose(question, text, k)
        self.calls.append((text, out))
        return out


def test_best_spans_are_in_order_in_the_context_and_short():
    # Tokens 0-1 are the question, 2-5 the context; offsets are character spans of the context.
    start = [9.0, 0.0, 1.0, 5.0, 0.0, 2.0]
    end = [9.0, 0.0, 0.0, 1.0, 6.0, 3.0]
    offsets = [(0, 0), (0, 1), (0, 2), (2, 4), (4, 5), (5, 7)]
    spans = best_spans(start, end, [2, 3, 4, 5], offsets, k=2)
    assert spans[0] == (2, 5, 11.0)  # tokens 3..4; the question's high logits are never chosen
    assert all(s < e for s, e, _ in spans) and len(spans) == 2
    long_context = list(range(2, 2 + MAX_ANSWER_TOKENS + 5))
    far = best_spans(
        [0.0] * 2 + [5.0] + [0.0] * (MAX_ANSWER_TOKENS + 4),
        [0.0] * (MAX_ANSWER_TOKENS + 6) + [5.0],
        long_context,
        [(i, i + 1) for i in range(MAX_ANSWER_TOKENS + 7)],
        k=50,
    )
    assert all(e - s <= MAX_ANSWER_TOKENS for s, e, _ in far)


def test_the_reader_proposes_spans_of_the_text(tiny_reader_dir):
    reader = load_reader(str(tiny_reader_dir))
    text = "4月14日，区委书记宋洁实地督导爱国卫生工作，副区长房玉雯陪同。"
    spans = reader.propose("谁陪同宋洁督导爱国卫生工作？", text, k=3)
    assert 1 <= len(spans) <= 3
    assert [s for *_, s in spans] == sorted((s for *_, s in spans), reverse=True)
    for s, e, _ in spans:
        assert 0 <= s < e <= len(text) and text[s:e].strip()
    assert reader.propose("谁陪同宋洁督导爱国卫生工作？", text, k=3) == spans  # deterministic


def test_answers_with_the_reader_stay_cited_copies_of_the_passage(tiny_reader_dir, seed_index):
    counting = Counting(load_reader(str(tiny_reader_dir)))
    svc = QAService(seed_index, proposer=counting)
    questions = ("谁陪同宋洁督导爱国卫生工作？", "上街区一季度一般公共预算收入是多少？", "峡窝镇的“五大行动”是哪五个？")
    for question in questions:
        body = svc.ask(question)
        answer = body["answer"]
        if answer["text"] is not None:
            text = body["passages"][answer["passage"]]["text"]
            s, e = answer["span"]
            assert text[s:e] == answer["text"] and answer["text"] in answer["evidence"]["text"]
    assert counting.calls, "the reader was never asked"
    for text, spans in counting.calls:
        assert all(0 <= s < e <= len(text) for s, e, _ in spans)


def test_the_app_loads_the_reader_from_the_setting(tiny_reader_dir, service, tmp_path):
    settings = Settings(index_dir=str(tmp_path / "index"), corpus=[str(SEEDS)], reader_model=str(tiny_reader_dir))
    app = create_app(settings, service=service)
    live = app.extensions["qa_live"]
    assert live.make_service(service.index).proposer is not None
    res = app.test_client().post("/api/ask", json={"question": "谁陪同宋洁督导爱国卫生工作？"})
    assert res.status_code == 200


def test_a_reader_that_cannot_be_loaded_is_a_configuration_error(tmp_path):
    _require_transformers()
    with pytest.raises(ConfigError, match="QA_READER_MODEL"):
        load_reader(str(tmp_path / "no-such-model"))
    assert load_reader("") is None
