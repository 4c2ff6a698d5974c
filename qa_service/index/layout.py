"""Where cited characters sit on the page: the page layout of paged documents (PDFs), as every
backend's document store keeps it in its version folder.

* ``layout_pages.npy`` (int16) and ``layout_boxes.npy`` (float32, 4 columns): every character of
  every paged document's stored text, the documents one after another; a document's record in
  ``documents.json`` says where its run starts and ends (``layout``), its pages' sizes and which of
  them are scans.  Memory-mapped on load, like the texts.
* ``originals/<sha256>.pdf``: the original file, to render pages from.  Kept in the version folder
  (hard-linked from the previous version, else copied from the corpus file) so a
  version stays self-contained: the corpus file may be edited or deleted, the citation still opens
  the page it was made from.  Named by content, listed in the manifest under ``originals`` with
  their sizes (checked on load; not re-hashed: the name is the hash).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_service.core.errors import IndexCorrupt, IndexError_
from qa_service.core.models import Document
from qa_service.index.publish import current_version_dir, fsync_dir, npy_bytes

if TYPE_CHECKING:
    from qa_service.index.publish import VersionWriter

log = logging.getLogger(__name__)

PAGES = "layout_pages.npy"
BOXES = "layout_boxes.npy"
ORIGINALS = "originals"


def original_name(sha256: str) -> str:
    return f"{ORIGINALS}/{sha256}.pdf"


def layout_record(doc: Document, start: int) -> dict[str, Any]:
    """What a paged document's record in ``documents.json`` says of its layout (run from ``start``)."""
    lay = doc.layout
    assert lay is not None
    return {
        "pages": len(lay.sizes),
        "page_sizes": [[round(w, 2), round(h, 2)] for w, h in lay.sizes],
        "scanned_pages": list(lay.scanned),
        "ocr_pages": list(lay.ocr),
        "layout": [start, start + len(doc.text)],
        "original": original_name(lay.sha256),
    }


@dataclass
class LayoutStore:
    pages: np.ndarray  # (n,) int16, 0-based page, -1 for characters the extraction added
    boxes: np.ndarray  # (n, 4) float32: left, top, right, bottom, points from the page's top-left
    # Original files: name in the version folder -> (where to take it from, its sha256).
    originals: dict[str, tuple[Path, str]] = field(default_factory=dict)
    location: Path | None = None  # the version folder it was loaded from (or saved to)

    @classmethod
    def from_documents(cls, documents: list[Document]) -> LayoutStore:
        """In ``documents.json``'s order (``layout_record`` starts at the running total)."""
        paged = [d for d in documents if d.layout is not None]
        if not paged:
            return cls(np.zeros(0, dtype=np.int16), np.zeros((0, 4), dtype=np.float32))
        pages = np.concatenate([np.asarray(d.layout.page, dtype=np.int16) for d in paged])  # type: ignore[union-attr]
        boxes = np.concatenate([np.asarray(d.layout.box, dtype=np.float32).reshape(-1, 4) for d in paged])  # type: ignore[union-attr]
        originals = {original_name(d.layout.sha256): (Path(d.path), d.layout.sha256) for d in paged}  # type: ignore[union-attr]
        return cls(pages, boxes, originals)

    def save(self, out: VersionWriter) -> dict[str, int]:
        """Put the arrays and the originals in the version being written; the originals' sizes."""
        if not len(self.pages):
            return {}
        out.put(PAGES, npy_bytes(self.pages))
        out.put(BOXES, npy_bytes(self.boxes))
        (out.tmp / ORIGINALS).mkdir()
        kept = {}
        previous = _previous(out.root)
        for name, (source, sha) in self.originals.items():
            size = _place(source, out.tmp, name, sha, previous)
            if size is not None:
                kept[name] = size
        fsync_dir(out.tmp / ORIGINALS)
        return kept

    def saved_to(self, vdir: Path, kept: dict[str, int]) -> None:
        """After ``save``: the originals are now those of the version folder ``vdir``."""
        self.originals = {name: (vdir / name, Path(name).stem) for name in kept}
        self.location = vdir

    @classmethod
    def load(cls, vdir: Path, manifest: dict[str, Any]) -> LayoutStore | None:
        if PAGES not in manifest.get("files", {}):
            return None
        pages = np.load(vdir / PAGES, mmap_mode="r")
        boxes = np.load(vdir / BOXES, mmap_mode="r")
        if boxes.shape != (len(pages), 4):
            raise IndexCorrupt(f"{vdir / BOXES} does not match {PAGES}: rebuild with `qa-service index`")
        originals = {}
        for name, size in manifest.get("originals", {}).items():
            path = vdir / name
            if not path.is_file() or path.stat().st_size != size:
                raise IndexCorrupt(f"{path} is missing or truncated: rebuild with `qa-service index`")
            originals[name] = (path, Path(name).stem)
        return cls(pages, boxes, originals, vdir)

    def original(self, name: str) -> Path | None:
        """The original file of a record's ``original`` name in this version, if it was kept."""
        found = self.originals.get(name)
        return found[0] if found is not None and self.location is not None else None

    def locate(self, run: list[int], start: int, end: int) -> dict[str, Any]:
        """``page`` (1-based), ``page_end`` (if it differs) and ``boxes`` of the document's characters
        [start, end): one box per printed line, ``[page, left, top, right, bottom]``."""
        a, b = run[0] + max(0, start), run[0] + min(end, run[1] - run[0])
        pages = np.asarray(self.pages[a:b])
        boxes = np.asarray(self.boxes[a:b])
        placed = np.flatnonzero(pages >= 0)
        if not len(placed):
            return {}
        out: dict[str, Any] = {"page": int(pages[placed[0]]) + 1}
        if pages[placed[-1]] != pages[placed[0]]:
            out["page_end"] = int(pages[placed[-1]]) + 1
        out["boxes"] = line_boxes(pages, boxes)
        return out


def line_boxes(pages: np.ndarray, boxes: np.ndarray) -> list[list[float]]:
    """One box per run of characters on one printed line (runs end at the line breaks, marked -1)."""
    ink = (pages >= 0) & (boxes[:, 2] > boxes[:, 0])
    cuts = np.flatnonzero(np.diff(pages.astype(np.int32)) != 0) + 1
    out = []
    for seg in np.split(np.arange(len(pages)), cuts):
        seg = seg[ink[seg]]
        if not len(seg):
            continue
        b = boxes[seg]
        page = int(pages[seg[0]]) + 1
        out.append([page, *(round(float(v), 2) for v in (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()))])
    return out


def _previous(root: Path) -> Path | None:
    try:
        return current_version_dir(root)
    except IndexError_:
        return None


def _place(source: Path, folder: Path, name: str, sha: str, previous: Path | None) -> int | None:
    """Keep the original in the new version: linked from the previous version when it has it (the
    index's own files are never written again), else copied from ``source`` if its content is
    still ``sha`` (a corpus file is copied, not linked: it may be overwritten in place later)."""
    target = folder / name
    kept = previous / name if previous is not None else None
    if source.parent.name == ORIGINALS:  # already kept by an index (a segment being merged)
        kept = source
    try:
        if kept is not None and kept.is_file():
            os.link(kept, target)
            return target.stat().st_size
        h = hashlib.sha256()
        with open(source, "rb") as src, open(target, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                h.update(block)
                dst.write(block)
            dst.flush()
            os.fsync(dst.fileno())
        if h.hexdigest() != sha:
            target.unlink()
            log.warning("%s changed since it was read: its pages will not be shown until it is indexed again", source)
            return None
        return target.stat().st_size
    except OSError as exc:
        log.warning("cannot keep %s for page images: %s", source, exc)
        target.unlink(missing_ok=True)
        return None
