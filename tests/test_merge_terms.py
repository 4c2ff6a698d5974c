"""The build's term merge from arrays (index/embedded/merge_terms.py) gives the table of the distinct terms."""

import numpy as np
import pytest

import qa_service.index.embedded.merge_terms as merge_module
from qa_service.index.embedded.counting import _Counter
from qa_service.index.embedded.merge_terms import merge_terms, table_from_spans
from qa_service.index.embedded.term_ids import given_tokens
from qa_service.index.embedded.terms import TermTable, term_hashes

# Entries as two counters would bring them: repeats across counters, an empty term, several scripts.
ENTRIES = ["工作", "", "a", "街道办事处", "工作", "会议", "a", "2021", "", "会议"]


def _spans(entries: list[str]) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    enc = [t.encode("utf-8") for t in entries]
    starts = np.zeros(len(enc) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in enc], out=starts[1:])
    return np.frombuffer(b"".join(enc), dtype=np.uint8), starts, enc


def test_the_merged_table_is_the_table_of_the_distinct_terms(monkeypatch):
    monkeypatch.setattr(merge_module, "SPAN_STEP", 3)  # several steps of gathering and comparing
    blob, starts, enc = _spans(ENTRIES)
    table, ids = table_from_spans([blob, starts, term_hashes(enc).copy()])  # it sorts the hashes
    reference, _ = TermTable.from_terms(list(dict.fromkeys(ENTRIES)))
    assert np.array_equal(table.hashes, reference.hashes) and table.hashes.dtype == reference.hashes.dtype
    assert np.array_equal(table.offsets, reference.offsets)
    assert table.blob.tobytes() == reference.blob.tobytes() and table.salt == 0
    assert [table.term(i) for i in ids.tolist()] == ENTRIES


def test_distinct_terms_with_one_hash_are_hashed_again_with_a_salt(monkeypatch):
    monkeypatch.setattr(merge_module, "SPAN_STEP", 2)
    blob, starts, _ = _spans(ENTRIES)
    table, ids = table_from_spans([blob, starts, np.zeros(len(ENTRIES), dtype="<u8")])  # every entry collides
    assert table.salt == 1 and len(table) == len(set(ENTRIES))
    assert [table.term(i) for i in ids.tolist()] == ENTRIES
    assert all(table.get(t) == i for t, i in zip(ENTRIES, ids.tolist(), strict=True))


def test_the_merge_takes_the_blocks_new_terms_and_refuses_to_merge_them_twice():
    one, two = _Counter(1), _Counter(2)
    blocks = [one.count_with(given_tokens, [["甲", "乙"]]), two.count_with(given_tokens, [["乙", "丙"]]),
              one.count_with(given_tokens, [["丁", "甲"]])]  # fmt: skip
    table, gmap = merge_terms(blocks)
    assert sorted(table) == ["丁", "丙", "乙", "甲"]
    assert [table.term(i) for i in gmap[1].tolist()] == ["甲", "乙", "丁"]
    assert [table.term(i) for i in gmap[2].tolist()] == ["乙", "丙"]
    assert all(b.new_terms == b"" and len(b.new_sizes) == len(b.new_hashes) == 0 for b in blocks)
    with pytest.raises(RuntimeError, match="merged already"):
        merge_terms(blocks)
