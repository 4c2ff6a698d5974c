"""Floors on the seed-set figures, so a quality regression fails CI.

The floors sit a little under the figures in the README (qa-service eval); raise
them when the figures improve.
"""

import pytest

from qa_service.evaluation import evaluate_seed_set, load_questions
from tests.conftest import EVAL_SET


@pytest.fixture(scope="module")
def report(service, originals):
    return evaluate_seed_set(service, load_questions(EVAL_SET), originals)


def test_eval_set_is_broad_enough():
    qs = load_questions(EVAL_SET)
    kinds = {q["type"] for q in qs}
    assert len(qs) >= 30 and kinds == {"fact", "paraphrase", "list", "unanswerable"}


def test_offsets_never_wrong(report):
    assert report.offset_errors == 0


def test_retrieval_floor(report):
    assert report.hit1 >= 0.80
    assert report.hit5 >= 0.87
    assert report.mrr10 >= 0.83


def test_answer_floor(report):
    assert report.answer_accuracy >= 0.65
    assert report.abstain_rate >= 0.85
    assert report.item_recall >= 0.75
