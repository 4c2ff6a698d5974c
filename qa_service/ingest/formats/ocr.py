"""OCR of scanned PDF pages with Tesseract (``tesseract`` with its ``chi_sim`` data), when installed.

Optional and off unless present: Debian's ``tesseract-ocr`` and ``tesseract-ocr-chi-sim``
(``scripts/install-ocr``).  The page is rendered at 300 dpi and read word by word (Tesseract's TSV
output); a word's box is shared evenly among its characters, so OCR'd characters keep boxes like
the text layer's do and citations of them land on the page too.
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import subprocess

import pypdfium2 as pdfium

from qa_service.core.text import is_cjk
from qa_service.ingest.formats.layout import Char, Line

log = logging.getLogger(__name__)

DPI = 300
MAX_SIDE_PX = 4000  # a huge page is read at a lower resolution, not at any cost
TIMEOUT = 120  # seconds for one page
MIN_CONFIDENCE = 30.0  # Tesseract's word confidence below which a "word" is noise (specks, rules)


@functools.lru_cache(maxsize=1)
def tesseract() -> str | None:
    """The tesseract binary, if it is installed with the Simplified Chinese data; else None."""
    binary = shutil.which("tesseract")
    if binary is None:
        return None
    try:
        langs = subprocess.run([binary, "--list-langs"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return binary if "chi_sim" in (langs.stdout + langs.stderr).decode("utf-8", "replace").split() else None


def _words(tsv: str, scale: float) -> dict[tuple[int, int, int], list[tuple[str, float, float, float, float]]]:
    """Tesseract's words by (block, paragraph, line), boxes in points."""
    lines: dict[tuple[int, int, int], list[tuple[str, float, float, float, float]]] = {}
    for row in tsv.splitlines()[1:]:
        f = row.split("\t")
        if len(f) < 12 or f[0] != "5" or not f[11].strip() or float(f[10]) < MIN_CONFIDENCE:
            continue
        left, top, width, height = (int(v) / scale for v in f[6:10])
        key = (int(f[2]), int(f[3]), int(f[4]))
        lines.setdefault(key, []).append((f[11].strip(), left, top, left + width, top + height))
    return lines


def _line(words: list[tuple[str, float, float, float, float]], page: int) -> Line:
    line = Line(page)
    for text, left, top, right, bottom in words:
        prev = line.chars[-1] if line.chars else None
        if prev is not None and not (is_cjk(prev.ch) or is_cjk(text[0])):
            line.chars.append(Char(" ", prev.right, top, left, bottom))  # Latin words keep their space
        step = (right - left) / len(text)
        line.chars += [Char(ch, left + i * step, top, left + (i + 1) * step, bottom) for i, ch in enumerate(text)]
    return line


def ocr_page(page: pdfium.PdfPage, pno: int) -> list[Line]:
    """The printed lines Tesseract reads on the page (empty if it cannot)."""
    binary = tesseract()
    if binary is None:
        return []
    width, height = page.get_size()
    scale = min(DPI / 72, MAX_SIDE_PX / max(width, height, 1.0))
    buf = io.BytesIO()
    page.render(scale=scale).to_pil().save(buf, format="PNG")
    try:
        # One thread: the service's cores are for answering questions.
        done = subprocess.run(
            [binary, "stdin", "stdout", "-l", "chi_sim", "--psm", "3", "tsv"],
            input=buf.getvalue(),
            capture_output=True,
            timeout=TIMEOUT,
            env={"OMP_THREAD_LIMIT": "1"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("OCR of page %d failed: %s", pno + 1, exc)
        return []
    if done.returncode != 0:
        log.warning("OCR of page %d failed: %s", pno + 1, done.stderr.decode("utf-8", "replace")[:200])
        return []
    words = _words(done.stdout.decode("utf-8", "replace"), scale)
    return [_line(words[key], pno) for key in sorted(words)]
