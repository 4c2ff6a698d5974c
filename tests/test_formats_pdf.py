"""PDFs in: the seeds printed to PDF (one and two columns, running header, footer and page numbers,
words broken across lines and pages, a scanned page) read back into the same articles and passages,
with citations whose page and boxes land on the cited characters."""

from __future__ import annotations

import difflib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

pdfium = pytest.importorskip("pypdfium2")
pytest.importorskip("fpdf")

import format_fixtures as ff  # noqa: E402

from qa_service.core.models import ChunkSettings  # noqa: E402
from qa_service.core.settings import Settings  # noqa: E402
from qa_service.index.embedded.store import EmbeddedIndex  # noqa: E402
from qa_service.ingest.formats import FormatError  # noqa: E402
from qa_service.ingest.formats.layout import Char, drop_furniture, group_lines, order_lines  # noqa: E402
from qa_service.ingest.formats.ocr import tesseract  # noqa: E402
from qa_service.ingest.formats.pdf import read_pdf  # noqa: E402
from qa_service.ingest.loaders import load_file, load_paths  # noqa: E402
from qa_service.ingest.pipeline import build_corpus, process_document  # noqa: E402
from qa_service.ops.build import build_from  # noqa: E402
from qa_service.qa.service import QAService  # noqa: E402
from qa_service.web.app import create_app  # noqa: E402

EVAL_SET = Path(__file__).resolve().parent.parent / "eval" / "seed_questions.jsonl"
LAYOUTS = {
    "one column": {},
    "two columns": {"columns": 2, "size": 8, "leading": 3},
}


@pytest.fixture(scope="module")
def pdf_corpus(tmp_path_factory) -> Path:
    """The seeds with the PDF-born ones as PDFs (running header, footer, page numbers) and a scan."""
    folder = tmp_path_factory.mktemp("pdf-corpus")
    for stem in ff.PDF_SEEDS:
        (folder / f"{stem}.pdf").write_bytes(ff.make_pdf(ff.seed_lines(stem)))
    for p in ff.SEEDS.glob("*.txt"):
        if p.stem not in ff.PDF_SEEDS:
            (folder / p.name).write_bytes(p.read_bytes())
    return folder


@pytest.fixture(scope="module")
def pdf_app(pdf_corpus: Path, tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("pdf-index")
    settings = Settings(index_dir=str(index_dir), corpus=[str(pdf_corpus)], upload_dir=str(index_dir / "up"))
    build_from(settings).close()
    return create_app(settings)


@pytest.fixture(scope="module")
def pdf_client(pdf_app):
    return pdf_app.test_client()


def _articles(doc) -> tuple[list[tuple], list[str]]:
    arts, chunks = process_document(doc, ChunkSettings())
    meta = [(a.title, a.published, a.publisher, a.attribution, a.section) for a in arts]
    return meta, [c.text for c in chunks]


# -- layout, without a PDF ----------------------------------------------------------------------------


def _row(text: str, x: float, y: float, w: float = 10.0) -> list[Char]:
    return [Char(ch, x + i * w, y, x + (i + 1) * w, y + 12) for i, ch in enumerate(text)]


def test_two_columns_are_read_left_then_right_under_a_spanning_headline():
    chars = _row("横跨两栏的大标题横跨两栏的大标题横跨两栏的大标题横跨两栏的大标题", 50, 40)
    for k in range(4):
        chars += _row(f"左栏第{k}行文字左栏文字", 50, 80 + 20 * k)
        chars += _row(f"右栏第{k}行文字右栏文字", 320, 80 + 20 * k)
    lines = order_lines(group_lines(chars, 0), 595)
    texts = [ln.text for ln in lines]
    assert texts[0].startswith("横跨两栏")
    assert texts[1:5] == [f"左栏第{k}行文字左栏文字" for k in range(4)]
    assert texts[5:] == [f"右栏第{k}行文字右栏文字" for k in range(4)]


def test_running_headers_footers_and_page_numbers_go_but_body_lines_stay():
    pages, sizes = [], [(595.0, 842.0)] * 3
    for n in range(3):
        chars = _row("某某区工作简报", 60, 30) + _row(f"第{n + 7}期", 400, 30)
        chars += _row("正文第一行，各页相同的正文也要留下。", 60, 120)  # repeated, but not in a margin
        chars += _row(f"正文第{n}页的内容。", 60, 140)
        chars += _row(f"- {n + 1} -", 290, 800)
        pages.append(order_lines(group_lines(chars, n), 595))
    assert drop_furniture(pages, sizes) == 9
    assert [[ln.text for ln in p] for p in pages] == [
        ["正文第一行，各页相同的正文也要留下。", f"正文第{n}页的内容。"] for n in range(3)
    ]


# -- reading the seeds back -------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("stem", ff.PDF_SEEDS)
def test_pdf_of_a_seed_reads_back_as_its_lines_in_order_without_furniture(stem, layout):
    lines = ff.seed_lines(stem)
    doc = read_pdf(f"{stem}.pdf", ff.make_pdf(lines, **LAYOUTS[layout]), f"{stem}.pdf")
    assert len(doc.layout.sizes) >= 2  # the running lines repeat: there is something to remove
    assert doc.text.split("\n") == lines
    assert ff.HEADER not in doc.text and "页" not in doc.text
    assert len(doc.layout.page) == len(doc.text) == len(doc.layout.box)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("stem", ff.PDF_SEEDS)
def test_pdf_gives_the_same_articles_titles_dates_publishers_and_passages_as_the_txt(stem, layout):
    txt = load_file(ff.SEEDS / f"{stem}.txt")[0]
    doc = read_pdf(f"{stem}.pdf", ff.make_pdf(ff.seed_lines(stem), **LAYOUTS[layout]), f"{stem}.pdf")
    assert _articles(doc) == _articles(txt)


def test_no_header_footer_or_page_number_in_any_passage(pdf_corpus: Path):
    corpus = build_corpus([pdf_corpus])
    assert {d.format for d in corpus.documents} == {"pdf", "txt"}
    for c in corpus.chunks:
        assert ff.HEADER not in c.text and not re.search(r"第\s*\d+\s*页", c.text), c.text


def _questions() -> list[dict]:
    qs = [json.loads(line) for line in EVAL_SET.read_text("utf-8").splitlines() if line.strip()]
    return [q for q in qs if (q.get("gold_doc") or "").split(".")[0] in ff.PDF_SEEDS]


def _answered(service: QAService, question: str) -> tuple:
    body = service.ask(question, [], 5, False)
    passages = [(re.sub(r"\.(pdf|txt)#", "#", p["id"]), p["text"], p["source"]["title"]) for p in body["passages"]]
    return body["answer"]["text"], passages


def test_seed_questions_get_the_same_passages_and_answers_from_the_pdfs(pdf_corpus: Path):
    from_pdf = QAService(EmbeddedIndex.build(build_corpus([pdf_corpus])))
    from_txt = QAService(EmbeddedIndex.build(build_corpus([ff.SEEDS])))
    questions = _questions()
    assert len(questions) >= 20
    for q in questions:
        assert _answered(from_pdf, q["question"]) == _answered(from_txt, q["question"]), q["question"]


# -- citations on the page ----------------------------------------------------------------------------


def _renderer_chars(pdf_bytes: bytes, page_no: int) -> list[tuple[str, float, float]]:
    """pypdfium2's own characters of a page: (char, centre x, centre y from the top)."""
    doc = pdfium.PdfDocument(pdf_bytes)
    page = doc[page_no - 1]
    height = page.get_size()[1]
    tp = page.get_textpage()
    out = []
    for i in range(tp.count_chars()):
        ch = tp.get_text_range(i, 1)
        if not ch.strip():
            continue
        left, bottom, right, top = tp.get_charbox(i)
        out.append((ch, (left + right) / 2, height - (top + bottom) / 2))
    doc.close()
    return out


def _inside(box: list[float], x: float, y: float) -> bool:
    return box[1] <= x <= box[3] and box[2] <= y <= box[4]


def test_each_citation_page_and_boxes_cover_exactly_the_cited_characters(pdf_client, pdf_corpus: Path):
    checked = 0
    for q in _questions()[:12]:
        body = pdf_client.post("/api/ask", json={"question": q["question"], "top_k": 3}).get_json()
        for p in body["passages"]:
            src = p["source"]
            if not src["document"].endswith(".pdf"):
                continue
            text = pdf_client.get(f"/api/documents/{src['document']}").get_json()["text"]
            cited = re.sub(r"\s", "", text[src["char_start"] : src["char_end"]])
            assert cited == re.sub(r"\s", "", p["text"])
            pages = sorted({b[0] for b in src["boxes"]})
            assert pages[0] == src["page"] and pages[-1] == src.get("page_end", src["page"])
            data = (pdf_corpus / src["document"]).read_bytes()
            covered = ""
            for page in pages:  # the renderer's characters inside the boxes, box by box, left to right
                chars = _renderer_chars(data, page)
                for box in (b for b in src["boxes"] if b[0] == page):
                    covered += "".join(ch for ch, x, y in sorted(chars, key=lambda c: c[1]) if _inside(box, x, y))
            assert covered == cited
            checked += 1
    assert checked >= 10


def test_document_says_format_and_pages_and_a_page_renders_as_png(pdf_client):
    doc_id = f"{ff.PDF_SEEDS[1]}.pdf"
    doc = pdf_client.get(f"/api/documents/{doc_id}").get_json()
    assert doc["format"] == "pdf" and doc["pages"] >= 2 and len(doc["page_sizes"]) == doc["pages"]
    assert doc["scanned_pages"] == []
    resp = pdf_client.get(f"/api/documents/{doc_id}/pages/1.png?size=600")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    from PIL import Image

    image = Image.open(io.BytesIO(resp.data))
    assert max(image.size) == 600
    assert np.asarray(image.convert("L")).min() < 100  # ink: the text is drawn
    again = pdf_client.get(
        f"/api/documents/{doc_id}/pages/1.png?size=600", headers={"If-None-Match": resp.headers["ETag"]}
    )
    assert again.status_code == 304
    big = pdf_client.get(f"/api/documents/{doc_id}/pages/1.png?size=99999")
    assert max(Image.open(io.BytesIO(big.data)).size) == 2000  # bounded


@pytest.mark.parametrize(
    "path",
    [
        f"/api/documents/{ff.PDF_SEEDS[1]}.pdf/pages/0.png",
        f"/api/documents/{ff.PDF_SEEDS[1]}.pdf/pages/99.png",
        f"/api/documents/{ff.PDF_SEEDS[1]}.pdf/pages/-1.png",
        "/api/documents/002_0ff75a2f1f87531d.txt/pages/1.png",
        "/api/documents/nope.pdf/pages/1.png",
    ],
)
def test_bad_pages_are_json_404(pdf_client, path):
    resp = pdf_client.get(path)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


def test_boxes_route_gives_the_lines_of_a_range(pdf_client):
    doc_id = f"{ff.PDF_SEEDS[1]}.pdf"
    text = pdf_client.get(f"/api/documents/{doc_id}").get_json()["text"]
    start = text.index("房玉雯")
    body = pdf_client.get(f"/api/documents/{doc_id}/boxes?start={start}&end={start + 3}").get_json()
    assert body["page"] == 1 and len(body["boxes"]) == 1
    assert pdf_client.get(f"/api/documents/{doc_id}/boxes?start=5&end=1").status_code == 400
    assert pdf_client.get(f"/api/documents/{doc_id}/boxes?start=x&end=1").status_code == 400


# -- scans, damage, encryption ---------------------------------------------------------------------------


def test_a_scanned_page_is_reported_in_the_log_and_the_document_record(tmp_path, caplog):
    lines = ff.seed_lines(ff.PDF_SEEDS[0])
    data = ff.image_only_pdf(ff.make_pdf(lines), lines[:30])
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "scan.pdf").write_bytes(data)
    settings = Settings(index_dir=str(tmp_path / "i"), corpus=[str(tmp_path / "c")], upload_dir=str(tmp_path / "u"))
    with caplog.at_level("WARNING"):
        index = build_from(settings)
    assert "page 3 has no text layer" in caplog.text
    record = index.document("scan.pdf")
    assert record["pages"] == 3 and record["scanned_pages"] == [3]
    assert record["ocr_pages"] == ([3] if tesseract() else [])


@pytest.mark.skipif(tesseract() is None, reason="tesseract with chi_sim is not installed (scripts/install-ocr)")
def test_a_scanned_page_is_read_by_ocr_with_boxes_on_the_page():
    lines = ff.seed_lines(ff.PDF_SEEDS[1])[:25]
    doc = read_pdf("scan.pdf", ff.image_only_pdf(ff.make_pdf(ff.seed_lines(ff.PDF_SEEDS[0])), lines), "scan.pdf")
    assert doc.layout.scanned == [3] and doc.layout.ocr == [3]
    on_scan = np.flatnonzero(doc.layout.page == 2)
    read = "".join(doc.text[i] for i in on_scan if not doc.text[i].isspace())
    printed = "".join(lines).replace(" ", "")
    assert difflib.SequenceMatcher(None, read, printed, autojunk=False).ratio() > 0.9
    # Each OCR'd character's box lies where fpdf2 printed the lines (x from 60 pt, one line every 16 pt).
    boxes = doc.layout.box[on_scan]
    assert boxes[:, 0].min() > 50 and boxes[:, 1].min() > ff.TOP - 20 and boxes[:, 3].max() < ff.TOP + 16 * 25


def test_damaged_and_encrypted_pdfs_are_refused_clearly_and_skipped_in_folders(tmp_path, caplog):
    from fpdf import FPDF

    good = ff.make_pdf(ff.seed_lines(ff.PDF_SEEDS[0]))
    locked = FPDF()
    locked.set_encryption(owner_password="owner", user_password="secret")
    locked.add_page()
    with pytest.raises(FormatError) as err:
        read_pdf("x.pdf", bytes(locked.output()), "x.pdf")
    assert err.value.code == "encrypted"
    for bad in (b"not a pdf at all", good[: len(good) // 3], b"%PDF-1.7\n" + bytes(range(256)) * 40):
        with pytest.raises(FormatError):
            read_pdf("x.pdf", bad, "x.pdf")
    (tmp_path / "bad.pdf").write_bytes(good[:500])
    (tmp_path / "good.pdf").write_bytes(good)
    with caplog.at_level("WARNING"):
        docs = list(load_paths([tmp_path]))
    assert [d.id for d in docs] == ["good.pdf"] and "bad.pdf" in caplog.text


def test_milvus_backend_cites_pdf_pages_too(pdf_corpus: Path, tmp_path):
    pytest.importorskip("pymilvus")
    from qa_service.index.milvus.backend import MilvusIndex

    settings = Settings(
        index_dir=str(tmp_path / "index"),
        corpus=[str(pdf_corpus)],
        upload_dir=str(tmp_path / "uploads"),
        backend="milvus",
        milvus_uri=str(tmp_path / "milvus.db"),
        milvus_collection="qa_pdf",
        build_if_missing=False,
    )
    index = MilvusIndex.create(build_corpus([pdf_corpus]), settings, recreate=True)
    try:
        body = QAService(index).ask("谁陪同宋洁督导爱国卫生工作？", [], 1, False)
        src = body["passages"][0]["source"]
        assert src["document"] == f"{ff.PDF_SEEDS[1]}.pdf" and src["page"] == 1 and src["boxes"]
        assert index.original_file(src["document"]).is_file()
    finally:
        index.store.drop()
        index.close()
