import json
import logging

from qa_service.ingest.loaders import decode_bytes, html_to_text, load_paths, normalise_date

TEXT = "上街区召开会议。\n新安路街道开展爱国卫生运动。"


def test_decodes_utf8_with_and_without_bom_and_gb18030():
    assert decode_bytes(TEXT.encode("utf-8")) == TEXT
    assert decode_bytes(b"\xef\xbb\xbf" + TEXT.encode("utf-8")) == TEXT
    assert decode_bytes(TEXT.encode("gb18030")) == TEXT
    assert decode_bytes(TEXT.encode("gbk")) == TEXT


def test_bad_bytes_skip_the_file_with_a_warning(tmp_path, caplog):
    (tmp_path / "good.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "gbk.txt").write_bytes(TEXT.encode("gbk"))
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00\x81\x30\xff\xff")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    with caplog.at_level(logging.WARNING):
        docs = list(load_paths([tmp_path]))
    assert sorted(d.id for d in docs) == ["gbk.txt", "good.txt"]
    assert all(d.text == TEXT for d in docs)
    assert any("bad.txt" in r.getMessage() for r in caplog.records)


def test_jsonl_records_become_documents_and_bad_lines_are_skipped(tmp_path, caplog):
    lines = [
        json.dumps(
            {"id": "a1", "title": "标题一", "text": "正文一。", "published": "2021年4月30日", "publisher": "某报"}
        ),
        "{not json",
        json.dumps({"id": "a2", "text": "正文二。", "url": "http://example.invalid/2"}),
        json.dumps({"title": "no id", "text": "x"}),
        json.dumps(["not", "an", "object"]),
    ]
    (tmp_path / "feed.jsonl").write_text("\n".join(lines), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        docs = list(load_paths([tmp_path]))
    assert [d.id for d in docs] == ["a1", "a2"]
    assert docs[0].title == "标题一" and docs[0].published == "2021-04-30" and docs[0].publisher == "某报"
    assert docs[1].url == "http://example.invalid/2" and docs[1].format == "jsonl"
    assert len([r for r in caplog.records if "skipping" in r.getMessage()]) == 3


def test_html_keeps_visible_text_only():
    title, text = html_to_text(
        "<html><head><title>页面标题</title><style>p{}</style></head><body><nav>首页 登录</nav>"
        "<h1>新闻标题</h1><p>第一段&amp;内容。</p><script>var x=1;</script><p>第二段。</p></body></html>"
    )
    assert title == "新闻标题"  # the article's <h1> before the page's <title> (formats/html.py)
    assert "新闻标题" in text and "第一段&内容。" in text and "第二段。" in text
    assert "var x" not in text and "p{}" not in text and "登录" not in text


def test_duplicate_ids_are_skipped(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "x", "text": "一"}), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "x", "text": "二"}), encoding="utf-8")
    assert [d.text for d in load_paths([tmp_path])] == ["一"]


def test_dates_normalise():
    assert normalise_date("2021 年 4 月 30 日") == "2021-04-30"
    assert normalise_date("2021-03-05 13:10") == "2021-03-05"
    assert normalise_date("2021-13-05") is None
    assert normalise_date("昨天") is None
