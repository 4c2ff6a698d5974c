"""Fixtures for the format tests, made from the seeds at test time (no binary files in the repository):
PDFs in one or two columns with running headers, footers and page numbers, a page that is only an
image (a scan), a .docx, and a saved news page."""

from __future__ import annotations

import glob
import io
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
# The seeds that are text pulled out of PDFs (wrapped lines, words broken across them); the other
# two are a paragraph-per-line bulletin and a saved web page.
PDF_SEEDS = ["000_297aa0e12c4718b1", "001_ca14ccf12a6e3ca9", "003_b99e143dc6111c5b"]
HEADER = "上街区政法工作简报"
PAGE_W, PAGE_H = 595.28, 841.89
TOP, BOTTOM, MARGIN = 80.0, 770.0, 60.0


def cjk_font() -> str:
    """A CJK font file of this machine (Debian's fonts-noto-cjk, installed by scripts/install-browser)."""
    for pattern in ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/**/*CJK*.tt[cf]"):
        found = sorted(glob.glob(pattern, recursive=True))
        if found:
            return found[0]
    pytest.skip("no CJK font installed (fonts-noto-cjk)")
    raise AssertionError  # unreachable: skip raises


def seed_lines(stem: str, wrap: int = 0) -> list[str]:
    """The seed's non-empty lines as printed lines; ``wrap``: longer ones cut every ``wrap`` characters."""
    text = (SEEDS / f"{stem}.txt").read_text("utf-8")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not wrap:
        return lines
    return [ln[i : i + wrap] for ln in lines for i in range(0, len(ln), wrap)]


def _new_pdf():
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_font("cjk", fname=cjk_font())
    return pdf


def _furniture(pdf, page_no: int, header: bool) -> None:
    if not header:
        return
    pdf.set_font("cjk", size=9)
    pdf.text(MARGIN, 45, f"{HEADER}  2021年第{12}期")
    pdf.text(PAGE_W / 2 - 20, 805, f"第 {page_no} 页")


def make_pdf(
    lines: list[str], columns: int = 1, header: bool = True, size: float = 10.0, leading: float = 1.6
) -> bytes:
    """The lines printed top to bottom (in two columns: left column, then right, page by page)."""
    pdf = _new_pdf()
    step = size * leading
    per_column = int((BOTTOM - TOP) // step)
    col_w = (PAGE_W - 2 * MARGIN - 30) / 2 if columns == 2 else PAGE_W - 2 * MARGIN
    per_page = per_column * columns
    for start in range(0, len(lines), per_page):
        pdf.add_page()
        _furniture(pdf, pdf.page_no(), header)
        pdf.set_font("cjk", size=size)
        for k, line in enumerate(lines[start : start + per_page]):
            col, row = divmod(k, per_column)
            pdf.text(MARGIN + col * (col_w + 30), TOP + row * step, line)
    return bytes(pdf.output())


def image_only_pdf(data: bytes, lines: list[str]) -> bytes:
    """A PDF made of ``data``'s pages followed by a page holding only a picture of ``lines``."""
    import pypdfium2 as pdfium

    picture = pdfium.PdfDocument(make_pdf(lines, header=False))
    image = picture[0].render(scale=2).to_pil()
    picture.close()
    scan = _new_pdf()
    scan.add_page()
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    buf.seek(0)
    scan.image(buf, x=0, y=0, w=PAGE_W, h=PAGE_H)
    target = pdfium.PdfDocument(data)
    target.import_pages(pdfium.PdfDocument(bytes(scan.output())))
    out = io.BytesIO()
    target.save(out)
    return out.getvalue()


def make_docx(lines: list[str], headings: set[str], title: str | None = None, created=None, table=None) -> bytes:
    """The lines as Word paragraphs (those in ``headings`` as Heading 1), then ``table`` (rows of cells)."""
    import docx

    word = docx.Document()
    for line in lines:
        if line in headings:
            word.add_heading(line, level=1)
        else:
            word.add_paragraph(line)
    if table:
        t = word.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                t.cell(r, c).text = cell
    if title is not None:
        word.core_properties.title = title
    if created is not None:
        word.core_properties.created = created
    buf = io.BytesIO()
    word.save(buf)
    return buf.getvalue()


NAV = "首页 | 新闻 | 政务 | 民生 | 登录 | 注册"


def news_page(title: str, paragraphs: list[str], source_line: str) -> str:
    """A saved news page: navigation bar, share widget, headline, 来源/date line, body, footer."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}_上街区新闻网</title>"
        "<meta property='og:site_name' content='上街区新闻网'></head><body>"
        f"<div class='top-bar'>{NAV}</div>"
        "<div class='crumb'><a href='/'>首页</a> &gt; <a href='/news'>新闻</a></div>"
        f"<div class='main'><h1>{title}</h1><div class='info'>{source_line}</div>"
        "<div class='share-box'>分享到： 微信 微博 QQ空间</div>"
        f"<div class='content'>{body}</div></div>"
        "<ul class='links'><li><a href='/a'>上一篇：某某新闻标题一</a></li>"
        "<li><a href='/b'>下一篇：另一条新闻标题</a></li></ul>"
        "<div id='footer'>版权所有 上街区新闻网 豫ICP备12345678号 联系我们</div></body></html>"
    )
