"""The question-answering service: retrieval plus answer composition over one index.

Used by the HTTP API and the CLI alike, so both return the same JSON.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa_service.core.settings import Settings, from_env
from qa_service.index.embedded.hybrid import (
    FROM_SETTINGS,
    EmbedderChoice,
    FusionSettings,
    make_ranker,
    resolve_embedder,
    vectors_match,
)
from qa_service.index.embedded.store import (
    EmbeddedIndex,
    IndexError_,
    IndexIncompatible,
    IndexMissing,
    load_previous_vectors,
    read_manifest,
)
from qa_service.ingest.loaders import load_paths
from qa_service.ingest.pipeline import build_corpus, documents_fingerprint
from qa_service.qa.answer import compose, highlights
from qa_service.qa.retrieve import Retriever

if TYPE_CHECKING:
    from qa_service.index.milvus.backend import MilvusIndex

log = logging.getLogger(__name__)

# Candidate pool for list questions: items may come from beyond the top_k shown.
POOL = 30


class QAService:
    def __init__(
        self,
        index: EmbeddedIndex | MilvusIndex,
        embedder: EmbedderChoice = FROM_SETTINGS,
        fusion: FusionSettings | None = None,
    ) -> None:
        """Hybrid retrieval when ``embedder`` (default: QA_EMBEDDING_MODEL's) matches the index's
        vectors, BM25 otherwise; ``fusion`` defaults to QA_HYBRID_WEIGHT / QA_HYBRID_FUSION.
        An index that ranks elsewhere (the Milvus backend) brings its own rankers."""
        self.index = index
        fusion = fusion or FusionSettings.from_settings(from_env())
        model = resolve_embedder(embedder)
        own = getattr(index, "make_ranker", None)
        ranker = own(model, fusion) if own is not None else make_ranker(index, model, fusion)  # type: ignore[arg-type]
        self.retriever = Retriever(index, ranker)  # type: ignore[arg-type]

    @property
    def mode(self) -> str:
        return self.retriever.ranker.mode

    def ask(
        self, question: str, history: Sequence[dict[str, str]] = (), top_k: int = 5, explain: bool = False
    ) -> dict[str, Any]:
        t0 = time.perf_counter()
        query = self.retriever.query(question, history)
        pool = self.retriever.search(query, max(top_k, POOL))
        answer, passages = compose(
            self.index.tokenizer,
            query,
            pool,
            top_k,
            self.index.bm25.term_idf,
            self.index.bm25.max_idf,
            self.index.document_text,
        )
        out_passages = []
        for hit in passages:
            c = hit.chunk
            item: dict[str, Any] = {
                "id": c.id,
                "text": c.text,
                "score": round(hit.score, 4),
                "highlights": highlights(self.index.tokenizer, query, c.text),
                "source": c.source(),
            }
            if explain:
                item["explain"] = hit.explain
            out_passages.append(item)
        result: dict[str, Any] = {
            "question": question,
            "mode": self.mode,
            "answer": answer.to_dict(),
            "passages": out_passages,
        }
        if query.followup:
            result["rewritten_question"] = query.text
        result["took_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        return result


def ensure_index(
    index_dir: str | Path,
    corpus: Sequence[str],
    build_if_missing: bool = True,
    check_stale: bool = False,
    show_progress: bool = False,
    embedder: EmbedderChoice = FROM_SETTINGS,
) -> EmbeddedIndex:
    """Load the index, (re)building it from ``corpus`` if it is missing or incompatible.

    With ``check_stale``, an index built from the same corpus paths whose files
    have changed since is rebuilt too (this reads every corpus file).  With an
    embedding model (default: QA_EMBEDDING_MODEL's), an index lacking that
    model's passage vectors gets them (if building is allowed), and a rebuild
    reuses the vectors of passages whose text did not change.
    """
    model = resolve_embedder(embedder)
    batch = from_env().embedding_batch
    reason = None
    try:
        manifest = read_manifest(index_dir)
        if check_stale and manifest.get("corpus", {}).get("paths") == [str(Path(p).resolve()) for p in corpus]:
            current = documents_fingerprint(load_paths(corpus))
            if current != manifest["corpus"].get("fingerprint"):
                reason = "stale: the corpus changed since it was built"
        if reason is None:
            index = EmbeddedIndex.load(index_dir)
            if model is not None and build_if_missing and not vectors_match(index.vectors, model):
                log.warning("index in %s has no passage vectors from %s: adding them", index_dir, model.model_id)
                index.embed(model, batch_size=batch, show_progress=show_progress)
                index.save(index_dir)
            return index
    except IndexMissing:
        reason = "missing"
    except IndexIncompatible as exc:
        reason = f"incompatible ({exc})"
    except IndexError_ as exc:
        reason = f"unusable ({exc})"
    if not build_if_missing:
        raise IndexMissing(f"index in {index_dir} is {reason}; build it with `qa-service index`")
    log.warning("index in %s is %s; building it from %s", index_dir, reason, ", ".join(corpus))
    previous = load_previous_vectors(index_dir) if model is not None else None
    index = EmbeddedIndex.build(
        build_corpus(corpus, show_progress=show_progress),
        show_progress=show_progress,
        embedder=model,
        previous=previous,
        batch_size=batch,
    )
    index.save(index_dir)
    return index


def open_index(
    settings: Settings,
    check_stale: bool = False,
    show_progress: bool = False,
    embedder: EmbedderChoice = FROM_SETTINGS,
) -> EmbeddedIndex | MilvusIndex:
    """The index of the configured backend (QA_BACKEND): the embedded index folder, or the Milvus
    collection with its local metadata.  Either is built from the corpus if missing and allowed."""
    if settings.backend == "milvus":
        from qa_service.index.milvus.backend import ensure_milvus_index

        return ensure_milvus_index(
            settings, check_stale=check_stale, show_progress=show_progress, embedder=resolve_embedder(embedder)
        )
    return ensure_index(
        settings.index_dir,
        settings.corpus_paths(),
        settings.build_if_missing,
        check_stale=check_stale,
        show_progress=show_progress,
        embedder=embedder,
    )
