"""Word (.docx) loader (python-docx): paragraphs and tables in document order, one per line.

The text is what the segmenter reads from any bulletin: a heading is a line of its own (so it becomes
the title of the article under it, as headlines do), a table row is a line of its cells joined by
`` | ``, and the file's own title and date (core properties) are the document's title and date when
they are set (a date line at the top of the text wins: it is the bulletin's own).  The archive is
checked before python-docx unpacks it: a .docx is a zip, and a zip can be a decompression bomb.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator

from qa_service.core.models import Document
from qa_service.ingest.formats import FormatError

log = logging.getLogger(__name__)

MAX_UNPACKED = 256 * 1024 * 1024  # a Word file's parts, unpacked
MAX_ENTRIES = 10_000
MAX_RATIO = 200  # a part that unpacks to more than this many times its packed size is a bomb


def check_archive(data: bytes) -> None:
    """Refuse a .docx that is not a zip, is encrypted, or unpacks to too much, before opening it."""
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":  # an OLE container: an encrypted .docx (or a .doc)
        raise FormatError(
            "The Word file is encrypted (password protected) or an old .doc; save it as .docx.", "encrypted"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        message = f"The Word file cannot be read: it is not a valid .docx ({exc})."
        raise FormatError(message, "unreadable_document") from exc
    if len(infos) > MAX_ENTRIES or sum(i.file_size for i in infos) > MAX_UNPACKED:
        raise FormatError(f"The Word file unpacks to more than {MAX_UNPACKED} bytes.", "document_too_large")
    if any(i.file_size > 1024 * 1024 and i.file_size > MAX_RATIO * max(i.compress_size, 1) for i in infos):
        raise FormatError("The Word file holds a part packed past any real document's ratio.", "document_too_large")


def _rows(table) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(p.text.strip() for p in cell.paragraphs if p.text.strip())
            if text and (not cells or cells[-1] != text):  # merged cells repeat their text
                cells.append(text)
        if cells:
            yield " | ".join(cells)


def _blocks(doc) -> Iterator[str]:
    """Paragraph and table-row texts in document order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for block in doc.iter_inner_content():
        if isinstance(block, Paragraph):
            text = block.text.strip()
            if text:
                yield text
        elif isinstance(block, Table):
            yield from _rows(block)


# python-docx's blank template carries this creation date: a file made from it says nothing.
_TEMPLATE_CREATED = "2013-12-23"


def _date(props, lines: list[str]) -> str | None:
    """The file's creation date, unless its first lines carry a date of their own (which the
    segmenter reads, and which is the bulletin's real date)."""
    from qa_service.ingest.loaders import normalise_date  # loaders imports this module

    if any(normalise_date(line) for line in lines[:12]):
        return None
    when = props.created.date().isoformat() if props.created is not None else None
    return when if when != _TEMPLATE_CREATED else None


def read_docx(doc_id: str, data: bytes, path: str) -> Document:
    """The document of a .docx file's bytes."""
    check_archive(data)
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        word = docx.Document(io.BytesIO(data))
        lines = list(_blocks(word))
        props = word.core_properties
        title, published = (props.title or "").strip() or None, _date(props, lines)
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise FormatError(f"The Word file cannot be read: it is damaged ({exc}).", "unreadable_document") from exc
    return Document(id=doc_id, text="\n".join(lines), path=path, format="docx", title=title, published=published)
