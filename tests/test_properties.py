"""Property tests: arbitrary text never breaks the text stages, and offsets stay valid."""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa_service.core.models import ChunkSettings, Document
from qa_service.core.tokenizer import Tokenizer
from qa_service.ingest.cleaning import clean_document, squeeze_spaces
from qa_service.ingest.loaders import decode_bytes
from qa_service.ingest.pipeline import process_document
from qa_service.ingest.segment import segment

# Text that looks like the corpus: CJK, punctuation, spaces, newlines, digits, emoji,
# full-width digits, control characters, headers and attributions.
PIECES = st.sampled_from(
    [
        "上街区",
        "召开",
        "会议",
        "。",
        "，",
        "、",
        "；",
        "！",
        "？",
        "“",
        "”",
        "（新安路街道）",
        "记者 柴琳琳",
        "△ ",
        "本报讯",
        "一、",
        "肥城市",
        "\n",
        "\n\n",
        " ",
        "\u3000",
        "\t",
        "2021 年 4 月 30 日",
        "１２３",
        "😀",
        "\x00",
        "\x1b",
        "\r\n",
        "abc",
        "ICP备",
        "分享到",
        "\ufeff",
        "é",
        "Φ150mm",
    ]
)
TEXT = st.one_of(st.text(max_size=400), st.lists(PIECES, max_size=200).map("".join))
TOKENIZER = Tokenizer(["新安路街道"])


def check_chunks(text: str) -> None:
    doc = Document(id="x.txt", text=text, path="x.txt", format="txt")
    articles, chunks = process_document(doc, ChunkSettings(min_chars=20, max_chars=60, overlap_max=30))
    for a in articles:
        assert 0 <= a.char_start <= a.char_end <= len(text)
        assert a.body.text and len(a.body.offsets) == len(a.body.text)
    for c in chunks:
        assert 0 <= c.char_start < c.char_end <= len(text)
        assert re.sub(r"\s", "", text[c.char_start : c.char_end]) == re.sub(r"\s", "", c.text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_cleaning_keeps_characters_and_offsets(text):
    ct = squeeze_spaces(clean_document(text))
    assert len(ct.text) == len(ct.offsets)
    assert all(0 <= o < len(text) for o in ct.offsets)
    assert list(ct.offsets) == sorted(set(ct.offsets))
    for ch, o in zip(ct.text, ct.offsets, strict=True):
        assert ch.isspace() or text[o] == ch


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_segmenting_and_chunking_never_fail_and_cite_exactly(text):
    check_chunks(text)


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_jsonl_records_segment_to_at_most_one_article(text):
    arts = segment(Document(id="r", text=text, path="f.jsonl", format="jsonl", title="标题"))
    assert len(arts) <= 1


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_tokens_are_nonempty_stripped_strings(text):
    for t in TOKENIZER.tokens(text):
        assert t and t == t.strip() and t == t.lower()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_decoding_arbitrary_bytes_either_works_or_raises_decode_error(data):
    from qa_service.ingest.loaders import DecodeError

    try:
        text = decode_bytes(data)
    except DecodeError:
        return
    assert isinstance(text, str)


def test_mixed_encodings_in_one_folder(tmp_path):
    from qa_service.ingest.loaders import load_paths

    (tmp_path / "u8.txt").write_bytes("上街区召开会议。".encode())
    (tmp_path / "u8bom.txt").write_bytes("\ufeff上街区召开会议。".encode())
    (tmp_path / "gb.txt").write_bytes("上街区召开会议。".encode("gb18030"))
    (tmp_path / "mixed.txt").write_bytes("上街区".encode() + "召开会议".encode("gbk"))
    docs = {d.id: d.text for d in load_paths([tmp_path])}
    assert docs["u8.txt"] == docs["u8bom.txt"] == docs["gb.txt"] == "上街区召开会议。"
    assert "mixed.txt" not in docs


def test_a_20_mb_single_line_is_handled():
    text = ("上街区召开会议，部署工作 abc 123。" * 1_000_000)[:20_000_000]
    check_chunks(text)


def test_empty_and_control_only_documents():
    for text in ("", "\x00\x01\x02", "\n\n\n", "😀😀", "１２３４５", "\ufeff"):
        check_chunks(text)
