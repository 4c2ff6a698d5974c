import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from qa_service.bm25 import BM25, BM25Params
from qa_service.tokenize import Tokenizer

QUESTIONS = [
    "谁陪同宋洁督导爱国卫生工作？",
    "哪些街道开展了爱国卫生或创卫工作？",
    "上街区一季度一般公共预算收入是多少？",
    "肥城市什么时候召开了政法队伍教育整顿动员部署会议？",
    "法国的首都是哪里？",
    "工作 工作 会议",
]


@pytest.fixture(scope="module")
def seed_tokens(seed_corpus):
    tok = Tokenizer()
    return tok, [tok.tokens(c.text) for c in seed_corpus.chunks]


def test_scores_equal_rank_bm25_on_the_seed_passages(seed_tokens):
    tok, docs = seed_tokens
    ours, ref = BM25.build(docs), BM25Okapi(docs)
    for q in QUESTIONS:
        qt = tok.tokens(q)
        np.testing.assert_allclose(ours.scores(qt), ref.get_scores(qt), rtol=1e-5, atol=1e-5)


def test_scores_equal_rank_bm25_with_other_parameters(seed_tokens):
    tok, docs = seed_tokens
    ours = BM25.build(docs, BM25Params(k1=1.2, b=0.5, epsilon=0.1))
    ref = BM25Okapi(docs, k1=1.2, b=0.5, epsilon=0.1)
    qt = tok.tokens(QUESTIONS[0])
    np.testing.assert_allclose(ours.scores(qt), ref.get_scores(qt), rtol=1e-5, atol=1e-5)


def test_top_k_is_sorted_and_positive_only(seed_tokens):
    tok, docs = seed_tokens
    bm = BM25.build(docs)
    ids, scores = bm.top_k(tok.tokens(QUESTIONS[0]), 10)
    assert len(ids) == 10 and all(scores[i] >= scores[i + 1] for i in range(9))
    full = bm.scores(tok.tokens(QUESTIONS[0]))
    assert ids[0] == int(np.argmax(full))
    ids, _ = bm.top_k(["没有这个词"], 5)
    assert len(ids) == 0


def test_empty_corpus_and_empty_query():
    bm = BM25.build([])
    assert bm.n_docs == 0 and bm.top_k(["x"], 5)[0].size == 0
    bm = BM25.build([["a", "b"], ["b", "c"]])
    assert bm.scores([]).tolist() == [0.0, 0.0]
