"""Opening the configured index, and (re)building it from the corpus when it is missing or stale.

Shared by start-up (``qa-service serve``, the app factory), the CLI and the live
service, so each of them opens, builds and publishes an index the same way,
whichever backend is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from qa_service.core.errors import BackendUnavailable, IndexError_, IndexMissing
from qa_service.core.models import documents_fingerprint
from qa_service.core.settings import Settings
from qa_service.index import Backend, build_backend, open_backend
from qa_service.index.embeddings import Embedder, get_embedder
from qa_service.ingest.loaders import load_paths
from qa_service.ingest.pipeline import build_corpus
from qa_service.ops.lock import write_lock

log = logging.getLogger(__name__)


def configured_embedder(settings: Settings) -> Embedder | None:
    """The embedding model the settings name (None: BM25 only, or the model cannot be loaded)."""
    return get_embedder(settings.embedding_model)


def stale_reason(backend: Backend, corpus_paths: Sequence[str]) -> str | None:
    """Why an index built from the same corpus paths no longer matches their files (reads them all)."""
    built = backend.manifest.get("corpus", {})
    if built.get("paths") != [str(Path(p).resolve()) for p in corpus_paths]:
        return None
    if documents_fingerprint(load_paths(corpus_paths)) != built.get("fingerprint"):
        return "stale: the corpus changed since it was built"
    return None


def ensure_backend(
    settings: Settings,
    check_stale: bool = False,
    show_progress: bool = False,
    embedder: Embedder | None = None,
) -> Backend:
    """Open the configured index, (re)building it from the corpus if it is missing or unusable (and
    ``settings.build_if_missing``).  With ``check_stale``, an index built from the same corpus paths
    whose files have changed since is rebuilt too.  With ``embedder``, an index lacking that model's
    passage vectors gets them where the backend can add them."""
    corpus_paths = settings.corpus_paths()
    try:
        backend = open_backend(settings)
        reason = stale_reason(backend, corpus_paths) if check_stale else None
        if reason is None:
            if embedder is not None and settings.build_if_missing:
                backend.add_vectors(embedder, settings, show_progress=show_progress)
            return backend
        backend.close()
    except BackendUnavailable:
        raise  # the engine does not answer, or would need --recreate: nothing a rebuild here fixes
    except IndexMissing as exc:
        reason = f"missing ({exc})"
    except IndexError_ as exc:
        reason = f"unusable ({exc})"
    if not settings.build_if_missing:
        raise IndexMissing(f"the index in {settings.index_dir} is {reason}; build it with `qa-service index`")
    log.warning("the index in %s is %s: building it from %s", settings.index_dir, reason, ", ".join(corpus_paths))
    corpus = build_corpus(corpus_paths, show_progress=show_progress)
    with write_lock(settings.index_dir):
        return build_backend(settings, corpus, embedder, show_progress=show_progress)
