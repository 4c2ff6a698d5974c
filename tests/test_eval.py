"""Floors on the seed-set figures, so a quality regression fails CI.

The floors sit a little under the figures in the README (qa-service eval); raise
them when the figures improve.
"""

import pytest

from qa_service.evaluation import evaluate_seed_set, load_questions
from qa_service.evaluation.seed import chat_wrapped, load_forms
from tests.conftest import EVAL_SET


@pytest.fixture(scope="module")
def report(service, originals):
    return evaluate_seed_set(service, load_questions(EVAL_SET), originals)


def test_eval_set_is_broad_enough():
    qs = load_questions(EVAL_SET)
    kinds = {q["type"] for q in qs}
    assert len(qs) >= 150
    assert kinds >= {
        "fact",
        "paraphrase",
        "list",
        "unanswerable",
        "why",
        "how",
        "two_slot",
        "followup",
        "long",
        "coordinated",
    }


def test_offsets_never_wrong(report):
    assert report.offset_errors == 0


def test_retrieval_floor(report):
    assert report.hit1 >= 0.85
    assert report.hit5 >= 0.89
    assert report.mrr10 >= 0.86


def test_answer_floor(report):
    # The answer model is fitted on half of this set per fold (docs/answers.md); these floors sit
    # under the shipped model's figures on the whole set, with either backend (test_milvus runs them
    # on Milvus, whose idf differs a little: it answers one question fewer).
    assert report.answer_accuracy >= 0.58
    assert report.evidence_accuracy >= 0.70
    assert report.answered_rate >= 0.86
    # Unanswerable questions abstained on: 0.708 with the model before person_name (this floor was
    # 0.55), 0.625 with it (Milvus 0.542, 13 of 24); held out (qa-service fit's folds) 0.500 / 0.500
    # both ways, while F1 rose on DRCD and news_dev (docs/answers.md#names-when-a-person-is-asked).
    assert report.abstain_rate >= 0.50
    assert report.item_recall >= 0.76
    assert report.item_precision >= 0.77


def test_questions_asked_as_chat_users_type_them(service, originals, report):
    """The seed set wrapped in the forms chat users type (eval/chat_wrappers.txt: 请问…, …，你清楚吗？,
    我是…，想确认一下：…), which no rule was written on: 0.54 of short answers held the gold before
    the question was read without them (docs/answers.md); 0.612 after, 0.597 with the model re-fitted
    with the sentence gap features, whose abstention scorer answers fewer of them (0.851 -> 0.836)."""
    chat = evaluate_seed_set(service, chat_wrapped(load_questions(EVAL_SET), load_forms()), originals)
    assert chat.answer_accuracy >= 0.58
    assert chat.answer_accuracy >= report.answer_accuracy - 0.10
