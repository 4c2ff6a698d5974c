"""What the live index version was built from, recorded beside it (in ``QA_INDEX_DIR``).

``corpus-state.json`` says which corpus (``QA_CORPUS``) and folders the live version was built from,
the fingerprint of every document loaded from them at the last full build, and the documents changed
one by one since (``changes``: id -> digest, or null once deleted).  The digest of every document of
that full build is in its own file, ``corpus-digests-<version>.json``, written once per full build:
an upload rewrites only the small state file.  At a million documents the digests are about 70 MB of
JSON; reading, updating and rewriting them and re-hashing them all for the fingerprint took about 8 s
per upload on this machine, where the state file now takes milliseconds.  The whole record
(``recorded_digests``) and its fingerprint are put together only where the corpus itself is read in
full anyway: at start-up, to tell whether the index is stale, and when it catches up by document.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa_service.core.models import Document, document_digests, fingerprint_of
from qa_service.core.settings import Settings
from qa_service.index import pointer_dir
from qa_service.index.publish import CURRENT, replace_file

log = logging.getLogger(__name__)

STATE_FILE = "corpus-state.json"
DIGESTS_PREFIX = "corpus-digests-"


def live_version(settings: Settings) -> str | None:
    """The name of the live index version (what ``CURRENT`` says), None if there is none."""
    try:
        return (pointer_dir(settings) / CURRENT).read_text("utf-8").strip() or None
    except OSError:
        return None


def read_state(settings: Settings) -> dict[str, Any] | None:
    try:
        state = json.loads((Path(settings.index_dir) / STATE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def write_state(settings: Settings, state: dict[str, Any]) -> None:
    replace_file(Path(settings.index_dir) / STATE_FILE, json.dumps(state, ensure_ascii=False).encode("utf-8"))


def record_build(settings: Settings, paths: list[str], digests: dict[str, str], corpus: list[str]) -> None:
    """After a full build: its corpus (``QA_CORPUS``), folders and document digests.  The digests go to a
    new file first, then the state naming it replaces the old state, then older digest files go."""
    root = Path(settings.index_dir)
    name = f"{DIGESTS_PREFIX}{uuid.uuid4().hex[:12]}.json"
    replace_file(root / name, json.dumps(digests, ensure_ascii=False).encode("utf-8"))
    state = {
        "corpus": corpus,
        "paths": paths,
        "fingerprint": fingerprint_of(digests),
        "digests": name,
        "changes": {},
        "version": live_version(settings),
    }
    write_state(settings, state)
    for old in root.glob(f"{DIGESTS_PREFIX}*.json"):
        if old.name != name:
            old.unlink(missing_ok=True)


def record_change(settings: Settings, added: Sequence[Document], removed: Sequence[str]) -> None:
    """After documents were added to or removed from the live version one by one: the record follows
    (the caller holds the write lock).  A record without per-document digests cannot follow: its
    fingerprint is dropped, so the next start-up rebuilds once."""
    state = read_state(settings) or {}
    version = live_version(settings)
    if not _has_digests(state):
        write_state(settings, {**state, "fingerprint": None, "version": version})
        return
    changes = dict(state.get("changes") or {})
    for doc_id in removed:
        changes[doc_id] = None
    changes.update(document_digests(added))
    write_state(settings, {**state, "changes": changes, "version": version})


def _has_digests(state: dict[str, Any]) -> bool:
    return isinstance(state.get("digests"), str) or isinstance(state.get("documents"), dict)


def recorded_digests(settings: Settings, state: dict[str, Any] | None) -> dict[str, str] | None:
    """The digest of every document the live version holds, as recorded: the last full build's with the
    changes since applied.  None if the record has none (or its digests file cannot be read)."""
    if state is None or not _has_digests(state):
        return None
    base = state.get("documents")  # a record written before the digests had a file of their own
    if not isinstance(base, dict):
        try:
            base = json.loads((Path(settings.index_dir) / state["digests"]).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("the recorded document digests cannot be read (%s)", exc)
            return None
    if not isinstance(base, dict):
        return None
    for doc_id, digest in (state.get("changes") or {}).items():
        if digest is None:
            base.pop(doc_id, None)
        else:
            base[doc_id] = digest
    return base


def recorded_fingerprint(settings: Settings, state: dict[str, Any]) -> str | None:
    """The fingerprint of the documents the live version holds (None: unknown)."""
    if state.get("fingerprint") is None or not state.get("changes"):
        return state.get("fingerprint")
    digests = recorded_digests(settings, state)
    return None if digests is None else fingerprint_of(digests)
