"""The embedded index as segments: adds and deletes by document, merges, and what a full build gives."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from qa_service.core.errors import IndexCorrupt
from qa_service.core.models import Document
from qa_service.core.settings import Settings
from qa_service.index.base import Filters
from qa_service.index.embedded.merging import MERGE_FACTOR, plan_merge
from qa_service.index.embedded.segments import FLAT, Segment
from qa_service.index.embedded.store import EmbeddedIndex
from qa_service.index.embedded.versions import SegmentedIndex
from qa_service.index.publish import current_version_dir
from qa_service.ingest.loaders import load_paths
from qa_service.ingest.pipeline import corpus_from_documents
from qa_service.ops.build import catch_up, open_for_serving, read_state
from qa_service.ops.live import LiveIndex
from qa_service.ops.state import recorded_digests
from qa_service.qa.service import QAService
from tests.conftest import SAMPLE_QUESTIONS, SEEDS

QUERIES = [*SAMPLE_QUESTIONS, "上街区卫健委", "政法队伍教育整顿", "疫情防控 核酸检测", "一般公共预算收入 增长"]


def small_documents() -> list[Document]:
    """The seeds' articles, each as a document of its own: many small ones to add and delete."""
    corpus = corpus_from_documents(list(load_paths([str(SEEDS)])))
    texts = {d.id: d.text for d in corpus.documents}
    return [
        Document(
            id=f"{a.doc_id[:3]}-{a.index:02d}.txt",
            text=texts[a.doc_id][a.char_start : a.char_end],
            path="-",
            format="txt",
        )
        for a in corpus.articles
        if a.char_end - a.char_start > 60
    ]


def change(index, added=(), removed=()):
    """``index.apply`` with documents, as the service calls it (cleaned, segmented and chunked first)."""
    return index.apply(corpus_from_documents(list(added)), list(removed))


def keyed_scores(index, queries=QUERIES) -> dict[tuple[str, str, int, int], float]:
    """Every live passage's score for each query, keyed by what it is (not its id, which a merge changes)."""
    out = {}
    for q in queries:
        tokens = index.tokenizer.tokens(q)
        scores = index.scores(tokens)
        for i in np.flatnonzero(scores > 0).tolist():
            c = index.chunk(i)
            out[(q, c.doc_id, c.char_start, c.char_end)] = float(scores[i])
    return out


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    found = small_documents()
    assert len(found) >= 25
    return found


def top1(index, q):
    hits = index.search(index.tokenizer.tokens(q), 1)
    if not hits:
        return None
    c = index.chunk(hits[0][0])
    return (c.doc_id, c.char_start)


def full_build(documents: list[Document], tokenizer) -> EmbeddedIndex:
    return EmbeddedIndex.build(corpus_from_documents(documents), tokenizer=tokenizer)


def test_random_adds_deletes_and_merges_end_where_a_full_build_does(docs, tmp_path):
    rng = random.Random(7)
    live = {d.id: d for d in docs[:12]}
    index = SegmentedIndex.create(corpus_from_documents(list(live.values())), Settings(index_dir=str(tmp_path)))
    for step in range(25):
        op = rng.random()
        if op < 0.5 or len(live) < 4:
            doc = rng.choice([d for d in docs if d.id not in live])
            index = change(index, added=[doc])
            live[doc.id] = doc
        elif op < 0.8:
            gone = rng.choice(sorted(live))
            index = change(index, removed=[gone])
            del live[gone]
        else:  # replaced: the same id, other text
            doc = live[rng.choice(sorted(live))]
            changed = Document(
                id=doc.id, text=doc.text + "\n\n补充说明：本文于第二天更新。", path=doc.path, format="txt"
            )
            index = change(index, added=[changed])
            live[doc.id] = changed
        if step % 6 == 5:
            index = index.merge_step() or index
        assert {d["id"] for d in index.documents} == set(live)
    assert len(index.segments) > 1
    reference = keyed_scores(full_build(list(live.values()), index.tokenizer))

    # Before the last merge: the same passages score (deleted ones never), ranked much alike.
    before = keyed_scores(index)
    assert set(before) == set(reference)
    full = full_build(list(live.values()), index.tokenizer)
    assert sum(top1(index, q) == top1(full, q) for q in QUERIES) >= len(QUERIES) - 1

    names = [s.name for s in index.segments]
    merged = index.replace(names, index.merge(names), index)
    assert merged is not None and len(merged.segments) == 1
    after = keyed_scores(merged)
    assert set(after) == set(reference)
    assert max(abs(after[k] - reference[k]) for k in reference) <= 1e-5 * max(reference.values())


def test_before_a_merge_scores_differ_only_by_each_segments_length_normalisation(docs, tmp_path):
    """With nothing deleted, idf is exact across segments; a passage's score can differ from a full
    build's only by its segment's average length a_s against the index's A: within [a_s/A, 1] or
    [1, a_s/A] (docs/performance.md)."""
    index = SegmentedIndex.create(corpus_from_documents(docs[:5]), Settings(index_dir=str(tmp_path)))
    for d in docs[5:15]:
        index = change(index, added=[d])
    live = [d for d in docs[:15]]
    full = full_build(live, index.tokenizer)
    average = full.bm25.total_len / full.bm25.n_docs
    bounds = {}
    for s in index.segments:
        r = s.index.bm25.avgdl / average
        for d in s.index.documents:
            bounds[d["id"]] = (min(r, 1.0), max(r, 1.0))
    got, want = keyed_scores(index), keyed_scores(full)
    assert set(got) == set(want)
    spread = []
    for key, score in want.items():
        lo, hi = bounds[key[1]]
        ratio = got[key] / score
        assert lo - 1e-4 <= ratio <= hi + 1e-4, (key, ratio, lo, hi)
        spread.append(abs(ratio - 1))
    assert max(spread) > 0  # the segments really were normalised differently


def test_a_deleted_document_is_gone_from_every_answer(docs, tmp_path):
    index = SegmentedIndex.create(corpus_from_documents(docs[:10]), Settings(index_dir=str(tmp_path)))
    target = docs[3].id
    index = change(index, removed=[target], added=[docs[20]])
    assert index.document(target) is None and index.document_text(target) == ""
    assert target not in {d["id"] for d in index.documents}
    for q in QUERIES:
        for i, _ in index.search(index.tokenizer.tokens(q), 50):
            assert index.chunk(i).doc_id != target
    mask = index.passage_mask(Filters(documents=(target,)))
    assert not mask.any()
    svc = QAService(index)
    for q in QUERIES:
        assert all(p["source"]["document"] != target for p in svc.ask(q)["passages"])


def test_an_added_document_is_found_and_cited_exactly(docs, tmp_path):
    index = SegmentedIndex.create(corpus_from_documents(docs[:10]), Settings(index_dir=str(tmp_path)))
    new = docs[25]
    index = change(index, added=[new])
    assert index.manifest["counts"]["documents"] == 11
    words = index.tokenizer.tokens(new.text[:60])
    top = index.chunk(index.search(words, 1)[0][0])
    assert top.doc_id == new.id
    original = index.document_text(new.id)
    assert original == new.text
    squash = lambda t: re.sub(r"\s", "", t)  # noqa: E731
    assert squash(original[top.char_start : top.char_end]) == squash(top.text)


def test_a_new_version_keeps_segments_by_hard_link_and_verifies_new_ones(docs, tmp_path):
    index = SegmentedIndex.create(corpus_from_documents(docs[:10]), Settings(index_dir=str(tmp_path)))
    index = change(index, added=[docs[11]])
    first = index.segments[0]
    inode = (first.index.location / "bm25_postings.bin").stat().st_ino
    index = change(index, added=[docs[12]])
    assert (index.segments[0].index.location / "bm25_postings.bin").stat().st_ino == inode
    assert len(list(tmp_path.glob("v-*"))) == 1  # older versions dropped; their files live on through links

    reloaded = SegmentedIndex.load(tmp_path, previous=index)
    assert [s.index for s in reloaded.segments] == [s.index for s in index.segments]  # reused, not re-read
    newest = current_version_dir(tmp_path) / index.segments[-1].name / "chunk_text.bin"
    data = bytearray(newest.read_bytes())
    data[0] ^= 0xFF
    newest.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt):
        SegmentedIndex.load(tmp_path)


def test_merge_policy_merges_a_full_tier_and_rewrites_a_segment_mostly_deleted(docs, tmp_path):
    index = SegmentedIndex.create(corpus_from_documents(docs[:2]), Settings(index_dir=str(tmp_path)))
    sizes = {}
    for d in docs[2 : 2 + MERGE_FACTOR + 1]:
        index = change(index, added=[d])
        sizes[index.segments[-1].name] = index.segments[-1].passages
    plan = plan_merge(index.segments)
    assert len(plan) == MERGE_FACTOR
    merged = index.merge_step()
    assert merged is not None and len(merged.segments) == len(index.segments) - MERGE_FACTOR + 1
    assert {d["id"] for d in merged.documents} == {d["id"] for d in index.documents}

    big = merged.segments[0]
    three = [d["id"] for d in big.index.documents][:1]
    purged = change(merged, removed=three)
    assert plan_merge(purged.segments) == [big.name]
    again = purged.merge_step()
    assert again is not None and all(not s.deleted for s in again.segments)


def test_merges_are_built_from_a_snapshot_and_keep_later_deletions(docs, tmp_path):
    index = SegmentedIndex.create(corpus_from_documents(docs[:6]), Settings(index_dir=str(tmp_path)))
    index = change(index, added=[docs[6], docs[7]])
    snapshot = index
    names = [s.name for s in snapshot.segments]
    merged = snapshot.merge(names)
    later = change(index, removed=[docs[6].id])  # a delete while the merge was being built
    result = later.replace(names, merged, snapshot)
    assert result is not None
    assert docs[6].id not in {d["id"] for d in result.documents}
    assert result.replace(names, merged, snapshot) is None  # the segments were already replaced


def test_live_uploads_add_a_segment_and_start_up_sees_the_index_current(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for p in sorted(SEEDS.iterdir())[:3]:
        (corpus / p.name).write_bytes(p.read_bytes())
    settings = Settings(index_dir=str(tmp_path / "index"), corpus=[str(corpus)], upload_dir=str(tmp_path / "up"))
    start = open_for_serving(settings)
    live = LiveIndex(start.settings, QAService(start.backend))
    live.merge_in_background = False
    base = live.service.index.segments[0]
    extra = sorted(SEEDS.iterdir())[3]
    live.add_document(extra.name, extra.read_bytes())
    index = live.service.index
    assert len(index.segments) == 2 and index.segments[0].index is base.index
    assert index.document(extra.name) is not None
    state = read_state(start.settings)
    assert extra.name in recorded_digests(start.settings, state)
    assert set(state["changes"]) == {extra.name}  # the full build's digests file is not rewritten
    assert open_for_serving(start.settings).stale is None

    live.delete_document(extra.name)
    assert live.service.index.document(extra.name) is None
    assert open_for_serving(start.settings).stale is None


def test_catch_up_after_a_restart_adds_only_what_changed(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seeds = sorted(SEEDS.iterdir())
    for p in seeds[:3]:
        (corpus / p.name).write_bytes(p.read_bytes())
    settings = Settings(index_dir=str(tmp_path / "index"), corpus=[str(corpus)], upload_dir=str(tmp_path / "up"))
    start = open_for_serving(settings)
    assert start.backend.segments[0].name == FLAT
    (corpus / seeds[3].name).write_bytes(seeds[3].read_bytes())  # while the service was down
    (corpus / seeds[0].name).unlink()
    again = open_for_serving(settings)
    assert again.stale is not None
    assert catch_up(again.settings)
    index = SegmentedIndex.load(settings.index_dir)
    assert len(index.segments) == 2  # the full build kept, one new segment
    assert {d["id"] for d in index.documents} == {p.name for p in seeds[1:4]}
    assert open_for_serving(settings).stale is None
    manifest = json.loads((current_version_dir(Path(settings.index_dir)) / "manifest.json").read_text())
    assert manifest["counts"]["documents"] == 3


def test_segment_objects_are_plain_and_ordered(docs, tmp_path):
    index = SegmentedIndex.create(corpus_from_documents(docs[:4]), Settings(index_dir=str(tmp_path)))
    index = change(index, added=[docs[5]])
    assert all(isinstance(s, Segment) for s in index.segments)
    assert [s.base for s in index.segments] == [0, index.segments[0].passages]
    assert len(index) == sum(s.passages for s in index.segments)


def test_the_live_service_merges_in_the_background_and_keeps_answering(docs, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "base.txt").write_text(docs[0].text, "utf-8")
    settings = Settings(index_dir=str(tmp_path / "index"), corpus=[str(corpus)], upload_dir=str(tmp_path / "up"))
    start = open_for_serving(settings)
    live = LiveIndex(start.settings, QAService(start.backend))
    for d in docs[1 : 2 + MERGE_FACTOR]:
        live.add_document(d.id, d.text.encode())
        assert live.service.ask(SAMPLE_QUESTIONS[0])["passages"]  # answered between writes and merges
    live.wait_for_merges(120)
    index = live.service.index
    assert len(index.segments) < 1 + MERGE_FACTOR  # the small ones were merged
    assert {d["id"] for d in index.documents} == {"base.txt", *(d.id for d in docs[1 : 2 + MERGE_FACTOR])}
    reopened = SegmentedIndex.load(settings.index_dir)
    assert [s.name for s in reopened.segments] == [s.name for s in index.segments]
    assert open_for_serving(start.settings).stale is None


def test_hybrid_retrieval_reads_every_segments_vectors_and_never_a_deleted_passage(docs, tmp_path):
    from tests.test_embeddings import FakeEmbedder

    fake = FakeEmbedder()
    settings = Settings(index_dir=str(tmp_path))
    index = SegmentedIndex.create(corpus_from_documents(docs[:8]), settings, embedder=fake)
    index = index.apply(corpus_from_documents([docs[9]]), [docs[2].id], fake)
    assert index.segments[-1].index.vectors is not None  # the new segment was embedded
    assert index.vectors is not None and index.vectors.matrix.shape == (len(index), fake.dim)
    svc = QAService(index, embedder=fake)
    assert svc.mode == "hybrid"
    for q in QUERIES:
        cited = [p["source"]["document"] for p in svc.ask(q, top_k=10)["passages"]]
        assert docs[2].id not in cited
    words = docs[9].text[:40]
    assert svc.ask(words)["passages"][0]["source"]["document"] == docs[9].id


def test_a_full_rebuild_reuses_the_vectors_of_every_segment(docs, tmp_path):
    from tests.test_embeddings import FakeEmbedder

    fake = FakeEmbedder()
    settings = Settings(index_dir=str(tmp_path))
    index = SegmentedIndex.create(corpus_from_documents(docs[:6]), settings, embedder=fake)
    index = index.apply(corpus_from_documents([docs[7]]), [], fake)
    before = len(fake.passages)
    rebuilt = SegmentedIndex.create(corpus_from_documents([*docs[:6], docs[7]]), settings, fake, previous=index)
    assert len(fake.passages) == before  # nothing embedded again: every row came from a segment
    assert rebuilt.vectors is not None and rebuilt.vectors.matrix.shape[0] == len(rebuilt)
    np.testing.assert_allclose(
        np.asarray(rebuilt.vectors.matrix), index.vectors.matrix[np.arange(len(index))], rtol=1e-6
    )
