"""The record of what the live version was built from (ops/state.py): a full build's digests in their
own file, changes one by one in the small state file, the whole put together where it is read."""

from __future__ import annotations

import json

from qa_service.core.models import Document, document_digests, fingerprint_of
from qa_service.core.settings import Settings
from qa_service.ops.state import (
    DIGESTS_PREFIX,
    STATE_FILE,
    read_state,
    record_build,
    record_change,
    recorded_digests,
    recorded_fingerprint,
    write_state,
)


def doc(doc_id: str, text: str) -> Document:
    return Document(id=doc_id, text=text, path=f"/corpus/{doc_id}", format="txt")


def built(tmp_path, n: int = 50) -> tuple[Settings, dict[str, str]]:
    settings = Settings(index_dir=str(tmp_path))
    digests = document_digests(doc(f"d{i}.txt", f"正文{i}") for i in range(n))
    record_build(settings, ["/corpus"], digests, ["/corpus"])
    return settings, digests


def digest_files(tmp_path):
    return sorted(p.name for p in tmp_path.glob(f"{DIGESTS_PREFIX}*.json"))


def test_a_full_build_records_its_digests_in_a_file_of_their_own(tmp_path):
    settings, digests = built(tmp_path)
    state = read_state(settings)
    assert state["fingerprint"] == fingerprint_of(digests) and state["changes"] == {}
    assert "documents" not in state and len(digest_files(tmp_path)) == 1
    assert recorded_digests(settings, state) == digests
    assert recorded_fingerprint(settings, state) == fingerprint_of(digests)


def test_changes_rewrite_only_the_state_file_and_the_record_follows_them(tmp_path):
    settings, digests = built(tmp_path)
    (name,) = digest_files(tmp_path)
    before = (tmp_path / name).read_bytes()
    record_change(settings, [doc("new.txt", "新的正文"), doc("d3.txt", "改过的正文")], [])
    record_change(settings, [], ["d7.txt"])
    record_change(settings, [doc("d7.txt", "又回来了")], [])
    record_change(settings, [], ["d9.txt", "never-indexed.txt"])
    assert (tmp_path / name).read_bytes() == before and digest_files(tmp_path) == [name]
    expected = dict(digests)
    changed = [doc("new.txt", "新的正文"), doc("d3.txt", "改过的正文"), doc("d7.txt", "又回来了")]
    expected.update(document_digests(changed))
    del expected["d9.txt"]
    state = read_state(settings)
    assert recorded_digests(settings, state) == expected
    assert recorded_fingerprint(settings, state) == fingerprint_of(expected) != fingerprint_of(digests)
    assert len((tmp_path / STATE_FILE).read_bytes()) < 1000


def test_the_next_full_build_starts_a_new_record_and_drops_the_old_file(tmp_path):
    settings, _ = built(tmp_path)
    record_change(settings, [doc("new.txt", "新的正文")], [])
    (old,) = digest_files(tmp_path)
    settings, digests = built(tmp_path, n=3)
    state = read_state(settings)
    assert old not in digest_files(tmp_path) and len(digest_files(tmp_path)) == 1
    assert state["changes"] == {} and recorded_digests(settings, state) == digests


def test_a_record_written_before_the_digests_file_is_still_read_and_followed(tmp_path):
    settings = Settings(index_dir=str(tmp_path))
    digests = document_digests([doc("a.txt", "甲"), doc("b.txt", "乙")])
    write_state(settings, {"corpus": [], "paths": [], "fingerprint": fingerprint_of(digests), "documents": digests})
    record_change(settings, [], ["a.txt"])
    state = read_state(settings)
    assert recorded_digests(settings, state) == {"b.txt": digests["b.txt"]}
    assert recorded_fingerprint(settings, state) == fingerprint_of({"b.txt": digests["b.txt"]})


def test_without_digests_the_fingerprint_is_unknown_and_a_missing_file_is_not_a_crash(tmp_path):
    settings = Settings(index_dir=str(tmp_path))
    write_state(settings, {"corpus": [], "paths": [], "fingerprint": "abc"})
    record_change(settings, [doc("a.txt", "甲")], [])
    state = read_state(settings)
    assert state["fingerprint"] is None and recorded_digests(settings, state) is None
    settings, _ = built(tmp_path)
    record_change(settings, [doc("a.txt", "甲")], [])
    for p in tmp_path.glob(f"{DIGESTS_PREFIX}*.json"):
        p.unlink()
    state = read_state(settings)
    assert recorded_digests(settings, state) is None and recorded_fingerprint(settings, state) is None
    assert json.loads((tmp_path / STATE_FILE).read_text("utf-8"))["changes"] == document_digests([doc("a.txt", "甲")])
