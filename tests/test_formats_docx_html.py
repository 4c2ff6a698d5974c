"""Word files and saved web pages in: the seeds as .docx (headings, a table, core properties) and as
a news page with navigation, share widget, 来源/date line and footer."""

from __future__ import annotations

import datetime
import io
import zipfile

import pytest

pytest.importorskip("docx")

import format_fixtures as ff

from qa_service.core.models import ChunkSettings
from qa_service.ingest.formats import FormatError
from qa_service.ingest.formats.docx import read_docx
from qa_service.ingest.formats.html import is_navigation, read_html
from qa_service.ingest.loaders import load_file, load_paths
from qa_service.ingest.pipeline import process_document

SEED_STEMS = sorted(p.stem for p in ff.SEEDS.glob("*.txt"))


def _articles(doc) -> tuple[list[tuple], list[str]]:
    arts, chunks = process_document(doc, ChunkSettings())
    return [(a.title, a.published, a.publisher, a.attribution, a.section) for a in arts], [c.text for c in chunks]


@pytest.mark.parametrize("stem", SEED_STEMS)
def test_docx_of_a_seed_gives_the_same_articles_and_passages_as_the_txt(stem):
    expected = _articles(load_file(ff.SEEDS / f"{stem}.txt")[0])
    headings = {title for title, *_ in expected[0]}
    doc = read_docx(f"{stem}.docx", ff.make_docx(ff.seed_lines(stem), headings), f"{stem}.docx")
    assert doc.format == "docx" and doc.title is None and doc.published is None
    assert _articles(doc) == expected


def test_docx_core_properties_and_tables():
    stem = "002_0ff75a2f1f87531d"
    table = [["街道", "回收点", "完成率"], ["新安路街道", "87个", "95%"], ["工业路街道", "64个", "90%"]]
    data = ff.make_docx(
        ff.seed_lines(stem), set(), title="管城区工作动态", created=datetime.datetime(2021, 5, 6, 9, 0), table=table
    )
    doc = read_docx("x.docx", data, "x.docx")
    assert doc.title == "管城区工作动态" and doc.published == "2021-05-06"
    assert doc.text.splitlines()[-3:] == [" | ".join(row) for row in table]
    assert all(a[1] == "2021-05-06" for a in _articles(doc)[0])
    # A date line at the top is the bulletin's own: it wins over the file's creation date.
    dated = read_docx(
        "y.docx", ff.make_docx(ff.seed_lines("000_297aa0e12c4718b1"), set(), created=datetime.datetime(2022, 1, 1)), "y"
    )
    assert dated.published is None and _articles(dated)[0][0][1] == "2021-04-30"


def test_damaged_encrypted_and_bomb_docx_are_refused():
    good = ff.make_docx(["第一段。"], set())
    cases = {
        b"PK\x03\x04 not really a zip": "unreadable_document",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600: "encrypted",
        good[: len(good) // 2]: "unreadable_document",
    }
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"<" + b" " * (300 * 1024 * 1024))
    cases[bomb.getvalue()] = "document_too_large"
    for data, code in cases.items():
        with pytest.raises(FormatError) as err:
            read_docx("x.docx", data, "x.docx")
        assert err.value.code == code


def _news_article():
    txt = load_file(ff.SEEDS / "001_ca14ccf12a6e3ca9.txt")[0]
    return process_document(txt, ChunkSettings())[0][0]


def test_news_page_title_date_source_and_no_page_furniture():
    art = _news_article()
    page = ff.news_page(art.title, art.body.text.split("\n"), "来源：上街区融媒体中心 2021-03-05 10:20")
    doc = read_html("news.html", page, "news.html")
    assert (doc.title, doc.published, doc.publisher) == (art.title, "2021-03-05", "上街区融媒体中心")
    for furniture in ("登录", "注册", "分享到", "上一篇", "版权所有", "ICP备", "首页"):
        assert furniture not in doc.text
    articles, passages = _articles(doc)
    assert articles == [(art.title, "2021-03-05", "上街区融媒体中心", None, None)]
    assert "".join(passages).replace("\n", "").startswith(art.body.text.replace("\n", "")[:200])


def test_news_page_meta_tags_when_there_is_no_source_line():
    page = (
        "<html><head><title>站点首页 | 某某新闻</title><meta property='og:title' content='区委召开专题会议'>"
        "<meta name='pubdate' content='2021-04-02T08:00:00+08:00'><meta property='og:site_name' content='某某新闻'>"
        "</head><body><nav>首页 新闻</nav><h1>页面大标题</h1><p>区委召开专题会议，部署下阶段工作。</p></body></html>"
    )
    doc = read_html("m.html", page, "m.html")
    assert (doc.title, doc.published, doc.publisher) == ("区委召开专题会议", "2021-04-02", "某某新闻")


def test_navigation_rules():
    assert is_navigation(ff.NAV, 0)
    assert is_navigation("要闻 时政 经济", 8)  # all link text, no sentence
    assert not is_navigation("区委书记宋洁实地督导爱国卫生工作，副区长房玉雯陪同。", 0)
    assert not is_navigation("宋洁督导上街区爱国卫生工作", 0)
    assert not is_navigation("记者 柴琳琳 通讯员 姜璞", 0)  # a byline, not a menu
    linked = read_html("l.html", "<h1><a href='/x'>区委召开专题会议</a></h1><p>区委召开专题会议，部署工作。</p>", "l")
    assert linked.text.startswith("区委召开专题会议\n\n")  # a linked headline is still the headline
    html5 = read_html(
        "h.html",
        "<header><nav>首页</nav>网站名称</header><article><header><h1>区委召开专题会议</h1></header>"
        "<p>区委召开专题会议，部署工作。</p></article><footer>版权所有</footer>",
        "h",
    )
    assert html5.text == "区委召开专题会议\n\n区委召开专题会议，部署工作。"  # the article's own <header> stays


def test_folders_read_pdf_docx_and_html_together(tmp_path):
    stem = ff.PDF_SEEDS[0]
    (tmp_path / "a.docx").write_bytes(ff.make_docx(ff.seed_lines(stem), set()))
    (tmp_path / "b.html").write_text(ff.news_page("标题", ["正文第一段。"], "来源：某报 2021-03-05"), "utf-8")
    (tmp_path / "c.pdf").write_bytes(ff.make_pdf(ff.seed_lines(stem)))
    formats = {d.id: d.format for d in load_paths([tmp_path])}
    assert formats == {"a.docx": "docx", "b.html": "html", "c.pdf": "pdf"}
