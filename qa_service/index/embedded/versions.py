"""Opening, changing and merging the embedded index's versions of segments (segments.py).

``SegmentedIndex`` is the embedded ``Backend``: the read side (``SegmentReader``) plus how a version
is opened (a full build's single folder, or a list of segments), how documents are added and deleted
(``apply``: a new segment, deletion marks) and how segments are merged (``merge`` built without the
write lock from a snapshot, ``replace`` published under it).  Every change is a new version folder
published atomically (index/publish.py), holding hard links to the segments it keeps.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa_service.core.errors import DocumentError, IndexError_, IndexIncompatible
from qa_service.core.models import Corpus, CorpusStream
from qa_service.core.settings import Settings
from qa_service.index.embedded.merging import merged_segment, plan_merge
from qa_service.index.embedded.rankers import vectors_match
from qa_service.index.embedded.ranking import union_mean_idf
from qa_service.index.embedded.segments import FLAT, SEGMENTS_FORMAT, LiveDocuments, Segment, SegmentReader
from qa_service.index.embedded.spool import spooled_index
from qa_service.index.embedded.store import REBUILD, EmbeddedIndex, IndexSettings
from qa_service.index.embeddings import PassageVectors
from qa_service.index.publish import VersionWriter, link_folder, read_folder_manifest, read_live_manifest

if TYPE_CHECKING:
    from qa_service.index.base import Backend
    from qa_service.index.embeddings import Embedder

log = logging.getLogger(__name__)


class SegmentedIndex(SegmentReader):
    """The embedded index as the service opens and changes it (the ``Backend`` of ``QA_BACKEND=embedded``)."""

    def add_vectors(self, embedder: Embedder, settings: Settings, show_progress: bool = False) -> bool:
        """Give every segment the passage vectors of ``embedder`` if it lacks them; True if any did."""
        lacking = [s for s in self.segments if not vectors_match(s.index.vectors, embedder)]
        if not lacking:
            return False
        log.warning(
            "the index in %s has no passage vectors from %s: adding them", settings.index_dir, embedder.model_id
        )
        for s in lacking:
            s.index.embed(embedder, batch_size=settings.embedding_batch, show_progress=show_progress)
        if self._single is not None and self.segments[0].name == FLAT:
            self._single.save(settings.index_dir)
        else:
            self.publish(Path(settings.index_dir), renamed={s.name for s in lacking})
        return True

    # -- opening and building ---------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings, previous: Backend | None = None) -> SegmentedIndex:
        prev = previous if isinstance(previous, SegmentedIndex) else None
        return cls.load(settings.index_dir, tokenizer=settings.tokenizer, previous=prev)

    @classmethod
    def create(
        cls,
        corpus: Corpus,
        settings: Settings,
        embedder: Embedder | None = None,
        previous: Backend | None = None,
        show_progress: bool = False,
        recreate: bool = False,
    ) -> SegmentedIndex:
        """A full build: one index folder as the new live version.  Vectors of unchanged passages are
        reused from ``previous`` (default: the live index on disk)."""
        vectors = _reusable_vectors(settings, previous) if embedder is not None else None
        built = IndexSettings(segmenter=settings.build_tokenizer)
        batch = settings.embedding_batch
        index = EmbeddedIndex.build(corpus, built, show_progress, embedder=embedder, previous=vectors, batch_size=batch)
        index.save(settings.index_dir)
        return cls([Segment(FLAT, index)], index.manifest, Path(settings.index_dir))

    @classmethod
    def create_streamed(
        cls,
        stream: CorpusStream,
        settings: Settings,
        embedder: Embedder | None = None,
        previous: Backend | None = None,
        show_progress: bool = False,
        recreate: bool = False,
    ) -> SegmentedIndex:
        """``create`` of a streamed corpus, spooled to disk as it comes (spool.py): the same index,
        without holding the corpus in memory."""
        root = Path(settings.index_dir)
        root.mkdir(parents=True, exist_ok=True)
        built = IndexSettings(segmenter=settings.build_tokenizer)
        index, spool = spooled_index(stream, root, built, show_progress)
        try:
            if embedder is not None:
                index.embed(embedder, _reusable_vectors(settings, previous), settings.embedding_batch, show_progress)
            index.save(root)
        finally:
            spool.discard()
        # Opened from the version folder: what was built reads the spool's files, just removed.
        return cls.load(root, verify=False, tokenizer=settings.tokenizer)

    @classmethod
    def load(
        cls,
        index_dir: str | Path,
        verify: bool = True,
        tokenizer: str | None = None,
        previous: SegmentedIndex | None = None,
    ) -> SegmentedIndex:
        """The live version in ``index_dir``.  Segments ``previous`` (the version being replaced) holds
        are taken from it, already checked and mapped: only new ones are read and verified."""
        root = Path(index_dir)
        vdir, manifest = read_live_manifest(root, "index", REBUILD, verify)
        if "segments" not in manifest:
            return cls(
                [Segment(FLAT, EmbeddedIndex.load_folder(vdir, manifest, root, configured=tokenizer))], manifest, root
            )
        if manifest.get("segments_format") != SEGMENTS_FORMAT:
            raise IndexIncompatible(f"index in {root} has segments format {manifest.get('segments_format')}: {REBUILD}")
        known = {_identity(s.index.manifest, s.name): s.index for s in previous.segments} if previous else {}
        shared = previous.tokenizer if previous is not None else None
        segments = []
        for entry in manifest["segments"]:
            name, folder = entry["name"], vdir / entry["name"]
            index = known.get(entry.get("id") or name)
            if index is not None:
                index.moved_to(folder)
            else:
                seg_manifest = read_folder_manifest(folder, "index segment", REBUILD, verify)
                index = EmbeddedIndex.load_folder(folder, seg_manifest, root, tokenizer, shared)
            shared = shared or index.tokenizer
            segments.append(Segment(name, index, frozenset(entry.get("deleted", []))))
        return cls(segments, manifest, root)

    # -- changing it ------------------------------------------------------------------------------------
    def apply(self, added: Corpus, removed: Sequence[str], embedder: Embedder | None = None) -> SegmentedIndex:
        """Publish a new version: the documents ``removed`` (and earlier copies of those ``added``)
        marked deleted, the ``added`` ones (cleaned, segmented and chunked) in a new segment, with
        passage vectors from ``embedder`` if the index has vectors.  The caller holds the write lock;
        returns the new live version (the segments it keeps are this one's)."""
        if self.root is None:
            raise ValueError("an index in memory only cannot be changed")
        gone: dict[int, set[str]] = {pos: set() for pos in range(len(self.segments))}
        for doc_id in [*removed, *(d.id for d in added.documents)]:
            pos = self.holder(doc_id)
            if pos is not None:
                gone[pos].add(doc_id)
        kept = [
            Segment(s.name, s.index, s.deleted | gone[pos])
            for pos, s in enumerate(self.segments)
            if not _emptied(s, gone[pos])
        ]
        if not kept and not added.chunks:
            raise DocumentError("The corpus would have no readable text left.", "empty_corpus")
        fresh: list[Segment] = []
        if added.chunks:
            settings = IndexSettings.from_dict(self.manifest["settings"])
            index = EmbeddedIndex.build(added, settings, tokenizer=self.tokenizer, stats=self.stats_elsewhere())
            if embedder is not None and self.vectors is not None:
                index.embed(embedder)
            fresh.append(Segment(_new_name(), index))
        return self.publish(self.root, kept + fresh, new={s.name for s in fresh})

    def merge(self, names: Sequence[str]) -> EmbeddedIndex:
        """The segments ``names`` of this version as one (nothing published: see ``replace``).  Runs
        without the write lock: it reads only this version's immutable segments."""
        parts = [s for s in self.segments if s.name in set(names)]
        whole = len(parts) == len(self.segments)
        settings = IndexSettings.from_dict(self.manifest["settings"])
        return merged_segment(parts, settings, self.tokenizer, None if whole else self.stats_elsewhere(names))

    def replace(self, names: Sequence[str], merged: EmbeddedIndex, snapshot: SegmentedIndex) -> SegmentedIndex | None:
        """Publish this (live) version with the segments ``names`` replaced by ``merged``, which was
        made from them as ``snapshot`` held them: documents deleted from them since are deleted from it.
        None (nothing published) if another merge already replaced one of them.  Under the write lock."""
        if self.root is None:
            raise ValueError("an index in memory only cannot be changed")
        now = {s.name: s for s in self.segments}
        then = {s.name: s for s in snapshot.segments}
        if not all(n in now for n in names):
            return None
        since = frozenset().union(*(now[n].deleted - then[n].deleted for n in names))
        at = min(i for i, s in enumerate(self.segments) if s.name in set(names))
        segment = Segment(_new_name(), merged, frozenset(d for d in since if merged.documents.position(d) is not None))
        kept = [Segment(s.name, s.index, s.deleted) for s in self.segments if s.name not in set(names)]
        kept.insert(at, segment)
        if not len(merged.documents):
            kept.remove(segment)
        return self.publish(self.root, kept, new={segment.name})

    def merge_plan(self) -> list[str]:
        """The segments the merge policy (merging.py) would merge next; none: nothing to do."""
        return plan_merge(self.segments)

    def merge_step(self) -> SegmentedIndex | None:
        """Plan, merge and publish one merge in this process (the caller holds the write lock); None if
        the policy finds nothing to merge."""
        names = self.merge_plan()
        if not names:
            return None
        return self.replace(names, self.merge(names), self)

    def publish(
        self,
        root: Path,
        segments: list[Segment] | None = None,
        new: set[str] = frozenset(),  # type: ignore[assignment]
        renamed: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> SegmentedIndex:
        """Write ``segments`` (default: this index's) as the new live version: those named in ``new``
        (or ``renamed``: changed in memory) are written, the others hard-linked from where they are."""
        segments = list(self.segments if segments is None else segments)
        if not segments:
            raise ValueError("an index has at least one segment")
        entries = []
        with VersionWriter(root) as out:
            for s in segments:
                name = _new_name() if s.name == FLAT or s.name in renamed else s.name
                if s.name in renamed:  # changed in memory: not the segment other processes hold
                    s.index.manifest["segment_id"] = uuid.uuid4().hex
                if s.name in new or s.name in renamed:
                    s.index.save_segment(out.tmp / name)
                else:
                    assert s.index.location is not None
                    link_folder(s.index.location, out.tmp / name)
                entry = {"name": name, "id": _identity(s.index.manifest, name), "passages": s.passages}
                entries.append({**entry, "deleted": sorted(s.deleted)})
                s.name = name
            manifest = self._version_manifest(segments, entries)
            where, manifest = out.publish(manifest)
        for s in segments:
            s.index.moved_to(where / s.name)
        log.info("index version %s: %d segments", where.name, len(segments))
        return SegmentedIndex(segments, manifest, root)

    def _version_manifest(self, segments: list[Segment], entries: list[dict[str, Any]]) -> dict[str, Any]:
        live = LiveDocuments(segments)
        first = segments[0].index.manifest
        return {
            "format_version": first["format_version"],
            "segments_format": SEGMENTS_FORMAT,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "settings": first["settings"],
            "corpus": {**self.manifest.get("corpus", {}), "fingerprint": None},
            "counts": {
                "documents": len(live),
                "articles": live.articles(),
                "passages": sum(s.passages for s in segments),
                "deleted_passages": sum(int(s.index.document_mask(s.deleted).sum()) for s in segments if s.deleted),
                "terms": max(len(s.index.bm25.vocab) for s in segments),
            },
            "segments": entries,
            "stats": {"mean_idf": union_mean_idf([s.index.bm25 for s in segments], sum(s.passages for s in segments))},
        }


def _identity(manifest: dict[str, Any], name: str) -> str:
    """What a segment is known by across versions: its id (its folder's name changes when a full build's
    folder becomes a segment), or its name for a folder written before segments had ids."""
    return manifest.get("segment_id") or name


def _reusable_vectors(settings: Settings, previous: Backend | None) -> PassageVectors | None:
    """The passage vectors a full build may reuse: ``previous``'s, else the live index's on disk."""
    return getattr(previous, "vectors", None) if previous is not None else previous_vectors(settings)


def previous_vectors(settings: Settings) -> PassageVectors | None:
    """The live index's vectors, for a rebuild to reuse; None if there is no readable index."""
    try:
        return SegmentedIndex.load(settings.index_dir, tokenizer=settings.tokenizer).vectors
    except IndexError_ as exc:
        log.debug("no previous vectors to reuse: %s", exc)
        return None


def _emptied(s: Segment, gone: set[str]) -> bool:
    """Every document of the segment deleted: the new version drops it (both sets hold ids of its
    documents only)."""
    return len(s.deleted | gone) >= len(s.index.documents)


def _new_name() -> str:
    return f"s-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
