"""Opening the configured index, (re)building it from the corpus, and keeping the two in step.

Shared by start-up (``qa-service serve``, the app factory), the CLI and the live
service, so each of them opens, builds and publishes an index the same way,
whichever backend is configured.

Beside the index, ``corpus-state.json`` (in ``QA_INDEX_DIR``, ops/state.py) records what the live
version was built from: the configured corpus (``QA_CORPUS``) at the time, the folders and files
actually indexed (``qa-service index PATHS`` may name others; the upload folder joins them), and the
digest of every document loaded from them -- including those that cleaning empties, which the
index does not keep, so an unchanged corpus always matches.  Start-up compares the corpus with it:
a changed ``QA_CORPUS``, a file present but not indexed, or a changed file makes the index stale.
A stale index that opens is served at once and rebuilt beside it (``catch_up``); only a missing or
unusable one is built before serving.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa_service.core.errors import BackendUnavailable, DocumentError, IndexError_, IndexMissing
from qa_service.core.models import Corpus, Document, document_digests, documents_fingerprint
from qa_service.core.settings import Settings
from qa_service.index import Backend, build_backend, build_backend_streamed, open_backend
from qa_service.index.base import EMPTY_CORPUS
from qa_service.index.embeddings import Embedder, get_embedder
from qa_service.ingest.loaders import load_paths
from qa_service.ingest.pipeline import corpus_from_documents, stream_corpus
from qa_service.ops.lock import write_lock
from qa_service.ops.state import (
    live_version,
    read_state,
    record_build,
    record_change,
    recorded_digests,
    recorded_fingerprint,
    write_state,
)

log = logging.getLogger(__name__)


def configured_embedder(settings: Settings) -> Embedder | None:
    """The embedding model the settings name (None: BM25 only, or the model cannot be loaded)."""
    return get_embedder(settings.embedding_model)


def resolved(paths: Sequence[str | Path]) -> list[str]:
    return [str(Path(p).resolve()) for p in paths]


# -- what the live version was built from -------------------------------------------------------------


def load_corpus(paths: Sequence[str | Path], show_progress: bool = False) -> tuple[Corpus, dict[str, str]]:
    """The corpus of ``paths``, and the digest of every document loaded (kept or not)."""
    paths = resolved(paths)
    docs = list(load_paths(paths))
    return corpus_from_documents(docs, show_progress=show_progress, paths=paths), document_digests(docs)


def publish(
    settings: Settings,
    corpus: Corpus,
    digests: dict[str, str],
    embedder: Embedder | None = None,
    previous: Backend | None = None,
    show_progress: bool = False,
    recreate: bool = False,
    configured: list[str] | None = None,
) -> Backend:
    """Index ``corpus``, make it the live version and record what it was built from (the caller holds
    the write lock).  ``configured``: the ``QA_CORPUS`` in force (default: the one recorded before)."""
    if not corpus.chunks:
        raise DocumentError(EMPTY_CORPUS, "empty_corpus")
    backend = build_backend(settings, corpus, embedder, previous, show_progress=show_progress, recreate=recreate)
    _record_build(settings, corpus.paths, digests, configured)
    return backend


def build_from(
    settings: Settings,
    paths: Sequence[str] | None = None,
    embedder: Embedder | None = None,
    show_progress: bool = False,
    recreate: bool = False,
    configured: list[str] | None = None,
) -> Backend:
    """Load, clean and index ``paths`` (default: the corpus and the upload folder) and publish them,
    one document at a time: the embedded backend spools them to disk instead of holding the corpus
    in memory (index/embedded/spool.py).  With no text left, a DocumentError ("empty_corpus") and
    the live index unchanged.  The caller holds the write lock."""
    found = resolved(paths if paths is not None else settings.corpus_paths())
    stream = stream_corpus(load_paths(found), show_progress=show_progress, paths=found)
    backend = build_backend_streamed(settings, stream, embedder, show_progress=show_progress, recreate=recreate)
    _record_build(settings, stream.paths, stream.digests, configured)
    return backend


def _record_build(settings: Settings, paths: list[str], digests: dict[str, str], configured: list[str] | None) -> None:
    before = read_state(settings) or {}
    record_build(settings, paths, digests, configured or before.get("corpus") or resolved(settings.corpus))


# -- start-up ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Serving:
    backend: Backend  # the live index, opened
    settings: Settings  # with ``corpus`` set to the folders the index serves (and rebuilds from)
    stale: str | None = None  # why it no longer matches them: serve it, and ``catch_up`` beside it
    checked: bool = True  # False: the corpus was not read yet (``catch_up`` beside it will)


def _served(settings: Settings, state: dict[str, Any] | None, built: list[str] | None) -> tuple[Settings, bool]:
    """The settings with the corpus the index serves, and whether ``QA_CORPUS`` changed since it was built."""
    configured = resolved(settings.corpus)
    upload = str(Path(settings.upload_dir).resolve())
    changed = state is not None and state.get("corpus") != configured
    if state is not None and not changed:
        built = state.get("paths")
    corpus = [p for p in (built or []) if p != upload] if not changed else []
    return settings.with_overrides(corpus=corpus or configured), changed


def stale_reason(settings: Settings, backend: Backend, state: dict[str, Any] | None = None) -> str | None:
    """Why the live index no longer matches ``settings.corpus`` and the upload folder (reads them
    all); None if it does, or if the corpus cannot be read (a folder missing or empty: not mounted)."""
    return _compare(settings, backend, state)[0]


def _same_folders(settings: Settings, built: list[str] | None, paths: list[str]) -> bool:
    """Whether an index built from the folders ``built`` reads the folders ``paths`` (the upload folder
    aside: it joins the corpus once it exists)."""
    upload = str(Path(settings.upload_dir).resolve())
    return [p for p in built or [] if p != upload] == [p for p in paths if p != upload]


def _compare(settings: Settings, backend: Backend, state: dict[str, Any] | None) -> tuple[str | None, list[Document]]:
    """``stale_reason``, and the documents read to find it (for the catch-up to use, not read again)."""
    paths = resolved(settings.corpus_paths())
    if state is not None and state.get("version") == live_version(settings):
        built, expected = state.get("paths"), recorded_fingerprint(settings, state)
    else:  # built by something that wrote no state: the index's own record (kept documents only)
        built, expected = (
            backend.manifest.get("corpus", {}).get("paths"),
            backend.manifest.get("corpus", {}).get("fingerprint"),
        )
    missing = [p for p in resolved(settings.corpus) if not Path(p).exists()]
    docs = [] if missing else list(load_paths(paths))
    if not docs:
        log.warning("the corpus (%s) is missing or empty: serving the index as built", ", ".join(paths))
        return None, docs
    if not _same_folders(settings, built, paths):
        return f"stale: the corpus folders changed (built from {', '.join(built or [])})", docs
    if documents_fingerprint(docs) != expected:  # the upload folder's documents count in it
        return "stale: the corpus changed since it was built", docs
    return None, docs


def open_for_serving(
    settings: Settings, embedder: Embedder | None = None, show_progress: bool = False, read_corpus: bool = True
) -> Serving:
    """Open the index to serve, and say whether it is stale; only a missing or unusable index is built
    first (if ``settings.build_if_missing``).  Without ``read_corpus``, an index that opens is not
    compared with the corpus files (reading them all takes 40 s at a million documents): the caller
    serves it and runs ``catch_up`` beside it, which does."""
    state = read_state(settings)
    try:
        backend = open_backend(settings)
    except BackendUnavailable:
        raise  # the engine does not answer, or would need --recreate: nothing a rebuild here fixes
    except IndexMissing as exc:
        reason = f"missing ({exc})"
    except IndexError_ as exc:
        reason = f"unusable ({exc})"
    else:
        served, changed = _served(settings, state, backend.manifest.get("corpus", {}).get("paths"))
        if changed:
            with write_lock(settings.index_dir):  # from now on the configured corpus is the one to serve
                write_state(
                    settings,
                    {
                        **(state or {}),
                        "corpus": resolved(settings.corpus),
                        "paths": resolved(served.corpus_paths()),
                        "fingerprint": None,
                    },
                )
            return Serving(backend, served, f"stale: QA_CORPUS changed (was {', '.join(state['corpus'])})")
        if not read_corpus:
            return Serving(backend, served, checked=False)
        stale = stale_reason(served, backend, state)
        if stale is None and embedder is not None and settings.build_if_missing:
            backend.add_vectors(embedder, served, show_progress=show_progress)
        return Serving(backend, served, stale)
    served, _ = _served(settings, state, None)
    return Serving(_build_missing(served, reason, embedder, show_progress, resolved(settings.corpus)), served)


def _build_missing(
    settings: Settings, reason: str, embedder: Embedder | None, show_progress: bool, configured: list[str] | None
) -> Backend:
    """``reason``: "missing (…)" or "unusable (…)", as the callers found the index."""
    where = os.path.abspath(settings.index_dir)
    detail = reason.removeprefix("missing").removeprefix("unusable").strip().removeprefix("(").removesuffix(")")
    if reason.startswith("missing"):
        problem = f"there is no index in {where} yet" + (f" ({detail})" if detail else "")
    else:
        problem = f"the index in {where} cannot be used: {detail}"
    if not settings.build_if_missing:
        raise IndexMissing(f"{problem}; build it with `qa-service index`")
    log.warning("%s; building it from %s", problem, ", ".join(settings.corpus))
    with write_lock(settings.index_dir):
        return build_from(settings, embedder=embedder, show_progress=show_progress, configured=configured)


def catch_up(settings: Settings, embedder: Embedder | None = None, show_progress: bool = False) -> bool:
    """Rebuild the index if it is (still) stale against ``settings.corpus``; True if it was rebuilt.
    Runs beside a serving index: the workers load the new version when it is published.  The corpus
    is compared without the write lock, so uploads go on while it is read; a stale index is brought
    up to date under the lock, from what was read then if no version was published meanwhile."""
    looked = _compare_unlocked(settings)
    if looked is not None and looked[0] is None:
        return False
    with write_lock(settings.index_dir):
        try:
            backend = open_backend(settings)
        except BackendUnavailable:
            raise
        except IndexError_ as exc:
            reason: str | None = f"unusable ({exc})"
        else:
            state = read_state(settings)
            if looked is not None and looked[2] == live_version(settings):
                reason, docs = looked[0], looked[1]  # nothing published since: the comparison stands
            else:
                reason, docs = _compare(settings, backend, state)
            if reason is not None and _catch_up_by_document(settings, backend, state, docs, embedder):
                return True
            backend.close()
        if reason is None:
            return False
        where = os.path.abspath(settings.index_dir)
        log.warning("the index in %s is %s; rebuilding it beside the live one", where, reason)
        build_from(settings, embedder=embedder, show_progress=show_progress).close()
        return True


def _compare_unlocked(settings: Settings) -> tuple[str | None, list[Document], str | None] | None:
    """``_compare`` of the live index without the write lock, and the version it compared; None if
    the index cannot be opened."""
    version = live_version(settings)
    try:
        backend = open_backend(settings)
    except BackendUnavailable:
        raise
    except IndexError_:
        return None
    try:
        reason, docs = _compare(settings, backend, read_state(settings))
    finally:
        backend.close()
    return reason, docs, version


def _catch_up_by_document(
    settings: Settings,
    backend: Backend,
    state: dict[str, Any] | None,
    docs: list[Document],
    embedder: Embedder | None,
) -> bool:
    """Bring a stale index up to date from ``docs`` (the corpus as read now) by adding the new and
    changed documents and deleting the removed ones, when the record says which changed (same
    folders, per-document digests kept) and the backend can; True if it did."""
    digests = recorded_digests(settings, state)
    paths = resolved(settings.corpus_paths())
    if digests is None or (state or {}).get("version") != live_version(settings):
        return False
    if not _same_folders(settings, (state or {}).get("paths"), paths):
        return False  # other folders: a full build
    now = document_digests(docs)
    added = [d for d in docs if digests.get(d.id) != now[d.id]]
    removed = [doc_id for doc_id in digests if doc_id not in now]
    changed = backend.apply(corpus_from_documents(added, paths=paths), removed + [d.id for d in added], embedder)
    if changed is None:
        return False
    log.warning(
        "the index in %s was stale: added %d new or changed documents and deleted %d beside the live one",
        os.path.abspath(settings.index_dir),
        len(added),
        len(removed),
    )
    changed.close()
    record_change(settings, added, removed)
    return True


def ensure_backend(
    settings: Settings,
    check_stale: bool = False,
    show_progress: bool = False,
    embedder: Embedder | None = None,
) -> Backend:
    """Open the configured index, (re)building it from the corpus if it is missing or unusable (and
    ``settings.build_if_missing``).  With ``check_stale``, a stale index is rebuilt first too.  With
    ``embedder``, an index lacking that model's passage vectors gets them where the backend can add them."""
    if check_stale:
        start = open_for_serving(settings, embedder, show_progress)
        if start.stale is None:
            return start.backend
        start.backend.close()
        catch_up(start.settings, embedder, show_progress)
        return open_backend(start.settings)
    try:
        backend = open_backend(settings)
    except BackendUnavailable:
        raise
    except IndexMissing as exc:
        return _build_missing(settings, f"missing ({exc})", embedder, show_progress, None)
    except IndexError_ as exc:
        return _build_missing(settings, f"unusable ({exc})", embedder, show_progress, None)
    if embedder is not None and settings.build_if_missing:
        backend.add_vectors(embedder, settings, show_progress=show_progress)
    return backend
