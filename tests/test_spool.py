"""A full build streamed one document at a time (index/embedded/spool.py) gives the in-memory build's index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import qa_service.index.embedded.spool as spool_module
import qa_service.ingest.pipeline as pipeline
from qa_service.core.errors import DocumentError
from qa_service.core.settings import Settings
from qa_service.index.embedded import counting
from qa_service.index.embedded.spool import SpooledTexts
from qa_service.index.embedded.store import EmbeddedIndex
from qa_service.index.embedded.term_ids import given_tokens
from qa_service.index.embedded.versions import SegmentedIndex
from qa_service.index.publish import current_version_dir, pack_texts
from qa_service.ingest.loaders import load_paths
from qa_service.ingest.pipeline import corpus_from_documents, stream_corpus
from qa_service.ops.build import build_from, read_state
from qa_service.ops.state import recorded_digests
from tests import format_fixtures as ff
from tests.conftest import SEEDS
from tests.test_segments import small_documents

# What two builds of the same corpus may differ in: when and how long, and the id of the folder.
VOLATILE = {"created", "segment_id", "build_seconds"}


def version_files(index_dir: Path) -> tuple[dict, dict[str, bytes]]:
    vdir = current_version_dir(index_dir)
    manifest = json.loads((vdir / "manifest.json").read_text("utf-8"))
    files = {p.relative_to(vdir).as_posix(): p.read_bytes() for p in vdir.rglob("*") if p.is_file()}
    files.pop("manifest.json")
    return {k: v for k, v in manifest.items() if k not in VOLATILE}, files


def assert_same_index(streamed: Path, in_memory: Path) -> None:
    (m1, f1), (m2, f2) = version_files(streamed), version_files(in_memory)
    assert m1 == m2  # the files' checksums included
    assert f1.keys() == f2.keys()
    assert [name for name in f1 if f1[name] != f2[name]] == []
    assert not [p for p in streamed.iterdir() if p.name.startswith(".spool-")]  # the spool is gone


def in_memory_build(paths: list[Path], index_dir: Path) -> None:
    resolved = [str(p.resolve()) for p in paths]
    corpus = corpus_from_documents(list(load_paths(resolved)), paths=resolved)
    EmbeddedIndex.build(corpus).save(index_dir)


def test_the_streamed_seed_build_is_the_in_memory_build_file_for_file(tmp_path, monkeypatch):
    monkeypatch.setattr(counting, "SCATTER_POSTINGS", 1000)  # the postings file written in many term ranges
    settings = Settings(index_dir=str(tmp_path / "streamed"), corpus=[str(SEEDS)])
    build_from(settings).close()
    in_memory_build([SEEDS], tmp_path / "memory")
    assert_same_index(tmp_path / "streamed", tmp_path / "memory")
    state = read_state(settings)
    assert state is not None and len(recorded_digests(settings, state)) == 5


def test_pdfs_keep_their_page_layout_and_originals_when_streamed(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for stem in ff.PDF_SEEDS[:2]:
        (folder / f"{stem}.pdf").write_bytes(ff.make_pdf(ff.seed_lines(stem), columns=2))
    (folder / "002.txt").write_bytes(next(SEEDS.glob("002_*.txt")).read_bytes())
    build_from(Settings(index_dir=str(tmp_path / "streamed"), corpus=[str(folder)])).close()
    in_memory_build([folder], tmp_path / "memory")
    assert_same_index(tmp_path / "streamed", tmp_path / "memory")
    index = SegmentedIndex.load(tmp_path / "streamed")
    doc = next(d for d in index.documents if d["id"].endswith(".pdf"))
    assert index.original_file(doc["id"]) is not None


def test_worker_processes_and_small_read_blocks_give_the_same_index(tmp_path, monkeypatch):
    docs = small_documents()
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_DOCS", 4)
    monkeypatch.setattr(pipeline, "BATCH", 3)
    monkeypatch.setattr(counting, "PARALLEL_MIN", 16)
    monkeypatch.setattr(counting, "CHUNK", 7)
    monkeypatch.setattr(spool_module, "READ_BLOCK", 500)  # a few passages a read, some longer than it
    streamed = SegmentedIndex.create_streamed(stream_corpus(docs, workers=2), Settings(index_dir=str(tmp_path / "a")))
    reference = EmbeddedIndex.build(corpus_from_documents(docs, workers=1))
    assert len(streamed) == len(reference) > 16
    for i in range(len(reference)):
        a, b = streamed.chunk(i), reference.chunk(i)
        assert (a.id, a.text, a.char_start, a.char_end) == (b.id, b.text, b.char_start, b.char_end)
        assert a.words().tolist() == b.words().tolist()
    for q in ("上街区卫健委", "政法队伍教育整顿", "疫情防控"):
        tokens = reference.tokenizer.tokens(q)
        assert streamed.search(tokens, 5) == reference.search(tokens, 5)


def test_spooled_texts_read_back_in_blocks_and_one_by_one(tmp_path):
    texts = ["区委书记宋洁", "", "实地督导" * 50, "a" * 3, "上街区"]
    data, bounds = pack_texts(texts)
    (tmp_path / "t.bin").write_bytes(data)
    spooled = SpooledTexts(tmp_path / "t.bin", bounds)
    assert list(spooled) == texts
    assert [spooled[i] for i in range(len(texts))] == texts


def test_a_streamed_corpus_without_text_leaves_the_live_index_as_it_was(tmp_path):
    settings = Settings(index_dir=str(tmp_path / "index"), corpus=[str(SEEDS)])
    build_from(settings).close()
    before = current_version_dir(tmp_path / "index")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blank.txt").write_text("   \n\n  ", "utf-8")
    with pytest.raises(DocumentError) as exc:
        build_from(settings, [str(empty)])
    assert exc.value.code == "empty_corpus"
    assert current_version_dir(tmp_path / "index") == before
    assert not [p for p in (tmp_path / "index").iterdir() if p.name.startswith(".spool-")]


def test_spilled_postings_read_back_with_their_own_term_frequency_width(tmp_path):
    spill = counting.BlockSpill(tmp_path / "spill")
    narrow = counting._Counter(1).count_with(given_tokens, [["a", "b", "a"], ["b"]])
    wide = counting._Counter(2).count_with(given_tokens, [["c"] * 70_000, ["c", "d"]])
    assert narrow.tf.dtype == np.uint16 and wide.tf.dtype == np.int32
    kept = [(b.docs.copy(), b.tf.copy()) for b in (narrow, wide)]
    spilled = [spill.put(narrow), spill.put(wide)]
    assert all(len(b.docs) == 0 for b in spilled)
    for b, (docs, tf) in zip(spilled, kept, strict=True):
        got_docs, got_tf = spill.read(b)
        assert got_docs.tolist() == docs.tolist() and got_tf.tolist() == tf.tolist()
    spill.close()


def test_text_documents_reach_the_spool_encoded_by_the_ingest_workers(monkeypatch):
    docs = small_documents()
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_DOCS", 4)
    monkeypatch.setattr(pipeline, "BATCH", 3)
    stream = stream_corpus(docs, workers=2)
    assert stream.prepared is not None
    made = list(stream.prepared(spool_module.spool_entry))
    assert len(made) == len(docs) > 4
    for doc, entry in made:
        assert isinstance(entry, spool_module.SpoolEntry)  # encoded in the worker, not sent as objects
        articles, chunks = pipeline.process_document(doc, pipeline.ChunkSettings())
        assert [p.decode("utf-8") for p in entry.passages] == [c.text for c in chunks]
        assert entry.meta == [v for c in chunks for v in (c.article, c.char_start, c.char_end)]
        assert len(entry.articles) == len(articles)
    assert stream.user_words  # names were learned on the way
