import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from qa_service.core.tokenizer import Tokenizer
from qa_service.index.embedded.bm25 import BM25, MIN_IDF, BM25Params
from tests.conftest import SAMPLE_QUESTIONS


class Reference(BM25Okapi):
    """rank-bm25's BM25Okapi with our one documented difference: no idf at or below zero."""

    def _calc_idf(self, nd):
        super()._calc_idf(nd)
        for word, value in self.idf.items():
            if value <= 0:
                self.idf[word] = MIN_IDF


QUESTIONS = [*SAMPLE_QUESTIONS, "工作 工作 会议"]  # a repeated term counts twice


@pytest.fixture(scope="module")
def seed_tokens(seed_corpus):
    tok = Tokenizer()
    return tok, [tok.tokens(c.text) for c in seed_corpus.chunks]


def test_scores_equal_rank_bm25_on_the_seed_passages(seed_tokens):
    tok, docs = seed_tokens
    ours, ref = BM25.build(docs), Reference(docs)
    for q in QUESTIONS:
        qt = tok.tokens(q)
        np.testing.assert_allclose(ours.scores(qt), ref.get_scores(qt), rtol=1e-5, atol=1e-5)


def test_scores_equal_rank_bm25_with_other_parameters(seed_tokens):
    tok, docs = seed_tokens
    ours = BM25.build(docs, BM25Params(k1=1.2, b=0.5, epsilon=0.1))
    ref = Reference(docs, k1=1.2, b=0.5, epsilon=0.1)
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


def test_the_only_difference_from_rank_bm25_is_the_idf_floor(seed_tokens):
    tok, docs = seed_tokens
    ours, plain = BM25.build(docs), BM25Okapi(docs)
    for q in QUESTIONS:
        qt = tok.tokens(q)
        floored = [t for t in qt if plain.idf.get(t, 1) <= 0]
        if not floored:
            np.testing.assert_allclose(ours.scores(qt), plain.get_scores(qt), rtol=1e-5, atol=1e-5)


def test_a_one_passage_corpus_is_searchable():
    # rank-bm25 gives every term a negative idf here and ranks nothing.
    assert BM25Okapi([["峡窝镇", "整改"]]).get_scores(["峡窝镇"])[0] < 0
    ids, scores = BM25.build([["峡窝镇", "整改"]]).top_k(["峡窝镇"], 5)
    assert ids.tolist() == [0] and scores[0] > 0
