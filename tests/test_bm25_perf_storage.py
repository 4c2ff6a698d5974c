"""The scalable BM25: term table, block-wise build, worker build, save/load modes, pruned top-k."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qa_service.index.embedded.ranking as ranking
import qa_service.index.embedded.terms as terms_module
from qa_service.core.tokenizer import Tokenizer
from qa_service.index.embedded.bm25 import BM25, BM25Params, TermTable

QUESTIONS = [
    "谁陪同宋洁督导爱国卫生工作？",
    "上街区一季度一般公共预算收入是多少？",
    "法国的首都是哪里？",
    "工作 工作 会议",
]


@pytest.fixture(scope="module")
def seed_texts(seed_corpus):
    return [f"{c.title} {c.section or ''} {c.text}" for c in seed_corpus.chunks]


def _ranking(bm: BM25, tokens: list[str], k: int) -> tuple[list[int], list[float]]:
    """The k best by a full sort of every passage's score (float32), ties by passage id."""
    s = bm.scores(tokens)
    order = np.lexsort((np.arange(len(s)), -s))
    order = [int(i) for i in order if s[i] > 0][:k]
    return order, [float(s[i]) for i in order]


def test_term_table_finds_every_term_and_nothing_else():
    terms = ["工作", "会议", "a", "", "街道办事处", "2021"]
    table, ids = TermTable.from_terms(terms)
    assert sorted(ids.tolist()) == list(range(len(terms)))
    for t, i in zip(terms, ids.tolist(), strict=True):
        assert table.get(t) == i and t in table and table.term(i) == t
    assert table.get("没有") is None and "没有" not in table
    assert table.lookup(["会议", "没有", "a"]).tolist() == [table["会议"], -1, table["a"]]
    assert dict(table.items()) == {t: i for t, i in zip(terms, ids.tolist(), strict=True)}


def test_term_ids_kept_by_get_stay_right_when_the_memory_is_emptied(monkeypatch):
    monkeypatch.setattr(terms_module, "TERMS_KEPT", 3)
    terms = [f"词{i}" for i in range(10)]
    table, ids = TermTable.from_terms(terms)
    asked = [*terms, "没有", *reversed(terms), "没有"]
    want = dict(zip(terms, ids.tolist(), strict=True))
    for t in asked:  # more distinct terms than are kept: emptied and filled again on the way
        assert table.get(t) == want.get(t)
        assert len(table._known) <= 3


def test_a_hash_collision_is_resolved_with_another_salt(monkeypatch):
    real = terms_module._hashes

    def colliding(terms, salt):  # every term hashes alike under the first salt
        return np.zeros(len(terms), dtype=np.uint64) if salt == b"" else real(terms, salt)

    monkeypatch.setattr(terms_module, "_hashes", colliding)
    bm = BM25.build([["甲", "乙"], ["乙", "丙"], ["乙", "丁"], ["甲"]])
    assert bm.vocab.salt > 0 and len(bm.vocab) == 4
    assert bm.top_k(["丙"], 2)[0].tolist() == [1]
    assert bm.vocab.get("戊") is None


def test_blocks_and_workers_build_the_same_index(seed_texts):
    tok = Tokenizer()
    docs = [tok.tokens(t) for t in seed_texts] * 7  # several blocks
    one = BM25.build(docs, chunk=64)
    par = BM25.build_from_texts(seed_texts * 7, tok.tokens, workers=2, chunk=64, parallel_min=10)
    for a, b in ((one, par),):
        assert np.array_equal(a.vocab.hashes, b.vocab.hashes)
        assert np.array_equal(a.indptr, b.indptr)
        assert np.array_equal(a.indices, b.indices) and np.array_equal(a.weights, b.weights)
    for q in QUESTIONS:
        qt = tok.tokens(q)
        assert np.array_equal(one.scores(qt), par.scores(qt))


@pytest.mark.parametrize("mode", ["mmap", "read", "memory"])
def test_saved_index_answers_the_same_in_every_mode(seed_texts, tmp_path, mode):
    tok = Tokenizer()
    built = BM25.build([tok.tokens(t) for t in seed_texts], BM25Params(k1=1.2, b=0.7))
    files = built.save(tmp_path / "a")
    assert set(files) >= {"bm25.json", "bm25_postings.bin", "bm25_term_hashes.npy"}
    assert all(len(f["sha256"]) == 64 and f["bytes"] == (tmp_path / "a" / n).stat().st_size for n, f in files.items())
    loaded = BM25.load(tmp_path / "a", postings=mode)
    assert loaded.params == built.params and loaded.n_docs == built.n_docs
    for q in QUESTIONS:
        qt = tok.tokens(q)
        assert np.array_equal(loaded.scores(qt), built.scores(qt))
        a, b = loaded.top_k(qt, 10), built.top_k(qt, 10)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert loaded.term_idf("工作") == built.term_idf("工作")
    loaded.save(tmp_path / "b")  # a loaded index saves again, byte for byte
    assert (tmp_path / "b" / "bm25_postings.bin").read_bytes() == (tmp_path / "a" / "bm25_postings.bin").read_bytes()


def test_top_k_equals_a_full_sort(seed_texts):
    tok = Tokenizer()
    docs = [tok.tokens(t) for t in seed_texts]
    bm = BM25.build(docs * 3)  # repeated passages: many ties, broken by passage id
    for q in [*QUESTIONS, "街道 社区 工作", "爱国卫生运动"]:
        qt = tok.tokens(q)
        for k in (1, 5, 30, 500):
            ids, scores = bm.top_k(qt, k)
            want_ids, want_scores = _ranking(bm, qt, k)
            assert ids.tolist() == want_ids and scores.tolist() == want_scores


@pytest.mark.parametrize("block", [4, 64, 1 << 16])
def test_top_k_scored_a_block_at_a_time_equals_a_full_sort(seed_texts, monkeypatch, block):
    """Blocks smaller than the corpus: each block's threshold comes from the blocks before it."""
    monkeypatch.setattr(ranking, "BLOCK", block)
    tok = Tokenizer()
    bm = BM25.build([tok.tokens(t) for t in seed_texts] * 3)
    for q in [*QUESTIONS, "街道 社区 工作", "爱国卫生运动"]:
        qt = tok.tokens(q)
        for k in (1, 5, 30, 500):
            ids, scores = bm.top_k(qt, k)
            assert (ids.tolist(), scores.tolist()) == _ranking(bm, qt, k)


@settings(max_examples=200, deadline=None)
@given(
    n_docs=st.integers(1, 300),
    block=st.sampled_from([1, 3, 16, 64, 1 << 16]),
    k=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    with_deleted=st.booleans(),
)
def test_top_k_of_postings_equals_bincount_and_a_full_sort(n_docs, block, k, seed, with_deleted):
    """Any postings, with ties (few distinct weights) and deleted passages: the same passages and
    float32 scores as summing every posting with np.bincount and sorting all passages."""
    rng = np.random.default_rng(seed)
    docs = [np.sort(rng.choice(n_docs, rng.integers(0, n_docs + 1), replace=False)).astype(np.int32) for _ in range(4)]
    weights = [rng.choice(np.array([0.5, 1.25, 3.0], np.float32), len(d)) for d in docs]
    deleted = np.sort(rng.choice(n_docs, n_docs // 3, replace=False)) if with_deleted else None
    acc = np.bincount(np.concatenate(docs), weights=np.concatenate(weights), minlength=n_docs)
    if deleted is not None:
        acc[deleted] = 0.0
    s32 = acc.astype(np.float32)
    order = [int(i) for i in np.lexsort((np.arange(n_docs), -s32)) if s32[i] > 0][:k]
    old = ranking.BLOCK
    ranking.BLOCK = block  # hypothesis runs many examples per call: no monkeypatch fixture here
    try:
        ids, scores = ranking.top_k_of_postings(docs, weights, n_docs, k, deleted)
    finally:
        ranking.BLOCK = old
    assert ids.tolist() == order
    assert scores.tolist() == [float(s32[i]) for i in order]


def test_a_query_with_a_posting_per_passage_or_more_is_scored_in_half_blocks():
    """Small indexes in one array; light queries in blocks only past two blocks; heavy ones (as
    many postings as passages) in half blocks, whose bound rises sooner."""
    b = ranking.BLOCK
    assert ranking._block_size(b, 10 * b) == b  # a small index: one array, however heavy
    assert ranking._block_size(b + 1, b) == b + 1
    assert ranking._block_size(b + 1, b + 1) == b // 2
    assert ranking._block_size(10 * b, 10 * b - 1) == b
    assert ranking._block_size(10 * b, 10 * b) == b // 2
