"""PDF loader (pypdfium2): the text of every page in reading order, each character with its page and box.

The text is laid out the way the seeds (text pulled out of PDFs) are: one printed line per line of
text, so the cleaning stage repairs words broken across lines and pages exactly as it does for them.
What this module adds is the layout: lines found from the characters' boxes, one or two columns put
in reading order (``layout.py``), running headers, footers and page numbers dropped, and for every
character of the text the page and box it came from (``PageLayout``), which citations carry back to
the page.  Pages with no text layer (scans) are reported, never silently dropped, and read by OCR
when Tesseract is installed (``ocr.py``).
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import logging
import re
import threading
import zlib

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from qa_service.core.models import Document, PageLayout
from qa_service.ingest.formats import FormatError
from qa_service.ingest.formats.layout import Char, Line, drop_furniture, group_lines, order_lines
from qa_service.ingest.formats.ocr import ocr_page

log = logging.getLogger(__name__)

# Bounds that keep a hostile or absurd file from costing unbounded time: a bulletin is a few dozen
# pages; a page of dense CJK text holds about 3,000 characters.
MAX_PAGES = 2000
MAX_CHARS_PER_PAGE = 50_000
MAX_CHARS = 5_000_000

_CONTROL = {0, 0xFFFE, 0xFFFF}
# PDFium is not thread-safe (pypdfium2's documentation): a process's threads (gunicorn's gthread
# workers: a page render beside an upload's indexing) take turns.
PDFIUM_LOCK = threading.RLock()


def open_pdf(data: bytes) -> pdfium.PdfDocument:
    """The document, or a FormatError that says why not (encrypted, not a PDF, damaged)."""
    if b"%PDF-" not in data[:1024]:
        raise FormatError("The file is not a PDF (no %PDF header).", "unreadable_document")
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if exc.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise FormatError("The PDF is encrypted (password protected); it cannot be read.", "encrypted") from exc
        raise FormatError(f"The PDF cannot be read: it is damaged ({exc}).", "unreadable_document") from exc


# The most the compressed streams of one PDF may unpack to: far above any bulletin's text and
# pictures, far below what would exhaust memory (a "decompression bomb" packs gigabytes in kilobytes).
MAX_UNPACKED = 512 * 1024 * 1024
_STREAM = re.compile(rb"/FlateDecode[^>]*>>\s*stream\r?\n")


def check_unpacked_size(data: bytes, limit: int = MAX_UNPACKED) -> None:
    """Refuse a PDF whose Flate streams unpack to more than ``limit`` bytes, before PDFium unpacks
    them: each stream is inflated here in bounded steps and only counted."""
    total = 0
    for m in _STREAM.finditer(data):
        inflate = zlib.decompressobj()
        chunk = data[m.end() : m.end() + (64 << 20)]
        try:
            out = inflate.decompress(chunk, 1 << 20)
            total += len(out)
            # Until the stream ends; a step that yields nothing (input that is not this stream's) ends too.
            while out and not inflate.eof and inflate.unconsumed_tail and total <= limit:
                out = inflate.decompress(inflate.unconsumed_tail, 1 << 20)
                total += len(out)
        except zlib.error:
            continue  # damaged or not Flate after all: PDFium decides
        if total > limit:
            raise FormatError(f"The PDF unpacks to more than {limit} bytes.", "document_too_large")


def _page_chars(page: pdfium.PdfPage, height: float) -> list[Char]:
    """Every character pdfium finds on the page, in content order, with its loose box (the line's
    height: highlights of one line line up) turned to top-left coordinates."""
    textpage = page.get_textpage()
    try:
        raw = textpage.raw
        n = pdfium_c.FPDFText_CountChars(raw)
        if n > MAX_CHARS_PER_PAGE:
            raise FormatError(f"A page holds {n} characters, more than {MAX_CHARS_PER_PAGE}.", "document_too_large")
        rect = pdfium_c.FS_RECTF()
        chars = []
        for i in range(n):
            code = pdfium_c.FPDFText_GetUnicode(raw, i)
            # Line breaks are pdfium's guess (we make our own); surrogates and controls are not text.
            if code in _CONTROL or code < 32 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                continue
            if not pdfium_c.FPDFText_GetLooseCharBox(raw, i, ctypes.byref(rect)):
                continue
            chars.append(Char(chr(code), rect.left, height - rect.top, rect.right, height - rect.bottom))
        return chars
    finally:
        textpage.close()


def _has_images(page: pdfium.PdfPage) -> bool:
    return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2))


def _read_page(page: pdfium.PdfPage, pno: int) -> tuple[list[Line], tuple[float, float], str]:
    """A page's lines in reading order, its size, and how it was read: "text", "scan" (no text layer,
    no OCR) or "ocr"."""
    width, height = page.get_size()
    lines = group_lines(_page_chars(page, height), pno)
    how = "text"
    if not lines and _has_images(page):
        lines = ocr_page(page, pno)
        how = "ocr" if lines else "scan"
    return order_lines(lines, width), (float(width), float(height)), how


def _read_pages(pdf: pdfium.PdfDocument) -> tuple[list[list[Line]], list[tuple[float, float]], dict[str, list[int]]]:
    """Lines per page (reading order), page sizes, and the 1-based pages that are images only
    (``scanned``), those of them read by OCR (``ocr``)."""
    n = len(pdf)
    if n > MAX_PAGES:
        raise FormatError(f"The PDF has {n} pages, more than {MAX_PAGES}.", "document_too_large")
    pages, sizes, kinds, total = [], [], {"scanned": [], "ocr": []}, 0
    for pno in range(n):
        page = pdf[pno]
        try:
            lines, size, how = _read_page(page, pno)
        finally:
            page.close()
        total += sum(len(ln.chars) for ln in lines)
        if total > MAX_CHARS:
            raise FormatError(f"The PDF holds more than {MAX_CHARS} characters.", "document_too_large")
        if how != "text":
            kinds["scanned"].append(pno + 1)
        if how == "ocr":
            kinds["ocr"].append(pno + 1)
        pages.append(lines)
        sizes.append(size)
    return pages, sizes, kinds


def _assemble(pages: list[list[Line]]) -> tuple[str, np.ndarray, np.ndarray]:
    """The text, one printed line per line, and each character's page (-1: a line break we added)
    and box."""
    chars: list[str] = []
    page_of: list[int] = []
    boxes: list[tuple[float, float, float, float]] = []
    for lines in pages:
        for line in lines:
            kept = line.stripped()
            if not kept:
                continue
            if chars:
                chars.append("\n")
                page_of.append(-1)
                boxes.append((0.0, 0.0, 0.0, 0.0))
            for c in kept:
                chars.append(c.ch)
                page_of.append(line.page)
                boxes.append((c.left, c.top, c.right, c.bottom))
    page_arr = np.array(page_of, dtype=np.int16)
    box_arr = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return "".join(chars), page_arr, box_arr


def read_pdf(doc_id: str, data: bytes, path: str) -> Document:
    """The document of a PDF file's bytes: its text in reading order and where every character sits."""
    check_unpacked_size(data)
    with PDFIUM_LOCK:
        pdf = open_pdf(data)
        try:
            pages, sizes, kinds = _read_pages(pdf)
        except pdfium.PdfiumError as exc:
            raise FormatError(f"The PDF cannot be read: it is damaged ({exc}).", "unreadable_document") from exc
        finally:
            pdf.close()
    dropped = drop_furniture(pages, sizes)
    text, page_arr, box_arr = _assemble(pages)
    if dropped:
        log.info("%s: dropped %d running header/footer/page-number lines", doc_id, dropped)
    for p in kinds["scanned"]:
        if p in kinds["ocr"]:
            log.warning("%s: page %d has no text layer (a scanned image); its text was read by OCR", doc_id, p)
        else:
            log.warning(
                "%s: page %d has no text layer (a scanned image); its text is not indexed (OCR needs tesseract "
                "with chi_sim: scripts/install-ocr)",
                doc_id,
                p,
            )
    sha = hashlib.sha256(data).hexdigest()
    layout = PageLayout(page_arr, box_arr, sizes, kinds["scanned"], sha, kinds["ocr"])
    return Document(id=doc_id, text=text, path=path, format="pdf", layout=layout)


def render_page(data: bytes, page_no: int, max_side: int) -> bytes:
    """PNG of page ``page_no`` (1-based), scaled so its longer side is ``max_side`` pixels."""
    with PDFIUM_LOCK:
        pdf = open_pdf(data)
        try:
            if not 1 <= page_no <= len(pdf):
                raise FormatError(f"The document has no page {page_no}.", "not_found")
            page = pdf[page_no - 1]
            try:
                width, height = page.get_size()
                image = page.render(scale=max_side / max(width, height, 1.0)).to_pil()
            finally:
                page.close()
        finally:
            pdf.close()
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
