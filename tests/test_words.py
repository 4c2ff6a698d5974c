"""Passages' word starts, cut once at index time (index/embedded/words.py), and the reader using them."""

from __future__ import annotations

import numpy as np
import pytest

from qa_service.core.models import Chunk
from qa_service.core.settings import Settings
from qa_service.core.text import sentence_spans
from qa_service.core.tokenizer import Tokenizer
from qa_service.index.embedded.store import EmbeddedIndex
from qa_service.index.embedded.versions import SegmentedIndex
from qa_service.index.embedded.words import pack_block_word_starts, pack_word_starts
from qa_service.ingest.pipeline import corpus_from_documents
from qa_service.qa.reader import sentence_words, span_candidates
from tests.test_segments import small_documents


def cut_starts(tokenizer: Tokenizer, text: str) -> list[int]:
    return np.cumsum([0, *map(len, tokenizer.cut(text)[:-1])]).tolist() if text else []


def assert_words_as_cut_alone(index) -> int:
    """Every passage's stored words are its text's own cut, and every sentence's those of the
    sentence cut alone; the number of sentences checked."""
    sentences = 0
    for i in range(len(index)):
        chunk = index.chunk(i)
        assert chunk.words is not None
        assert chunk.words().tolist() == cut_starts(index.tokenizer, chunk.text), chunk.id
        for s, e in sentence_spans(chunk.text):
            assert sentence_words(chunk, s, e) == index.tokenizer.cut(chunk.text[s:e]), (chunk.id, s, e)
            sentences += 1
    return sentences


def test_the_seed_index_stores_each_passages_own_cut(seed_index):
    # Titles and sections are indexed in front of the text; the stored words are the text's alone.
    assert seed_index.manifest["settings"]["title_in_passages"]
    assert assert_words_as_cut_alone(seed_index) > 200


@pytest.mark.parametrize("segmenter", ["rjieba", "jieba_fast"])
def test_other_segmenters_store_their_own_cut(seed_corpus, segmenter):
    pytest.importorskip(segmenter)
    index = EmbeddedIndex.build(seed_corpus, tokenizer=Tokenizer(seed_corpus.user_words, segmenter=segmenter))
    assert assert_words_as_cut_alone(index) > 200


def test_saved_added_and_merged_segments_keep_their_words(tmp_path):
    docs = small_documents()
    index = SegmentedIndex.create(corpus_from_documents(docs[:6]), Settings(index_dir=str(tmp_path)))
    index = index.apply(corpus_from_documents(docs[6:9]), [docs[0].id])
    assert len(index.segments) == 2
    loaded = SegmentedIndex.load(tmp_path)
    assert assert_words_as_cut_alone(loaded) > 20
    names = [s.name for s in loaded.segments]
    merged = loaded.replace(names, loaded.merge(names), loaded)
    assert merged is not None and len(merged.segments) == 1
    assert assert_words_as_cut_alone(merged) > 20


def test_pack_word_starts_keeps_only_the_text_after_the_prefix():
    words = ["标题", " ", " ", "区委", "书记", "宋洁", "。"]
    packed = pack_word_starts(words, skip=4, n_chars=7)
    bits = np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=7, bitorder="little")
    assert np.flatnonzero(bits).tolist() == [0, 2, 4, 6]
    assert pack_word_starts([], 0, 0) == b""


def test_the_reader_reads_the_same_spans_from_stored_words_as_from_a_fresh_cut(seed_index):
    tok = seed_index.tokenizer
    compared = 0
    for i in range(len(seed_index)):
        chunk = seed_index.chunk(i)
        for s, e in sentence_spans(chunk.text):
            text = chunk.text[s:e]
            assert span_candidates(tok, text, sentence_words(chunk, s, e)) == span_candidates(tok, text)
            compared += 1
    assert compared > 200


def test_a_chunk_without_stored_words_is_cut_by_the_reader():
    chunk = Chunk(id="d#0.0", text="区委书记宋洁实地督导。", char_start=0, char_end=11, doc_id="d", article=0, title="")
    assert sentence_words(chunk, 0, 11) is None
    assert span_candidates(Tokenizer(), chunk.text, None)


def test_a_blocks_word_starts_are_each_texts_packed_alone():
    tok = Tokenizer()
    texts = [("标题 ", "管城区委理论学习中心组4月9日举行党史专题研讨会。"), ("", ""), ("", "COVID-19 疫情 2021年"),
             ("前言：", "一"), ("", "  两个空格开头，然后是一段长一点的文字用来跨过好几个字节的边界。")]  # fmt: skip
    raws = [tok.cut(p + t) for p, t in texts]
    skips = np.array([len(p) for p, _ in texts])
    sizes = np.array([len(t) for _, t in texts])
    want = [pack_word_starts(raw, len(p), len(t)) for raw, (p, t) in zip(raws, texts, strict=True)]
    assert pack_block_word_starts(raws, skips, sizes) == want
