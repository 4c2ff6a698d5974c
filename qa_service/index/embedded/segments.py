"""The embedded backend as a search engine keeps it: immutable segments, deletion marks, merges.

A version folder (``INDEX_DIR/CURRENT`` names it, index/publish.py) is either one index folder as
``EmbeddedIndex.save`` writes it (a full build) or, once documents are added or deleted while
serving, a list of **segments**: sub-folders in that same format, each with its own manifest and
checksums, plus which documents of each are deleted.  A change writes a new version holding hard
links to the segments it keeps (no byte copied), a small new segment with just the added documents'
passages, and the new deletion marks, then publishes it atomically as a full build does.

Scores are corpus-wide: a query term's idf comes from its passage count summed over the segments and
the total number of passages; each segment's stored weights are scaled by the ratio of that idf to
the one they were written with.  A new segment's length normalisation uses the average passage
length of the whole index when it was written (``CorpusStats``).  What differs from a full build of
the same documents until a merge (documented in docs/performance.md):

* a deleted passage still counts in the passage count, the passage counts of its terms and the
  average length until its segment is merged or rewritten (as in Lucene and tantivy);
* each segment keeps the average length and the mean idf (rank-bm25's epsilon rule, which only
  touches terms in more than half the passages) of when it was written.

Merging (merging.py) rewrites segments as one from their stored passages, re-cut by the index's
tokenizer and weighed with the statistics of the time; merging every segment gives exactly the
scores of a full build with the same tokenizer (tested).  The corpus-learned user dictionary
(ingest/userdict.py) is the one the last full build learned: added documents are cut with it, so a
name that first appears in an added document is cut into words until the next ``qa-service index``.
"""

from __future__ import annotations

import bisect
import logging
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_service.core.models import Chunk
from qa_service.core.tokenizer import Tokenizer
from qa_service.index.embedded.bm25 import BM25Params, CorpusStats
from qa_service.index.embedded.rankers import make_ranker
from qa_service.index.embedded.ranking import max_idf, okapi_idf, scores_of_postings, top_k_of_postings
from qa_service.index.embedded.store import EmbeddedIndex
from qa_service.index.embedded.terms import TermTable
from qa_service.index.embeddings import PassageVectors

if TYPE_CHECKING:
    from qa_service.index.base import Filters, Ranker
    from qa_service.index.embeddings import Embedder
    from qa_service.index.fusion import FusionSettings

log = logging.getLogger(__name__)

SEGMENTS_FORMAT = 1
FLAT = "."  # the segment name of a version that is one index folder (a full build)


@dataclass
class Segment:
    name: str  # its folder in the version (FLAT: the version folder itself)
    index: EmbeddedIndex
    deleted: frozenset[str] = frozenset()  # ids of its documents deleted since it was written
    base: int = 0  # global id of its first passage

    @property
    def passages(self) -> int:
        return len(self.index)


@dataclass
class _Stacked:
    """The passage vectors of every segment, read as one matrix by the hybrid ranker."""

    parts: list[Any]

    @property
    def shape(self) -> tuple[int, int]:
        return (sum(len(p) for p in self.parts), self.parts[0].shape[1])

    def __matmul__(self, q: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(p @ q) for p in self.parts])

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        """The rows ``rows`` (global passage ids), as a rebuild reusing vectors reads them."""
        rows = np.asarray(rows, dtype=np.int64)
        bounds = np.cumsum([0, *(len(p) for p in self.parts)])
        part = np.searchsorted(bounds, rows, side="right") - 1
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        for k, matrix in enumerate(self.parts):
            sel = part == k
            out[sel] = np.asarray(matrix)[rows[sel] - bounds[k]]
        return out


@dataclass
class _Stats:
    n_docs: int
    total_len: int
    mean_idf: float
    params: BM25Params
    deleted: np.ndarray | None = None  # global ids of deleted passages


class LiveDocuments(Collection[dict[str, Any]]):
    """The documents of segments but those deleted, read from the segments' tables in place
    (index/records.py) rather than gathered in one list: a million of them would cost a gigabyte."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        self._segments = segments
        self._gone = [s.index.documents.equal_any("id", s.deleted) if s.deleted else None for s in segments]
        self._live = sum(len(s.index.documents) - (0 if g is None else int(g.sum())) for s, g in self._parts())

    def _parts(self) -> Iterator[tuple[Segment, np.ndarray | None]]:
        return zip(self._segments, self._gone, strict=True)

    def __len__(self) -> int:
        return self._live

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for s, gone in self._parts():
            table = s.index.documents
            if gone is None:
                yield from table
            else:
                yield from (table[i] for i in np.flatnonzero(~gone).tolist())

    def __contains__(self, record: object) -> bool:
        return isinstance(record, dict) and any(record == d for d in self)

    def tables(self) -> list[tuple[Any, np.ndarray | None]]:
        """Each segment's documents table (records.py) and which of its rows are live (None: all)."""
        return [(s.index.documents, None if gone is None else ~gone) for s, gone in self._parts()]

    def articles(self) -> int:
        """How many articles the live documents have."""
        total = 0
        for s, gone in self._parts():
            arts = s.index.articles
            total += len(arts) - (int(arts.equal_any("document", s.deleted).sum()) if gone is not None else 0)
        return total


class SegmentReader:
    """One or more segments searched as one corpus: the read side of ``SegmentedIndex`` (versions.py)."""

    name = "embedded"

    def __init__(self, segments: list[Segment], manifest: dict[str, Any], root: Path | None = None) -> None:
        if not segments:
            raise ValueError("an index has at least one segment")
        self.segments = segments
        self.root = root  # INDEX_DIR (None: in memory only)
        self.manifest = manifest
        self.tokenizer: Tokenizer = segments[0].index.tokenizer
        base = 0
        for s in segments:
            s.base = base
            base += s.passages
        self._bases = [s.base for s in segments]
        largest = max(segments, key=lambda s: s.passages).index.bm25
        mean = manifest.get("stats", {}).get("mean_idf") if len(segments) > 1 else None
        self._stats = _Stats(
            n_docs=base,
            total_len=sum(s.index.bm25.total_len for s in segments),
            mean_idf=largest.mean_idf if mean is None else float(mean),
            params=largest.params,
        )
        self._stats.deleted = self._deleted_passages()
        self.documents = LiveDocuments(segments)
        self._single = segments[0].index if len(segments) == 1 and not segments[0].deleted else None

    def _deleted_passages(self) -> np.ndarray | None:
        parts = []
        for s in self.segments:
            if s.deleted:
                parts.append(np.flatnonzero(s.index.document_mask(s.deleted)) + s.base)
        return np.concatenate(parts) if parts else None

    # -- what a segment of this index is built with ---------------------------------------------------
    def stats_elsewhere(self, leaving: Iterable[str] = ()) -> CorpusStats:
        """The statistics a new segment is weighed with: this index's, but for the segments ``leaving``
        (those a merge replaces)."""
        gone = set(leaving)
        rest = [s for s in self.segments if s.name not in gone]
        return CorpusStats(
            n_docs=sum(s.passages for s in rest),
            total_len=sum(s.index.bm25.total_len for s in rest),
            mean_idf=self._stats.mean_idf,
            df_elsewhere=lambda terms: self._df([s for s in rest], terms)[0],
        )

    @staticmethod
    def _df(segments: Sequence[Segment], terms: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """How many passages of ``segments`` hold each term, and each term's row in each segment."""
        df = np.zeros(len(terms), dtype=np.int64)
        rows = []
        hashed: dict[int, tuple[list[bytes], np.ndarray]] = {}  # per salt: hashed once for every segment
        for s in segments:
            bm = s.index.bm25
            vocab = bm.vocab
            if isinstance(vocab, TermTable):
                if vocab.salt not in hashed:
                    hashed[vocab.salt] = vocab.hash_terms(terms)
                ids = vocab.lookup_hashed(*hashed[vocab.salt])
            else:
                ids = vocab.lookup(terms)
            known = ids >= 0
            df[known] += bm.indptr[ids[known] + 1] - bm.indptr[ids[known]]
            rows.append(ids)
        return df, rows

    # -- searching --------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._stats.n_docs

    def _postings_of(self, tokens: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each query term's passages (global ids) and float32 weights in each segment, weighed with
        the index's statistics now."""
        counts = Counter(tokens)
        if not counts:
            return [], []
        terms = list(counts)
        reps = np.fromiter(counts.values(), dtype=np.float64, count=len(terms))
        df, rows = self._df(self.segments, terms)
        st = self._stats
        idf = np.zeros(len(terms))
        known = df > 0
        idf[known] = okapi_idf(df[known], st.n_docs, st.params, st.mean_idf)
        docs: list[np.ndarray] = []
        ws: list[np.ndarray] = []
        for s, ids in zip(self.segments, rows, strict=True):
            bm = s.index.bm25
            found = np.flatnonzero(ids >= 0)
            if not len(found):
                continue
            i = ids[found]
            # Each term's weights scaled from the idf they were written with to the index's idf now.
            scale = (idf[found] / bm.idf[i] * reps[found]).astype(np.float32).tolist()
            for a, b, f in zip(bm.indptr[i].tolist(), bm.indptr[i + 1].tolist(), scale, strict=True):
                d, w = bm._postings(a, b)
                docs.append(d + s.base if s.base else d)
                ws.append(w * np.float32(f))
        return docs, ws

    def search(self, tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        if self._single is not None:
            return self._single.search(tokens, k)
        docs, ws = self._postings_of(tokens)
        ids, scores = top_k_of_postings(docs, ws, len(self), min(k, len(self)), self._stats.deleted)
        return [(int(i), float(s)) for i, s in zip(ids, scores, strict=True)]

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """float32 score of every passage (deleted ones 0), over all segments."""
        if self._single is not None:
            return self._single.scores(tokens)
        return scores_of_postings(*self._postings_of(tokens), len(self), self._stats.deleted)

    def _segment_of(self, i: int) -> Segment:
        return self.segments[bisect.bisect_right(self._bases, i) - 1]

    def chunk(self, i: int) -> Chunk:
        s = self._segment_of(i)
        c = s.index.chunk(i - s.base)
        c.id = f"{c.doc_id}#{c.article}.{i}"
        return c

    def chunk_text(self, i: int) -> str:
        s = self._segment_of(i)
        return s.index.chunk_text(i - s.base)

    def passage_mask(self, filters: Filters) -> np.ndarray:
        """Which passages match ``filters`` (deleted ones never do)."""
        mask = np.concatenate([s.index.passage_mask(filters) for s in self.segments])
        if self._stats.deleted is not None:
            mask[self._stats.deleted] = False
        return mask

    def live_mask(self) -> np.ndarray | None:
        """Which passages are not deleted (None: all are), for rankers that score every passage."""
        if self._stats.deleted is None:
            return None
        mask = np.ones(len(self), dtype=bool)
        mask[self._stats.deleted] = False
        return mask

    @property
    def vectors(self) -> PassageVectors | None:
        """The passage vectors, if every segment has them from one model."""
        vs = [s.index.vectors for s in self.segments]
        if any(v is None for v in vs) or len({(v.model_id, v.dim) for v in vs if v is not None}) != 1:
            return None
        if len(vs) == 1:
            return vs[0]
        first = vs[0]
        assert first is not None
        keys = np.concatenate([np.asarray(v.keys) for v in vs if v is not None])
        return PassageVectors(first.model, first.model_id, _Stacked([v.matrix for v in vs if v is not None]), keys)  # type: ignore[arg-type]

    # -- term statistics --------------------------------------------------------------------------------
    def term_idf(self, term: str) -> float | None:
        if self._single is not None:
            return self._single.term_idf(term)
        df, _ = self._df(self.segments, [term])
        if not df[0]:
            return None
        st = self._stats
        return float(okapi_idf(df, st.n_docs, st.params, st.mean_idf)[0])

    @property
    def max_idf(self) -> float:
        return max_idf(len(self))

    # -- documents --------------------------------------------------------------------------------------
    def holder(self, doc_id: str) -> int | None:
        """The position of the segment holding the live document ``doc_id`` (None: no such document)."""
        for pos, s in enumerate(self.segments):
            if doc_id not in s.deleted and s.index.documents.position(doc_id) is not None:
                return pos
        return None

    def _owner(self, doc_id: str) -> EmbeddedIndex | None:
        pos = self.holder(doc_id)
        return None if pos is None else self.segments[pos].index

    def document(self, doc_id: str) -> dict[str, Any] | None:
        owner = self._owner(doc_id)
        return None if owner is None else owner.document(doc_id)

    def document_text(self, doc_id: str) -> str:
        owner = self._owner(doc_id)
        return "" if owner is None else owner.document_text(doc_id)

    def record(self, doc_id: str) -> dict[str, Any] | None:
        owner = self._owner(doc_id)
        return None if owner is None else owner.record(doc_id)

    def char_boxes(self, doc_id: str, start: int, end: int) -> dict[str, Any] | None:
        owner = self._owner(doc_id)
        return None if owner is None else owner.char_boxes(doc_id, start, end)

    def original_file(self, doc_id: str) -> Path | None:
        owner = self._owner(doc_id)
        return None if owner is None else owner.original_file(doc_id)

    # -- the rest of the Backend protocol ---------------------------------------------------------------
    def make_ranker(self, embedder: Embedder | None, fusion: FusionSettings) -> Ranker:
        return make_ranker(self, embedder, fusion)  # type: ignore[arg-type]

    def health(self) -> None:
        """Nothing to check: the index is in this process."""

    def close(self) -> None:
        """Nothing to release: the files are memory-mapped and unmapped with the object."""

    def summary(self) -> list[str]:
        if self._single is not None:
            return self._single.summary()
        c = self.manifest["counts"]
        return [
            f"indexed {c['documents']} documents, {c['articles']} articles, {c['passages']} passages in "
            f"{len(self.segments)} segments"
        ]
