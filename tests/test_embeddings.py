"""Optional embeddings and hybrid retrieval (qa_service/embeddings.py, hybrid.py).

Most tests use ``FakeEmbedder`` (bag-of-characters vectors, no model), so they
run without the ``[embeddings]`` extra.  The rest load a tiny random
sentence-transformers model that a fixture builds on the spot; they skip when
sentence-transformers is not installed, except under CI=true, where the extra
must be installed and they fail instead.  Nothing here may reach the network.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

# Before anything imports huggingface_hub: never look for a model online.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from qa_service.core.errors import ConfigError, IndexCorrupt
from qa_service.core.settings import Settings, from_env
from qa_service.evaluation import mcnemar, run_eval
from qa_service.index import embeddings as emb_mod
from qa_service.index.embedded.rankers import BM25Ranker, HybridRanker, make_ranker
from qa_service.index.embedded.store import EMBEDDING_KEYS, EMBEDDINGS, EmbeddedIndex
from qa_service.index.embedded.versions import previous_vectors
from qa_service.index.embeddings import (
    PassageVectors,
    QueryEncoder,
    embed_passages,
    get_embedder,
    query_encoder,
    text_key,
)
from qa_service.index.fusion import FusionSettings, fuse, minmax, ranks, top_ids
from qa_service.index.publish import current_version_dir
from qa_service.ingest.pipeline import build_corpus
from qa_service.ops.build import configured_embedder, ensure_backend
from qa_service.qa.service import QAService
from qa_service.web.app import create_app
from tests.conftest import ROOT, SEEDS
from tests.tiny_bert import save_char_tokenizer, tiny_bert_config

EXPLAIN_KEYS = {"bm25", "bm25_rank", "dense", "dense_rank", "fused", "fusion"}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connection beyond loopback or a Unix socket fails the test that makes it."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("localhost", "::1") and not str(host).startswith("127."):
            raise AssertionError(f"a test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded)


@pytest.fixture(autouse=True)
def fresh_embedder_cache():
    get_embedder.cache_clear()
    yield
    get_embedder.cache_clear()


class FakeEmbedder:
    """Bag-of-characters unit vectors: texts sharing characters are close.  Records what it embeds."""

    def __init__(self, dim: int = 64, salt: int = 0) -> None:
        self.name = f"fake-{salt}"
        self.model_id = f"fake:{dim}:{salt}"
        self.dim = dim
        self.salt = salt
        self.passages: list[str] = []
        self.queries: list[str] = []
        self.batches: list[int] = []

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        m = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t:
                m[i, (zlib.crc32(ch.encode()) + self.salt) % self.dim] += 1.0
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        return m / np.where(norms > 0, norms, 1.0)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages.extend(texts)
        self.batches.append(len(texts))
        return self._vectors(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.queries.extend(texts)
        return self._vectors(texts)


@pytest.fixture(scope="module")
def fake() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="module")
def hybrid_index(seed_corpus, fake) -> EmbeddedIndex:
    return EmbeddedIndex.build(seed_corpus, embedder=fake)


# -- fusion math -----------------------------------------------------------


def test_minmax_scales_to_unit_range_and_flat_scores_to_zero():
    assert np.allclose(minmax(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    assert np.allclose(minmax(np.array([5.0, 5.0])), [0.0, 0.0])
    assert minmax(np.array([])).shape == (0,)


def test_top_ids_orders_by_score_then_id():
    s = np.array([0.5, 0.9, 0.5, 0.0, 0.7])
    assert top_ids(s, 10).tolist() == [1, 4, 0, 2, 3]
    assert top_ids(s, 10, positive_only=True).tolist() == [1, 4, 0, 2]
    assert top_ids(s, 2).tolist() == [1, 4]


def test_ranks_inside_and_outside_the_top_list():
    s = np.array([0.1, 0.9, 0.5, 0.3])
    top = top_ids(s, 2)  # [1, 2]
    assert ranks(s, np.array([2, 1, 3, 0]), top).tolist() == [1, 0, 2, 3]


def _random_scores(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    bm25 = rng.gamma(2.0, 2.0, n).astype(np.float32)
    bm25[rng.random(n) < 0.3] = 0.0  # passages sharing no word with the question
    dense = rng.uniform(0.2, 0.9, n).astype(np.float32)
    return bm25, dense


def test_weight_zero_is_the_bm25_order_and_weight_one_the_dense_order():
    bm25, dense = _random_scores()
    n = len(bm25)
    only_bm25 = fuse(bm25, dense, FusionSettings(weight=0.0, candidates=n), k=n)
    matched = top_ids(bm25, n, positive_only=True).tolist()
    assert [f.passage for f in only_bm25] == matched  # passages only dense found are not candidates
    only_dense = fuse(bm25, dense, FusionSettings(weight=1.0, candidates=n), k=n)
    assert [f.passage for f in only_dense] == top_ids(dense, n).tolist()


def test_weighted_fusion_is_the_mix_of_min_max_scores_over_the_candidates():
    bm25, dense = _random_scores(seed=1)
    s = FusionSettings(weight=0.3, candidates=20)
    out = fuse(bm25, dense, s, k=10)
    cand = np.union1d(top_ids(bm25, 20, positive_only=True), top_ids(dense, 20))
    expected = 0.7 * minmax(bm25[cand]) + 0.3 * minmax(dense[cand])
    by_id = dict(zip(cand.tolist(), expected.tolist(), strict=True))
    assert len(out) == 10
    for f in out:
        assert f.score == pytest.approx(by_id[f.passage])
    assert [f.score for f in out] == sorted(by_id.values(), reverse=True)[:10]


def test_candidates_are_the_union_of_both_top_lists():
    bm25, dense = _random_scores(seed=2)
    out = fuse(bm25, dense, FusionSettings(weight=0.5, candidates=5), k=100)
    assert {f.passage for f in out} == set(top_ids(bm25, 5, positive_only=True)) | set(top_ids(dense, 5))


def test_every_fused_hit_explains_itself():
    bm25 = np.array([3.0, 0.0, 1.0, 2.0], dtype=np.float32)
    dense = np.array([0.1, 0.9, 0.5, 0.2], dtype=np.float32)
    out = fuse(bm25, dense, FusionSettings(weight=0.5, candidates=10), k=4)
    for f in out:
        assert set(f.explain) == EXPLAIN_KEYS
        assert f.explain["fused"] == pytest.approx(f.score, abs=1e-6)
    by_id = {f.passage: f.explain for f in out}
    assert by_id[0]["bm25_rank"] == 0 and by_id[0]["dense_rank"] == 3 and by_id[0]["bm25"] == 3.0
    assert by_id[1]["bm25_rank"] is None  # shares no word with the question: dense found it
    assert by_id[1]["dense_rank"] == 0 and by_id[1]["dense"] == pytest.approx(0.9)


def test_rrf_is_the_sum_of_reciprocal_ranks():
    bm25 = np.array([3.0, 0.0, 1.0, 2.0], dtype=np.float32)
    dense = np.array([0.1, 0.9, 0.5, 0.2], dtype=np.float32)
    out = {f.passage: f.score for f in fuse(bm25, dense, FusionSettings(method="rrf", rrf_k=60), k=4)}
    assert out[0] == pytest.approx(1 / 61 + 1 / 64)
    assert out[1] == pytest.approx(1 / 61)  # no BM25 term at all
    assert out[2] == pytest.approx(1 / 63 + 1 / 62)


def test_mcnemar_exact_p_values():
    base = [True] * 90 + [False] * 10
    better = [True] * 100
    t = mcnemar(base, better)
    assert (t["gained"], t["lost"]) == (10, 0) and t["p"] == pytest.approx(2 / 2**10)
    assert mcnemar(base, base)["p"] == 1.0
    assert mcnemar([True, False], [False, True])["p"] == 1.0


# -- passage vectors: storage, checksums, reuse -----------------------------


def test_vectors_are_unit_rows_keyed_by_text(hybrid_index, seed_corpus):
    v = hybrid_index.vectors
    assert v is not None and v.matrix.shape == (len(seed_corpus.chunks), 64) and v.matrix.dtype == np.float32
    assert np.allclose(np.linalg.norm(v.matrix, axis=1), 1.0, atol=1e-5)
    assert bytes(v.keys[3]) == text_key(seed_corpus.chunks[3].text)
    assert hybrid_index.manifest["embeddings"]["model_id"] == "fake:64:0"


def test_vectors_are_saved_checksummed_and_memory_mapped(hybrid_index, tmp_path):
    vdir = hybrid_index.save(tmp_path)
    manifest = json.loads((vdir / "manifest.json").read_text())
    for name in (EMBEDDINGS, EMBEDDING_KEYS):
        assert len(manifest["files"][name]["sha256"]) == 64
    assert manifest["embeddings"]["dim"] == 64
    loaded = EmbeddedIndex.load(tmp_path)
    assert isinstance(loaded.vectors.matrix, np.memmap)
    assert np.array_equal(loaded.vectors.matrix, hybrid_index.vectors.matrix)
    assert np.array_equal(loaded.vectors.keys, hybrid_index.vectors.keys)
    assert loaded.vectors.model_id == hybrid_index.vectors.model_id


def test_a_corrupted_embedding_file_fails_its_checksum(hybrid_index, tmp_path):
    vdir = hybrid_index.save(tmp_path)
    data = bytearray((vdir / EMBEDDINGS).read_bytes())
    data[-3] ^= 0xFF
    (vdir / EMBEDDINGS).write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="checksum"):
        EmbeddedIndex.load(tmp_path)


def test_embeddings_of_the_wrong_shape_are_reported(hybrid_index, tmp_path):
    vdir = hybrid_index.save(tmp_path)
    manifest = json.loads((vdir / "manifest.json").read_text())
    manifest["embeddings"]["dim"] = 65
    (vdir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match="shape"):
        EmbeddedIndex.load(tmp_path)


def test_an_index_without_embeddings_has_none(seed_index, tmp_path):
    vdir = seed_index.save(tmp_path)
    assert not (vdir / EMBEDDINGS).exists()
    loaded = EmbeddedIndex.load(tmp_path)
    assert loaded.vectors is None and "embeddings" not in loaded.manifest


def test_a_rebuild_embeds_only_the_passages_whose_text_changed(tmp_path):
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    for name in ("000_297aa0e12c4718b1.txt", "001_ca14ccf12a6e3ca9.txt"):
        shutil.copy(SEEDS / name, corpus_dir)
    first = FakeEmbedder()
    old = EmbeddedIndex.build(build_corpus([corpus_dir]), embedder=first)
    old.save(tmp_path / "index")
    assert len(first.passages) == len(set(first.passages))

    # Change one sentence of one document: only its passages are new.
    doc = corpus_dir / "001_ca14ccf12a6e3ca9.txt"
    text = doc.read_text("utf-8")
    doc.write_text(text.replace("房玉雯", "张三丰", 1), "utf-8")
    corpus = build_corpus([corpus_dir])
    changed = {c.text for c in corpus.chunks} - {c.text for c in build_corpus([SEEDS]).chunks}
    assert 0 < len(changed) < len(corpus.chunks) // 4

    second = FakeEmbedder()
    previous = previous_vectors(Settings(index_dir=str(tmp_path / "index")))
    new = EmbeddedIndex.build(corpus, embedder=second, previous=previous)
    assert set(second.passages) == changed and len(second.passages) == len(changed)
    assert new.manifest["embeddings"]["computed"] == len(changed)
    assert new.manifest["embeddings"]["reused"] == len(corpus.chunks) - len(changed)
    fresh = EmbeddedIndex.build(corpus, embedder=FakeEmbedder())
    assert np.allclose(new.vectors.matrix, fresh.vectors.matrix)


def test_vectors_of_another_model_are_never_reused(hybrid_index, seed_corpus):
    other = FakeEmbedder(salt=7)
    texts = [c.text for c in seed_corpus.chunks]
    vectors, stats = embed_passages(other, texts, previous=hybrid_index.vectors)
    assert stats.reused == len(texts) - len(set(texts)) and stats.computed == len(set(texts))
    assert vectors.model_id == "fake:64:7"


def test_passages_are_embedded_in_batches(seed_corpus):
    e = FakeEmbedder()
    texts = [c.text for c in seed_corpus.chunks]
    embed_passages(e, texts, batch_size=8)
    assert max(e.batches) == 8 and sum(e.batches) == len(set(texts))


def test_no_vectors_is_no_previous(tmp_path):
    assert previous_vectors(Settings(index_dir=str(tmp_path / "nothing"))) is None


# -- the query cache -----------------------------------------------------------


def test_query_vectors_are_cached_per_question():
    e = FakeEmbedder()
    q = QueryEncoder(e, size=2)
    a = q("今年头三个月的财政收入")
    b = q("今年头三个月的财政收入")
    assert a is b and e.queries == ["今年头三个月的财政收入"] and (q.hits, q.misses) == (1, 1)
    q("问题二")
    q("问题三")  # evicts the least recently used
    q("今年头三个月的财政收入")
    assert e.queries.count("今年头三个月的财政收入") == 2
    with pytest.raises(ValueError):
        a[0] = 1.0  # shared: read-only


def test_one_query_cache_per_model_in_a_process():
    e = FakeEmbedder()
    assert query_encoder(e) is query_encoder(e)
    assert query_encoder(e) is not query_encoder(FakeEmbedder())


# -- the service: mode, explain, fallbacks --------------------------------------


def test_hybrid_service_answers_with_explained_scores(hybrid_index, fake):
    svc = QAService(hybrid_index, embedder=fake, fusion=FusionSettings(weight=0.4))
    assert svc.mode == "hybrid" and isinstance(svc.ranker, HybridRanker)
    res = svc.ask("谁陪同宋洁督导爱国卫生工作？", explain=True)
    assert res["mode"] == "hybrid"
    top = res["passages"][0]
    assert top["source"]["document"] == "001_ca14ccf12a6e3ca9.txt" and "房玉雯" in top["text"]
    for p in res["passages"]:
        assert set(p["explain"]) == EXPLAIN_KEYS
        assert p["score"] == pytest.approx(p["explain"]["fused"], abs=1e-4)
    scores = [p["score"] for p in res["passages"]]
    assert scores == sorted(scores, reverse=True)
    assert "explain" not in svc.ask("谁陪同宋洁督导爱国卫生工作？")["passages"][0]


def test_api_reports_the_mode(hybrid_index, fake, tmp_path):
    svc = QAService(hybrid_index, embedder=fake)
    client = create_app(Settings(index_dir=str(tmp_path / "i"), corpus=[str(SEEDS)]), service=svc).test_client()
    assert client.get("/healthz").get_json()["mode"] == "hybrid"
    body = client.post("/api/ask", json={"question": "峡窝镇整改清零了多少问题？", "explain": True}).get_json()
    assert body["mode"] == "hybrid" and set(body["passages"][0]["explain"]) == EXPLAIN_KEYS


def test_weight_zero_service_ranks_as_bm25(hybrid_index, fake):
    bm25 = QAService(hybrid_index, embedder=None)
    zero = QAService(hybrid_index, embedder=fake, fusion=FusionSettings(weight=0.0))
    assert bm25.mode == "bm25"
    for q in ("新安路街道把辖区划分成了多少个网格？", "区侨联举行了什么揭牌仪式？"):
        a = [p["id"] for p in bm25.ask(q, top_k=5)["passages"]]
        b = [p["id"] for p in zero.ask(q, top_k=5)["passages"]]
        assert a == b


def test_no_model_setting_means_bm25(seed_index, caplog):
    with caplog.at_level(logging.INFO, logger="qa_service"):
        svc = QAService(seed_index, configured_embedder(from_env({})))
    assert svc.mode == "bm25" and isinstance(svc.ranker, BM25Ranker)
    assert "BM25 only" in caplog.text


def test_a_missing_package_means_bm25_with_a_clear_message(seed_index, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails as if not installed
    settings = from_env({"QA_EMBEDDING_MODEL": "BAAI/bge-small-zh-v1.5"})
    with caplog.at_level(logging.WARNING, logger="qa_service"):
        svc = QAService(seed_index, configured_embedder(settings))
        assert svc.ask("峡窝镇整改清零了多少问题？")["mode"] == "bm25"
    assert "sentence-transformers is not installed" in caplog.text and "qa-service[embeddings]" in caplog.text


def test_an_index_without_the_models_vectors_falls_back_to_bm25(seed_index, hybrid_index, caplog):
    with caplog.at_level(logging.WARNING, logger="qa_service"):
        assert make_ranker(seed_index, FakeEmbedder()).mode == "bm25"
        assert "no passage embeddings" in caplog.text
        assert make_ranker(hybrid_index, FakeEmbedder(salt=3)).mode == "bm25"
        assert "not the configured" in caplog.text
    assert make_ranker(hybrid_index, FakeEmbedder()).mode == "hybrid"


def test_ensure_backend_adds_vectors_then_reuses_them(tmp_path):
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    shutil.copy(SEEDS / "001_ca14ccf12a6e3ca9.txt", corpus_dir)
    idx_dir = tmp_path / "index"
    s = Settings(index_dir=str(idx_dir), corpus=[str(corpus_dir)], upload_dir=str(tmp_path / "uploads"))
    ensure_backend(s, embedder=None)
    assert EmbeddedIndex.load(idx_dir).vectors is None
    e = FakeEmbedder()
    index = ensure_backend(s, embedder=e)
    n = len(index)
    assert index.vectors is not None and len(e.passages) == n
    assert EmbeddedIndex.load(idx_dir).vectors.model_id == e.model_id
    # Loaded as it is: nothing embedded again.
    ensure_backend(s, embedder=e)
    assert len(e.passages) == n
    # A new document: a stale rebuild embeds its passages only.
    shutil.copy(SEEDS / "002_0ff75a2f1f87531d.txt", corpus_dir)
    index = ensure_backend(s, check_stale=True, embedder=e)
    assert len(e.passages) == len(index) > n
    assert index.manifest["embeddings"]["reused"] == n


def test_settings_for_hybrid_retrieval():
    s = from_env({"QA_EMBEDDING_MODEL": " /models/bge ", "QA_HYBRID_WEIGHT": "0.25", "QA_HYBRID_FUSION": "RRF"})
    assert (s.embedding_model, s.hybrid_weight, s.hybrid_fusion) == ("/models/bge", 0.25, "rrf")
    assert FusionSettings.from_settings(s).method == "rrf"
    defaults = from_env({})
    assert defaults.embedding_model == "" and 0 < defaults.hybrid_weight < 1
    for bad in ({"QA_HYBRID_WEIGHT": "2"}, {"QA_HYBRID_WEIGHT": "half"}, {"QA_HYBRID_FUSION": "max"}):
        with pytest.raises(ConfigError):
            from_env(bad)


def test_eval_reports_bm25_and_hybrid_side_by_side(monkeypatch, capsys, fake):
    monkeypatch.setattr("qa_service.evaluation.modes.get_embedder", lambda name: fake)
    args = argparse.Namespace(
        seed_set=None,
        cmrc=str(ROOT / "no-such-file.json"),
        no_bigrams=False,
        json=True,
        embedding_model="fake",
        hybrid_weight=0.3,
        weights="0,1",
    )
    assert run_eval(args, Settings()) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["modes"]) == {"bm25", "hybrid weighted w=0.3", "hybrid rrf k=60"}
    paired = out["modes"]["hybrid weighted w=0.3"]["seed Hit@1 vs bm25"]
    assert set(paired) == {"gained", "lost", "p"}
    assert out["sweep"]["0"]["seed Hit@1"]["gained"] == out["sweep"]["0"]["seed Hit@1"]["lost"] == 0
    assert out["seed"]["Hit@1 (answerable)"] == out["modes"]["bm25"]["seed"]["Hit@1 (answerable)"]


# -- a real (tiny, random) sentence-transformers model ---------------------------


def _require_sentence_transformers() -> None:
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must install the embeddings extra: pip install -e '.[dev,embeddings]'")
        pytest.skip("sentence-transformers is not installed (pip install 'qa-service[embeddings]')")


def build_tiny_model(path: Path, texts: Sequence[str], seed: int = 0) -> Path:
    """A 2-layer BERT (hidden 32) with a character WordPiece vocabulary, mean pooled."""
    from sentence_transformers import SentenceTransformer
    from transformers import BertModel

    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling, Transformer

    hf = path.parent / f"{path.name}-hf"
    vocab_size = save_char_tokenizer(hf, texts)
    BertModel(tiny_bert_config(vocab_size, seed)).save_pretrained(hf)
    SentenceTransformer(modules=[Transformer(str(hf), max_seq_length=512), Pooling(32, "mean")], device="cpu").save(
        str(path)
    )
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, seed_corpus) -> Path:
    _require_sentence_transformers()
    texts = [c.text for c in seed_corpus.chunks] + [c.title for c in seed_corpus.chunks]
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", texts)


def test_sentence_transformer_embedder_gives_unit_vectors_and_a_stable_id(tiny_model, tmp_path, seed_corpus):
    e = get_embedder(str(tiny_model))
    assert e is not None and e.dim == 32
    v = e.encode_passages(["新安路街道把辖区划分成了32个网格", "源源讲党史"])
    assert v.shape == (2, 32) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.allclose(e.encode_queries(["源源讲党史"])[0], v[1], atol=1e-5)
    # The id follows the weights, not the path: a copy elsewhere is the same model, new weights are not.
    copy = tmp_path / "copy" / "tiny"
    shutil.copytree(tiny_model, copy)
    assert emb_mod.SentenceTransformerEmbedder(str(copy)).model_id == e.model_id
    texts = [c.text for c in seed_corpus.chunks]
    other = build_tiny_model(tmp_path / "other", texts, seed=1)
    assert emb_mod.SentenceTransformerEmbedder(str(other)).model_id != e.model_id


def test_hybrid_end_to_end_with_a_real_model(tiny_model, seed_corpus, tmp_path):
    e = get_embedder(str(tiny_model))
    EmbeddedIndex.build(seed_corpus, embedder=e).save(tmp_path)
    settings = from_env({"QA_EMBEDDING_MODEL": str(tiny_model)})
    svc = QAService(EmbeddedIndex.load(tmp_path), configured_embedder(settings))  # the model comes from the setting
    assert svc.mode == "hybrid"
    res = svc.ask("谁陪同宋洁督导爱国卫生工作？", explain=True)
    assert res["mode"] == "hybrid" and set(res["passages"][0]["explain"]) == EXPLAIN_KEYS
    assert res["passages"][0]["source"]["document"] == "001_ca14ccf12a6e3ca9.txt"


def test_an_unloadable_model_means_bm25(tiny_model, tmp_path, seed_index, caplog):
    settings = from_env({"QA_EMBEDDING_MODEL": str(tmp_path / "no-such-model")})
    with caplog.at_level(logging.ERROR, logger="qa_service"):
        assert QAService(seed_index, configured_embedder(settings)).mode == "bm25"
    assert "cannot load embedding model" in caplog.text


def test_cli_index_embeds_with_the_model_flag(tiny_model, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "QA_EMBEDDING_MODEL": ""}
    idx = tmp_path / "idx"
    cmd = [sys.executable, "-m", "qa_service", "index", str(SEEDS), "--index-dir", str(idx), "--no-progress"]
    r = subprocess.run(
        [*cmd, "--embedding-model", str(tiny_model)], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert r.returncode == 0, r.stderr
    assert "passages with tiny:" in r.stdout
    manifest = json.loads((current_version_dir(idx) / "manifest.json").read_text())
    assert manifest["embeddings"]["dim"] == 32 and EMBEDDINGS in manifest["files"]
    assert isinstance(EmbeddedIndex.load(idx).vectors, PassageVectors)
