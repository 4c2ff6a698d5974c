"""The index a running service answers from, and the only way it changes while serving.

* Reads never wait for writes: a rebuild runs beside the live index and is
  swapped in (one attribute assignment) only when it is complete and saved.
* Writes are serialised across threads and processes (gunicorn workers, a
  ``qa-service index`` run) by a lock file in the index folder, and act on the
  shared state on disk: under the lock a worker first loads any version another
  one published, so every worker answers every write the same way.
* Other processes notice a new ``CURRENT`` before their next request and load it
  before answering it (waiting for a load already under way): once a write has
  been answered, every later request, in any worker, sees it.
* Corpus files are never lost: uploads are written atomically, a failed
  rebuild rolls the file change back, a rebuild that would drop documents the
  index holds (a corpus folder gone or unmounted) is refused, and a deleted
  document is moved to the hidden ``.trash/`` folder of its corpus folder, not
  unlinked.  An upload that would not be indexed (no text after cleaning) is
  refused before anything is written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa_service.core.errors import DocumentError, IndexBusy, IndexError_
from qa_service.core.models import ChunkSettings, Document
from qa_service.core.settings import Settings
from qa_service.index import Backend, open_backend, pointer_dir
from qa_service.index.catalog import LISTED
from qa_service.index.publish import CURRENT, replace_file
from qa_service.ingest.formats import FormatError
from qa_service.ingest.loaders import (
    BINARY_SUFFIXES,
    HTML_SUFFIXES,
    TEXT_SUFFIXES,
    DecodeError,
    binary_document,
    decode_bytes,
    text_document,
)
from qa_service.ingest.pipeline import corpus_from_documents, process_document
from qa_service.ops.build import configured_embedder, load_corpus, publish
from qa_service.ops.lock import busy_message, write_lock
from qa_service.ops.state import record_change
from qa_service.qa.service import QAService

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | BINARY_SUFFIXES
# File names are limited to 255 bytes (not characters: a CJK character is 3 bytes in UTF-8); a
# deleted document's name in .trash/ gets a 23-byte prefix.
MAX_NAME_BYTES = 200
NAME_LIMIT_BYTES = 255
# Loads of a version superseded while it was read, followed to the newer one, before giving up.
RELOAD_ATTEMPTS = 3


def fit_name(stem: str, suffix: str, limit: int) -> str:
    """``stem.suffix``, the stem shortened (whole characters) until the name is at most ``limit`` bytes."""
    room = limit - len(suffix.encode()) - 1
    cut = stem.encode()[:room].decode("utf-8", "ignore")
    return f"{cut}.{suffix}"


def sanitise_filename(name: str) -> str:
    """A safe file name for an upload: no folders, no traversal, no control characters."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]  # browsers may send C:\path\file.txt
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"[^\w.\-\u3000-\u303f\u4e00-\u9fff（）()]+", "_", name).strip("._ ")
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        raise DocumentError(
            "The file name needs a name and an extension (.txt, .md, .html, .pdf or .docx).", "invalid_filename"
        )
    if f".{suffix.lower()}" not in UPLOAD_SUFFIXES:
        raise DocumentError(
            f"Only {', '.join(sorted(UPLOAD_SUFFIXES))} files can be uploaded, not .{suffix}.", "unsupported_type"
        )
    return fit_name(stem, suffix.lower(), MAX_NAME_BYTES)


@dataclass
class _State:
    service: QAService | None
    version: str | None


class LiveIndex:
    def __init__(
        self,
        settings: Settings,
        service: QAService | None = None,
        make_service: Callable[[Backend], QAService] = QAService,
    ) -> None:
        self.settings = settings
        self.make_service = make_service
        # The folder whose CURRENT names the live version (the index, or a backend's metadata store).
        self.pointer_root = pointer_dir(settings)
        self._state = _State(service, self._pointer())
        self._reload_lock = threading.Lock()
        self._unreadable: str | None = None  # the last version that could not be loaded...
        self._failures = 0  # ...and how many loads have failed, so waiters do not repeat one
        self._write_lock = threading.Lock()
        self._checked = time.monotonic()
        self.error: str | None = None
        self.merge_in_background = True
        self._merging = threading.Lock()
        self._merger: threading.Thread | None = None

    # -- reading ----------------------------------------------------------
    def _pointer(self) -> str | None:
        try:
            return (self.pointer_root / CURRENT).read_text("utf-8").strip() or None
        except OSError:
            return None

    @property
    def service(self) -> QAService | None:
        self._maybe_reload()
        return self._state.service

    def _maybe_reload(self) -> None:
        # One small file read per request (reload_check_seconds is 0 by default): a write is answered
        # only after its version is in CURRENT, so comparing CURRENT with the version held is what lets
        # a later request, in any worker, see that write.
        now = time.monotonic()
        if now - self._checked < self.settings.reload_check_seconds:
            return
        self._checked = now
        version = self._pointer()
        if version is None or version == self._state.version:
            return
        # Wait for a load another thread has started (a request, or the merge thread catching up under
        # the write lock) rather than answer from the version held: that one may predate a write
        # already answered.  Only requests that find a new version wait, and only for one load.
        failures = self._failures
        with self._reload_lock:
            self._catch_up(failures)

    def _catch_up(self, failures: int) -> None:
        """Load the version CURRENT names now, unless it is held already (the thread waited for got
        it).  A version another process superseded and removed while it was being read is followed to
        the newer one; a version that cannot be read leaves the held one serving."""
        for _ in range(RELOAD_ATTEMPTS):
            version = self._pointer()
            if version is None or version == self._state.version:
                return
            if version == self._unreadable and failures != self._failures:
                return  # another thread failed on it while this one waited: not every request retries
            try:
                index = self._load()
            except (IndexError_, OSError) as exc:  # OSError: a file removed between its check and its read
                if self._pointer() != version:
                    continue
                self._unreadable, self._failures = version, self._failures + 1
                log.warning("new index version %s not loaded, still serving %s: %s", version, self._state.version, exc)
                return
            # Labelled with the version read before loading: what was loaded is that one or newer, so
            # at worst the next request loads once more.
            self._swap(self.make_service(index), version)
            log.info("loaded index version %s", version)
            return

    def _load(self) -> Backend:
        live = self._state.service
        return open_backend(self.settings, previous=live.index if live is not None else None)

    def _swap(self, service: QAService, version: str | None) -> None:
        service.index.tokenizer.tokens("预热")  # load jieba's dictionary before the first query
        self._state = _State(service, version)
        self.error = None

    # -- writing ----------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self, wait: float | None = None) -> Iterator[None]:
        """Both locks, then the shared state on disk: a version another process published since this one
        last looked is loaded first, so the write is checked against what is really live.  ``wait``:
        seconds to wait for the locks before ``IndexBusy`` (None: as long as another write takes)."""
        t0 = time.monotonic()
        if not self._write_lock.acquire(timeout=-1 if wait is None else wait):
            raise IndexBusy(busy_message(wait or 0.0))
        try:
            left = None if wait is None else max(0.0, wait - (time.monotonic() - t0))
            with write_lock(self.settings.index_dir, left):
                version = self._pointer()
                if version is not None and version != self._state.version:
                    with self._reload_lock:
                        self._swap(self.make_service(self._load()), version)
                yield
        finally:
            self._write_lock.release()

    def _change(self, added: Document | None = None, removed: str | None = None) -> QAService:
        """Make the change to the live index: by document where the backend can (a new segment, a
        deletion mark: seconds however large the index), else by rebuilding from the corpus folders."""
        live = self._state.service
        docs = [added] if added is not None else []
        gone = [removed] if removed is not None else []
        paths = [str(Path(p).resolve()) for p in self.settings.corpus_paths()]
        index = None
        if live is not None:
            corpus = corpus_from_documents(docs, paths=paths)
            index = live.index.apply(corpus, gone + [d.id for d in docs], configured_embedder(self.settings))
        if index is None:
            return self._rebuild(added.id if added is not None else None, removed)
        record_change(self.settings, docs, gone)
        service = self.make_service(index)
        self._swap(service, self._pointer())
        self._merge_soon()
        return service

    def _merge_soon(self) -> None:
        """Start the background merge (segments.py) unless one is running in this process."""
        if not self.merge_in_background or not self._merging.acquire(blocking=False):
            return
        self._merger = threading.Thread(target=self._merge_all, name="index-merge", daemon=True)
        self._merger.start()

    def _merge_all(self) -> None:
        """Merge while the policy finds segments to merge.  Each merge is built without any lock (queries
        and writes go on) and published under the write lock; one that lost a race is dropped."""
        try:
            while True:
                live = self._state.service
                snapshot = live.index if live is not None else None
                names = snapshot.merge_plan() if snapshot is not None else []
                if not names or snapshot is None:
                    return
                t0 = time.monotonic()
                merged = snapshot.merge(names)
                with self._writing():
                    current = self._state.service
                    index = current.index.replace(names, merged, snapshot) if current is not None else None
                    if index is None:
                        return
                    record_change(self.settings, [], [])
                    self._swap(self.make_service(index), self._pointer())
                log.info("merged %d index segments in %.1fs", len(names), time.monotonic() - t0)
        except Exception:  # a failed merge leaves the live version as it was
            log.exception("merging index segments failed; the index stays as it is")
        finally:
            self._merging.release()

    def wait_for_merges(self, timeout: float | None = None) -> None:
        """Until the background merge (if any) is done: for tests and orderly shutdown."""
        if self._merger is not None:
            self._merger.join(timeout)

    def _rebuild(self, added: str | None = None, removed: str | None = None) -> QAService:
        """Index the corpus folders as they are now (``added`` just written, ``removed`` just moved out)."""
        corpus, digests = load_corpus(self.settings.corpus_paths())
        ids = {d.id for d in corpus.documents}
        live = self._state.service
        self._check_nothing_lost(corpus.documents, live, ids | {removed})
        if added is not None and added not in ids:
            raise DocumentError("The document has no text left after cleaning; it was not added.", "no_text")
        # What the live index can lend is reused: vectors of unchanged passages, a Milvus connection.
        embedder = configured_embedder(self.settings)
        index = publish(self.settings, corpus, digests, embedder, live.index if live is not None else None)
        service = self.make_service(index)
        self._swap(service, self._pointer())
        return service

    def _check_nothing_lost(self, documents: list, live: QAService | None, kept: set[str | None]) -> None:
        """Refuse a rebuild that would drop every document of a corpus folder the index holds documents
        of: the folder is missing or unmounted, not emptied on purpose (single files removed by hand are
        let go: the index catches up with them)."""
        lost = [d for d in (live.index.documents if live is not None else []) if d["id"] not in kept]
        found = [Path(d.path).resolve() for d in documents]
        for root in (Path(p).resolve() for p in self.settings.corpus_paths()):
            gone = [d["id"] for d in lost if Path(d["path"]).resolve().is_relative_to(root)]
            if gone and not any(p.is_relative_to(root) for p in found):
                raise DocumentError(
                    f"{root} no longer holds the {len(gone)} indexed document(s) it held (e.g. {gone[0]!r}): is it "
                    "missing or not mounted? Nothing was changed.",
                    "corpus_unavailable",
                )

    def add_document(self, filename: str, data: bytes) -> dict[str, Any]:
        name = sanitise_filename(filename)
        upload_dir = Path(self.settings.upload_dir)
        target = upload_dir / name
        doc = self._read(name, data, target)
        if not process_document(doc, ChunkSettings())[1]:
            raise DocumentError("The document has no text left after cleaning; it was not added.", "no_text")
        with self._writing(self.settings.write_wait_seconds):
            current = self._state.service
            if current is not None and current.index.document(name) is not None:
                raise DocumentError(f"A document with id {name!r} already exists; delete it first.", "conflict")
            upload_dir.mkdir(parents=True, exist_ok=True)
            if target.exists():
                raise DocumentError(f"A document named {name!r} already exists; delete it first.", "conflict")
            replace_file(target, data)  # a crash leaves the file whole or absent, never half-written
            try:
                service = self._change(added=doc)
            except BaseException:
                target.unlink(missing_ok=True)  # the corpus is back as it was; the old index is still live
                raise
        doc = service.index.document(name) or {}
        return {k: doc.get(k) for k in LISTED}  # as GET /api/documents lists it

    def _read(self, name: str, data: bytes, target: Path) -> Document:
        """The upload as the index will read it: every check of a corpus file, before anything is written."""
        if len(data) > self.settings.max_upload_bytes:
            raise DocumentError(
                f"The document is larger than {self.settings.max_upload_bytes} bytes.", "payload_too_large"
            )
        if target.suffix.lower() not in BINARY_SUFFIXES:
            return text_document(name, self._decode(data), target)
        try:
            return binary_document(name, data, target)
        except FormatError as exc:  # encrypted, damaged, past a size bound: the message says which
            raise DocumentError(str(exc), exc.code) from exc

    def _decode(self, data: bytes) -> str:
        try:
            text = decode_bytes(data)
        except DecodeError as exc:
            raise DocumentError(f"The document is not UTF-8 or GB18030 text ({exc}).", "bad_encoding") from exc
        if not text.strip():
            raise DocumentError("The document has no text.", "empty_document")
        return text

    def delete_document(self, doc_id: str) -> dict[str, Any]:
        with self._writing(self.settings.write_wait_seconds):
            current = self._state.service
            doc = current.index.document(doc_id) if current is not None else None
            if doc is None:
                return self._delete_unindexed(doc_id)
            path = Path(doc["path"]).resolve()
            root = self._root_of(path)
            if root is None or doc["format"] == "jsonl":
                raise DocumentError(
                    f"Document {doc_id!r} is not a file of the corpus folders; it cannot be deleted here.", "read_only"
                )
            if not path.is_file():  # removed behind the service's back: the index catches up
                self._change(removed=doc_id)
                return {"deleted": doc_id, "kept_at": None}
            kept = _to_trash(path, root)
            try:
                self._change(removed=doc_id)
            except BaseException:
                os.replace(kept, path)
                raise
        return {"deleted": doc_id, "kept_at": str(kept.relative_to(root))}

    def _delete_unindexed(self, doc_id: str) -> dict[str, Any]:
        """A file of the upload folder that no index holds (left by an older version, or written by an
        upload a crash interrupted) can be deleted too; anything else is not found."""
        root = Path(self.settings.upload_dir).resolve()
        path = root / doc_id
        if not (root.is_dir() and path.parent == root and path.is_file() and not doc_id.startswith(".")):
            raise DocumentError(f"No document with id {doc_id!r}.", "not_found")
        kept = _to_trash(path, root)
        log.info("deleted %s, which was not indexed (kept at %s)", doc_id, kept)
        return {"deleted": doc_id, "kept_at": str(kept.relative_to(root))}

    def _root_of(self, path: Path) -> Path | None:
        for p in self.settings.corpus_paths():
            root = Path(p).resolve()
            if root.is_dir() and path.is_relative_to(root):
                return root
        return None


def _to_trash(path: Path, root: Path) -> Path:
    """Move ``path`` into ``root/.trash/`` under a dated, unique name that fits the file-name limit."""
    trash = root / ".trash"
    trash.mkdir(exist_ok=True)
    prefix = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}-"
    stem, _, suffix = path.name.rpartition(".")
    kept = trash / (prefix + fit_name(stem or path.name, suffix, NAME_LIMIT_BYTES - len(prefix.encode())))
    os.replace(path, kept)
    return kept
