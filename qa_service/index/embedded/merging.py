"""Merging segments of the embedded index (segments.py): which to merge, and the merged segment.

**Policy** (size-tiered, as Lucene's): a segment's tier is the order of magnitude, in base
``MERGE_FACTOR``, of its live passages; when a tier holds ``MERGE_FACTOR`` segments, they become one
of the next tier.  So an index of n passages has at most about ``MERGE_FACTOR`` x log(n) segments,
and a passage is rewritten about log(n) times over its life.  A segment with ``PURGE_SHARE`` of its
passages deleted is rewritten alone, without them.  The largest segment (a full build) is only ever
merged with segments of its own tier: folding a day's uploads into a million passages is left to the
next full build (``qa-service index``), and costs nothing meanwhile but the bounded difference
described in segments.py.

**The merged segment** is assembled from what the segments store -- documents, their original
text and page layout, articles, passages and passage vectors -- without reading the corpus again;
only BM25 is recomputed, its passages re-cut by the index's tokenizer and weighed by the index's
statistics at the time.  Merging every segment therefore gives exactly a full build's scores.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_service.core.tokenizer import Tokenizer
from qa_service.index.embedded.bm25 import CorpusStats
from qa_service.index.embedded.store import EmbeddedIndex, IndexSettings
from qa_service.index.embedded.words import index_passages
from qa_service.index.embeddings import PassageVectors
from qa_service.index.layout import LayoutStore
from qa_service.index.publish import pack_texts
from qa_service.index.records import ARTICLE_COLUMNS, DOCUMENT_COLUMNS, RecordWriter

if TYPE_CHECKING:
    from qa_service.index.embedded.segments import Segment

MERGE_FACTOR = 4
PURGE_SHARE = 0.3


def live_passages(s: Segment) -> int:
    return s.passages - (int(s.index.document_mask(s.deleted).sum()) if s.deleted else 0)


def plan_merge(segments: Sequence[Segment]) -> list[str]:
    """The names of the segments to merge next (none: nothing to do)."""
    live = {s.name: live_passages(s) for s in segments}  # counted once: deletions cost a pass each
    for s in segments:
        if s.deleted and s.passages and (s.passages - live[s.name]) / s.passages >= PURGE_SHARE:
            return [s.name]
    tiers: dict[int, list[Segment]] = {}
    for s in segments:
        tiers.setdefault(_tier(live[s.name]), []).append(s)
    for tier in sorted(tiers):
        group = tiers[tier]
        if len(group) >= MERGE_FACTOR:
            return [s.name for s in sorted(group, key=lambda s: live[s.name])[:MERGE_FACTOR]]
    return []


def _tier(n: int) -> int:
    return int(math.log(max(n, 1), MERGE_FACTOR))


def merged_segment(
    parts: Sequence[Segment], settings: IndexSettings, tokenizer: Tokenizer, stats: CorpusStats | None
) -> EmbeddedIndex:
    """One index of the live documents of ``parts`` (in order), BM25 weighed by ``stats`` (the rest
    of the index; None: the parts are the whole index)."""
    t0 = time.perf_counter()
    out = _Gather()
    for s in parts:
        out.add(s.index, s.deleted)
    meta = np.array(out.chunk_meta, dtype=np.int64).reshape(-1, 3)
    documents, articles = out.documents.finish(), out.articles.finish()
    bm25, words = index_passages(out.chunk_texts, meta, articles, tokenizer, settings, stats)
    chunk_text, chunk_bounds = pack_texts(out.chunk_texts)
    doc_text, doc_bounds = pack_texts(out.doc_texts)
    manifest = {
        **parts[0].index.manifest,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "segment_id": uuid.uuid4().hex,
        "settings": settings.to_dict(),
        "corpus": {},
        "counts": {
            "documents": len(documents),
            "articles": len(articles),
            "passages": len(out.chunk_texts),
            "terms": len(bm25.vocab),
        },
        "build_seconds": round(time.perf_counter() - t0, 3),
    }
    for key in ("files", "embeddings", "originals"):
        manifest.pop(key, None)
    index = EmbeddedIndex(
        bm25,
        tokenizer,
        chunk_text,
        chunk_bounds,
        meta,
        articles,
        documents,
        doc_text,
        doc_bounds,
        manifest,
        layout=out.layout(),
        words=words,
    )
    index.vectors = out.vectors(parts)
    if index.vectors is not None:
        index.manifest["embeddings"] = index.vectors.meta()
    return index


class _Gather:
    """The live documents of segments, their articles, passages, layout and vectors, renumbered."""

    def __init__(self) -> None:
        self.documents = RecordWriter(DOCUMENT_COLUMNS, "id")
        self.doc_texts: list[str] = []
        self.articles = RecordWriter(ARTICLE_COLUMNS)
        self.chunk_texts: list[str] = []
        self.chunk_meta: list[tuple[int, int, int]] = []
        self.pages: list[np.ndarray] = []
        self.boxes: list[np.ndarray] = []
        self.originals: dict[str, tuple[Any, str]] = {}
        self.kept: list[np.ndarray] = []  # per part: its passages kept
        self.run = 0  # where the next paged document starts in the layout arrays

    def add(self, index: EmbeddedIndex, deleted: frozenset[str]) -> None:
        gone = index.articles.equal_any("document", deleted) if deleted else np.zeros(len(index.articles), bool)
        renumber = np.full(len(index.articles), -1, dtype=np.int64)
        for i in np.flatnonzero(~gone).tolist():
            renumber[i] = len(self.articles)
            self.articles.add(index.articles[i])
        dropped = index.documents.equal_any("id", deleted) if deleted else np.zeros(len(index.documents), bool)
        for i in np.flatnonzero(~dropped).tolist():
            self._add_document(index, index.documents[i])
        keep = np.flatnonzero(~index.document_mask(deleted)) if deleted else np.arange(len(index))
        self.kept.append(keep)
        for i in keep.tolist():
            a, start, end = (int(x) for x in index._chunk_meta[i])
            self.chunk_texts.append(index.chunk_text(i))
            self.chunk_meta.append((int(renumber[a]), start, end))

    def _add_document(self, index: EmbeddedIndex, d: dict[str, Any]) -> None:
        record = dict(d)
        self.doc_texts.append(index.document_text(d["id"]))
        if "layout" in record and index.layout is not None:
            a, b = record["layout"]
            self.pages.append(np.asarray(index.layout.pages[a:b]))
            self.boxes.append(np.asarray(index.layout.boxes[a:b]))
            record["layout"] = [self.run, self.run + (b - a)]
            self.run += b - a
            found = index.layout.originals.get(record.get("original", ""))
            if found is not None:
                self.originals[record["original"]] = found
        self.documents.add(record)

    def layout(self) -> LayoutStore:
        if not self.pages:
            return LayoutStore(np.zeros(0, dtype=np.int16), np.zeros((0, 4), dtype=np.float32))
        return LayoutStore(np.concatenate(self.pages), np.concatenate(self.boxes), dict(self.originals))

    def vectors(self, parts: Sequence[Segment]) -> PassageVectors | None:
        vs = [s.index.vectors for s in parts]
        if any(v is None for v in vs) or len({v.model_id for v in vs if v is not None}) != 1:
            return None
        first = vs[0]
        assert first is not None
        matrix = np.concatenate([np.asarray(v.matrix)[k] for v, k in zip(vs, self.kept, strict=True) if v is not None])
        keys = np.concatenate([np.asarray(v.keys)[k] for v, k in zip(vs, self.kept, strict=True) if v is not None])
        return PassageVectors(first.model, first.model_id, matrix.astype(np.float32), keys)
