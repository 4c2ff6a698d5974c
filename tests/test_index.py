import json
import os
import shutil

import pytest

from qa_service.core.errors import IndexCorrupt, IndexIncompatible, IndexMissing
from qa_service.core.settings import Settings
from qa_service.index import publish
from qa_service.index.embedded import store as index_mod
from qa_service.index.embedded.store import EmbeddedIndex
from qa_service.index.publish import CURRENT, current_version_dir
from qa_service.ingest.pipeline import build_corpus
from qa_service.ops.build import ensure_backend
from tests.conftest import SEEDS


def test_save_and_load_round_trip(seed_index, tmp_path):
    where = seed_index.save(tmp_path)
    assert (tmp_path / CURRENT).read_text().strip() == where.name
    loaded = EmbeddedIndex.load(tmp_path)
    assert len(loaded) == len(seed_index)
    assert loaded.manifest["format_version"] == index_mod.FORMAT_VERSION
    assert loaded.manifest["corpus"]["fingerprint"] == seed_index.manifest["corpus"]["fingerprint"]
    q = seed_index.tokenizer.tokens("谁陪同宋洁督导爱国卫生工作？")
    assert loaded.search(q, 5) == seed_index.search(q, 5)
    assert loaded.chunk(3) == seed_index.chunk(3)
    doc = loaded.document("001_ca14ccf12a6e3ca9.txt")
    assert doc["text"] == (SEEDS / "001_ca14ccf12a6e3ca9.txt").read_text("utf-8")
    assert loaded.document("nope") is None


def test_a_second_save_replaces_the_first_and_cleans_up(seed_index, tmp_path):
    first = seed_index.save(tmp_path)
    second = seed_index.save(tmp_path)
    assert first != second and not first.exists() and second.exists()
    assert current_version_dir(tmp_path) == second
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_a_crash_while_writing_leaves_the_previous_index_live(seed_index, tmp_path, monkeypatch):
    good = seed_index.save(tmp_path)
    calls = {"n": 0}
    real = publish.write_file

    def failing(path, data):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(publish, "write_file", failing)  # the disk fills up mid-write
    with pytest.raises(OSError):
        seed_index.save(tmp_path)
    monkeypatch.setattr(publish, "write_file", real)
    assert current_version_dir(tmp_path) == good
    assert len(EmbeddedIndex.load(tmp_path)) == len(seed_index)


def test_missing_index_is_reported(tmp_path):
    with pytest.raises(IndexMissing, match="qa-service index"):
        EmbeddedIndex.load(tmp_path / "nothing")


def test_corrupted_file_fails_its_checksum(seed_index, tmp_path):
    vdir = seed_index.save(tmp_path)
    target = vdir / "bm25_postings.bin"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="checksum"):
        EmbeddedIndex.load(tmp_path)


def test_a_checksum_verified_once_is_not_read_again_until_the_file_changes(seed_index, tmp_path, monkeypatch):
    from qa_service.index import publish

    vdir = seed_index.save(tmp_path)
    hashed: list[str] = []
    real = publish.sha256_file
    monkeypatch.setattr(publish, "sha256_file", lambda p: hashed.append(p.name) or real(p))
    monkeypatch.setattr(publish, "_SETTLED_NS", 0)  # the files were just written
    files = set(json.loads((vdir / "manifest.json").read_text())["files"])
    EmbeddedIndex.load(tmp_path)
    assert set(hashed) == files  # the first load reads every file
    hashed.clear()
    EmbeddedIndex.load(tmp_path)
    assert hashed == []  # the next ones trust what was verified
    EmbeddedIndex.load(tmp_path, verify=False)
    # Changed after it was verified (same size, so only its checksum can tell): read and refused.
    target = vdir / "bm25_postings.bin"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a clock tick later
    with pytest.raises(IndexCorrupt, match="checksum"):
        EmbeddedIndex.load(tmp_path)
    assert hashed == ["bm25_postings.bin"]


def test_a_recent_file_or_an_unreadable_record_is_verified_again(seed_index, tmp_path, monkeypatch):
    from qa_service.index import publish

    vdir = seed_index.save(tmp_path)
    hashed: list[str] = []
    real = publish.sha256_file
    monkeypatch.setattr(publish, "sha256_file", lambda p: hashed.append(p.name) or real(p))
    EmbeddedIndex.load(tmp_path)
    n = len(hashed)
    EmbeddedIndex.load(tmp_path)  # written within the clock's uncertainty: not trusted yet
    assert len(hashed) == 2 * n and not (vdir / publish.CHECKED).exists()
    monkeypatch.setattr(publish, "_SETTLED_NS", 0)
    EmbeddedIndex.load(tmp_path)
    (vdir / publish.CHECKED).write_text("{not json")
    EmbeddedIndex.load(tmp_path)
    assert len(hashed) == 4 * n


def test_truncated_file_is_detected(seed_index, tmp_path):
    vdir = seed_index.save(tmp_path)
    with open(vdir / "chunk_text.bin", "r+b") as f:
        f.truncate(10)
    with pytest.raises(IndexCorrupt, match="truncated"):
        EmbeddedIndex.load(tmp_path)


def test_pointer_to_a_missing_folder_is_corrupt(seed_index, tmp_path):
    vdir = seed_index.save(tmp_path)
    shutil.rmtree(vdir)
    with pytest.raises(IndexCorrupt):
        EmbeddedIndex.load(tmp_path)


def test_incompatible_format_version(seed_index, tmp_path):
    vdir = seed_index.save(tmp_path)
    m = json.loads((vdir / "manifest.json").read_text())
    m["format_version"] = 999
    (vdir / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexIncompatible):
        EmbeddedIndex.load(tmp_path)


def test_ensure_backend_builds_when_missing_and_rebuilds_when_stale(tmp_path):
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    shutil.copy(SEEDS / "001_ca14ccf12a6e3ca9.txt", corpus_dir)
    idx_dir = tmp_path / "index"
    s = Settings(index_dir=str(idx_dir), corpus=[str(corpus_dir)], upload_dir=str(tmp_path / "uploads"))
    first = ensure_backend(s, check_stale=True)
    assert len(first.documents) == 1
    v1 = current_version_dir(idx_dir)
    # Unchanged corpus: loaded, not rebuilt.
    ensure_backend(s, check_stale=True)
    assert current_version_dir(idx_dir) == v1
    shutil.copy(SEEDS / "000_297aa0e12c4718b1.txt", corpus_dir)
    second = ensure_backend(s, check_stale=True)
    assert len(second.documents) == 2 and current_version_dir(idx_dir) != v1


def test_ensure_backend_refuses_when_building_is_off(tmp_path):
    with pytest.raises(IndexMissing):
        ensure_backend(Settings(index_dir=str(tmp_path / "none"), corpus=[str(SEEDS)], build_if_missing=False))


def test_index_folder_holds_no_temporary_leftovers_after_build(tmp_path):
    idx = EmbeddedIndex.build(build_corpus([SEEDS / "002_0ff75a2f1f87531d.txt"]))
    idx.save(tmp_path)
    names = sorted(os.listdir(tmp_path))
    assert names[0] == CURRENT and len(names) == 2


def test_article_rows_are_decoded_once_and_the_memory_is_bounded(seed_index, tmp_path, monkeypatch):
    from qa_service.index import documents

    monkeypatch.setattr(documents, "ARTICLE_ROWS_KEPT", 2)
    seed_index.save(tmp_path)
    index = EmbeddedIndex.load(tmp_path)  # its own memory of rows, read from the saved tables
    first = index.article(0)
    assert first == index.articles[0] and index.article(0) is first
    for i in range(len(index.articles)):
        assert index.article(i) == index.articles[i]
        assert len(index._article_rows) <= 2
    chunk = index.chunk(0)
    art = index.articles[int(index._chunk_meta[0][0])]
    assert (chunk.doc_id, chunk.title, chunk.publisher) == (art["document"], art["title"], art["publisher"])
