import itertools
import re

from qa_service.core.models import ChunkSettings, Document
from qa_service.core.text import sentence_spans
from qa_service.ingest.chunking import chunk_article
from qa_service.ingest.pipeline import process_document


def test_sentences_split_at_chinese_punctuation_and_line_ends():
    text = "第一句。第二句！第三句？“引号句。”第五句；最后一句\n另起一行"
    parts = [text[s:e] for s, e in sentence_spans(text)]
    assert parts == ["第一句。", "第二句！", "第三句？", "“引号句。”", "第五句；", "最后一句", "另起一行"]


def test_overlong_sentence_is_cut_at_commas():
    text = "，".join(["这是一个很长的分句"] * 80) + "。"
    spans = sentence_spans(text, max_chars=100)
    assert all(e - s <= 100 for s, e in spans)
    assert "".join(text[s:e] for s, e in spans) == text


def test_seed_chunks_have_bounded_size_overlap_and_exact_offsets(seed_corpus, originals):
    by_article = {}
    for c in seed_corpus.chunks:
        orig = originals[c.doc_id]
        assert re.sub(r"\s", "", orig[c.char_start : c.char_end]) == re.sub(r"\s", "", c.text)
        assert len(c.text) <= 400 + 200
        by_article.setdefault((c.doc_id, c.article), []).append(c)
    multi = [cs for cs in by_article.values() if len(cs) > 1]
    assert multi, "some seed articles are long enough to need several chunks"
    for cs in multi:
        for a, b in itertools.pairwise(cs):
            # One sentence of overlap: the next chunk starts with the last sentence of this one.
            last = [a.text[s:e] for s, e in sentence_spans(a.text)][-1]
            assert b.text.startswith(last)
            assert a.char_start < b.char_start < a.char_end
        assert all(len(c.text) >= 150 // 2 for c in cs[:-1])


def test_chunks_never_cross_articles(seed_corpus):
    ranges = {}
    for a in seed_corpus.articles:
        ranges[(a.doc_id, a.index)] = (a.char_start, a.char_end)
    for c in seed_corpus.chunks:
        s, e = ranges[(c.doc_id, c.article)]
        assert s <= c.char_start and c.char_end <= e


def test_a_boilerplate_line_inside_an_article_splits_the_chunk():
    body = "".join(f"这是第{i}句话，内容是关于社区卫生工作的说明。" for i in range(6))
    text = f"某某街道开展卫生工作\n{body}\n分享到\n{body}\n"
    doc = Document(id="x.txt", text=text, path="x.txt", format="txt")
    _, chunks = process_document(doc, ChunkSettings(min_chars=50, max_chars=1000))
    for c in chunks:
        assert "分享到" not in text[c.char_start : c.char_end]
        assert re.sub(r"\s", "", text[c.char_start : c.char_end]) == re.sub(r"\s", "", c.text)
    assert len(chunks) == 2


def test_chunk_ids_are_unique(seed_corpus):
    ids = [c.id for c in seed_corpus.chunks]
    assert len(ids) == len(set(ids))


def test_chunk_article_settings_are_respected(seed_corpus, originals):
    art = max(seed_corpus.articles, key=lambda a: len(a.body.text))
    small = chunk_article(art, originals[art.doc_id], ChunkSettings(min_chars=60, max_chars=120, overlap_max=60))
    big = chunk_article(art, originals[art.doc_id], ChunkSettings(min_chars=150, max_chars=400))
    assert len(small) > len(big)
