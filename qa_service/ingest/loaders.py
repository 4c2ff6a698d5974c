"""Load stage: files on disk -> Document objects with their decoded original text.

Supports .txt, .md and .jsonl (one article per line) here, and .html/.htm, .pdf and .docx through
the loaders of ``formats/``.  Undecodable or malformed sources are skipped with a warning, never
fatal: one bad file in a folder of thousands must not stop indexing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from qa_service.core.models import Document
from qa_service.ingest.formats import FormatError
from qa_service.ingest.formats.docx import read_docx
from qa_service.ingest.formats.html import read_html
from qa_service.ingest.formats.pdf import read_pdf

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
# Formats read from their bytes by a loader of ingest/formats/ (not decoded as text).
BINARY_SUFFIXES = {".pdf", ".docx"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES | BINARY_SUFFIXES

# Largest file we read: a single document beyond 64 MiB is almost certainly not news text;
# a JSONL file holds many articles (100,000 of them are about 100 MiB).
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_JSONL_BYTES = 2 * 1024 * 1024 * 1024


class DecodeError(ValueError):
    """The bytes are neither UTF-8 nor GB18030."""


def decode_bytes(data: bytes) -> str:
    """Decode UTF-8 (BOM or not), else GB18030 (a superset of GBK/GB2312).

    Both decoders run in strict mode: a file that is neither is rejected rather
    than silently garbled, since garbled text would produce garbage citations.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data:  # no text encoding we read has NUL bytes: binary data, or UTF-16/32
        raise DecodeError("binary data: it holds NUL bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not UTF-8 or GB18030 (bad byte at {exc.start})") from exc


def iter_source_files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, Path]]:
    """Yield (file, root) for every supported file under ``paths``, sorted."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES and not _hidden(f, path):
                    yield f, path
        elif path.is_file():
            yield path, path.parent
        else:
            log.warning("skipping %s: no such file or directory", path)


def _hidden(f: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in f.relative_to(root).parts)


def load_file(path: Path, root: Path | None = None) -> list[Document]:
    """Read one file into one Document (or one per JSONL record)."""
    root = root or path.parent
    doc_id = path.relative_to(root).as_posix()
    size = path.stat().st_size
    suffix = path.suffix.lower()
    limit = MAX_JSONL_BYTES if suffix in JSONL_SUFFIXES else MAX_FILE_BYTES
    if size > limit:
        raise DecodeError(f"file too large ({size} bytes > {limit})")
    if suffix in BINARY_SUFFIXES:
        return [binary_document(doc_id, path.read_bytes(), path)]
    text = decode_bytes(path.read_bytes())
    if suffix in JSONL_SUFFIXES:
        return list(parse_jsonl(text, str(path)))
    return [text_document(doc_id, text, path)]


def text_document(doc_id: str, text: str, path: Path) -> Document:
    """The document of one .txt, .md or .html file's decoded text (an upload is checked with this too)."""
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        return read_html(doc_id, text, str(path))
    fmt = "md" if suffix in {".md", ".markdown"} else "txt"
    return Document(id=doc_id, text=text, path=str(path), format=fmt)


def binary_document(doc_id: str, data: bytes, path: Path) -> Document:
    """The document of a .pdf or .docx file's bytes (an upload is checked with this too)."""
    if path.suffix.lower() == ".pdf":
        return read_pdf(doc_id, data, str(path))
    return read_docx(doc_id, data, str(path))


def load_paths(paths: Iterable[str | Path]) -> Iterator[Document]:
    """Load every supported file; bad files are logged and skipped."""
    seen: set[str] = set()
    for f, root in iter_source_files(paths):
        try:
            docs = load_file(f, root)
        except (OSError, DecodeError, FormatError) as exc:
            log.warning("skipping %s: %s", f, exc)
            continue
        for doc in docs:
            if doc.id in seen:
                log.warning("skipping duplicate document id %r from %s", doc.id, f)
                continue
            seen.add(doc.id)
            yield doc


def parse_jsonl(text: str, path: str) -> Iterator[Document]:
    """One article per line: ``id``, ``title``, ``text``; optional ``published``, ``publisher``, ``url``."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            log.warning("%s:%d: skipping line, invalid JSON (%s)", path, lineno, exc.msg)
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or rec.get("id") in (None, ""):
            log.warning("%s:%d: skipping record without string 'id' and 'text'", path, lineno)
            continue

        def opt(key: str, rec: dict = rec) -> str | None:
            v = rec.get(key)
            return (str(v).strip() or None) if v is not None else None

        yield Document(
            id=str(rec["id"]),
            text=rec["text"],
            path=path,
            format="jsonl",
            title=opt("title"),
            published=normalise_date(opt("published")),
            publisher=opt("publisher"),
            url=opt("url"),
        )


_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")


def normalise_date(value: str | None) -> str | None:
    """'2021年4月30日', '2021-4-30 13:10' -> '2021-04-30'; anything else -> None."""
    if not value:
        return None
    m = _DATE.search(value)
    if not m:
        return None
    y, mo, d = (int(g) for g in m.groups())
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return None
    return f"{y:04d}-{mo:02d}-{d:02d}"


def html_to_text(source: str) -> tuple[str | None, str]:
    """The title and main text of an HTML page (``formats/html.py``), block elements as paragraphs.

    The extracted text *is* the document for an HTML source: offsets returned
    by the API index it (and ``GET /api/documents/<id>`` serves it), because
    markup and entities have no faithful character-for-character citation.
    """
    doc = read_html("", source, "")
    return doc.title, doc.text
