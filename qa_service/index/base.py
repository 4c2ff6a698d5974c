"""The seam between the service and whatever holds the passages: the ``Backend`` protocol.

Every backend (``embedded/``: the index folder; ``milvus/``: a Milvus
collection plus a small local metadata store) offers the same things, so
nothing above ``index/`` needs to know which one is configured:

* **retrieval** through a :class:`Ranker` it makes for the configured
  embedding model (BM25 alone, or BM25 fused with dense vectors);
* **term statistics** for answer composition (``term_idf``, ``max_idf``);
* **documents**: the list, one document with its original text and articles;
* **health** and **close**;
* **building**: ``create(corpus, settings, …)`` writes a new live version and
  returns it; ``open(settings, …)`` loads the live version.  Both are
  classmethods; ``index.open_backend`` / ``index.build_backend`` pick the class.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from qa_service.core.models import Corpus, CorpusStream, Hit, Query
from qa_service.core.settings import Settings
from qa_service.core.tokenizer import Tokenizer
from qa_service.index.records import RecordTable

if TYPE_CHECKING:
    from qa_service.index.embeddings import Embedder
    from qa_service.index.fusion import FusionSettings


@dataclass(frozen=True)
class Filters:
    """Which passages a question may be answered from (``POST /api/ask``'s ``filters``): published
    within [``published_from``, ``published_to``] (ISO dates, inclusive; a passage without a date is
    out once either is set), by ``publisher``, in one of ``documents``.  Every backend applies them
    inside retrieval, so the k best are the k best of the passages that match."""

    published_from: str | None = None
    published_to: str | None = None
    publisher: str | None = None
    documents: tuple[str, ...] | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.published_from, self.published_to, self.publisher, self.documents))

    def matches(self, article: Mapping[str, Any]) -> bool:
        """Whether the passages of ``article`` (``document``, ``published``, ``publisher``) match."""
        published = article.get("published") or ""
        if self.published_from is not None and not (published and published >= self.published_from):
            return False
        if self.published_to is not None and not (published and published <= self.published_to):
            return False
        if self.publisher is not None and article.get("publisher") != self.publisher:
            return False
        return self.documents is None or article.get("document") in self.documents

    def article_mask(self, articles: RecordTable) -> np.ndarray:
        """A boolean array: which of ``articles`` match (``matches`` row by row, but the table's
        columns compared whole)."""
        mask = np.ones(len(articles), dtype=bool)
        if self.published_from is not None or self.published_to is not None:
            mask &= articles.between("published", self.published_from, self.published_to)
        if self.publisher is not None:
            mask &= articles.equal_any("publisher", [self.publisher])
        if self.documents is not None:
            mask &= articles.equal_any("document", self.documents)
        return mask


class Ranker(Protocol):
    mode: str  # "bm25" or "hybrid": reported by the API

    def rank(self, query: Query, k: int, filters: Filters | None = None) -> list[Hit]: ...


class Backend(Protocol):
    name: str  # "embedded" or "milvus"
    tokenizer: Tokenizer
    manifest: dict[str, Any]  # counts, settings, and the corpus it was built from ("corpus": {paths, fingerprint})
    documents: Collection[dict[str, Any]]  # read in place (records.py), not necessarily a list

    def __len__(self) -> int: ...  # passages

    # -- retrieval and term statistics --------------------------------------------------------
    def make_ranker(self, embedder: Embedder | None, fusion: FusionSettings) -> Ranker: ...

    def add_vectors(self, embedder: Embedder, settings: Settings, show_progress: bool = False) -> bool: ...

    # give the live index the passage vectors of ``embedder`` if it lacks them and can add them

    def term_idf(self, term: str) -> float | None: ...  # None: a term the corpus does not hold

    @property
    def max_idf(self) -> float: ...

    # -- documents ----------------------------------------------------------------------------
    def document(self, doc_id: str) -> dict[str, Any] | None: ...

    def document_text(self, doc_id: str) -> str: ...

    # -- changing it one document at a time ---------------------------------------------------
    def apply(self, added: Corpus, removed: Sequence[str], embedder: Embedder | None = None) -> Backend | None: ...

    # publish a new live version with the documents ``removed`` (and earlier copies of those
    # ``added``) deleted and ``added`` indexed; the caller holds the write lock.  None: this backend
    # cannot, the caller rebuilds from the corpus instead.

    def merge_plan(self) -> list[str]: ...  # parts to merge in the background (none: nothing to do)

    def merge(self, names: Sequence[str]) -> Any: ...  # those parts as one, built without the write lock

    def replace(self, names: Sequence[str], merged: Any, snapshot: Backend) -> Backend | None: ...

    # publish ``merged`` in place of ``names`` (under the write lock); None if a merge got there first

    # -- life cycle ---------------------------------------------------------------------------
    def health(self) -> None: ...  # raises BackendUnavailable when the engine does not answer

    def close(self) -> None: ...

    def summary(self) -> list[str]: ...  # what `qa-service index` prints after a build


# What a full build of a corpus left without any text raises (a DocumentError, "empty_corpus").
EMPTY_CORPUS = "The corpus would have no readable text left."


class BackendType(Protocol):
    """The class side of a backend: how it is built and opened from settings."""

    name: str

    def create(
        self,
        corpus: Corpus,
        settings: Settings,
        embedder: Embedder | None = None,
        previous: Backend | None = None,
        show_progress: bool = False,
        recreate: bool = False,
    ) -> Backend: ...

    def create_streamed(
        self,
        stream: CorpusStream,
        settings: Settings,
        embedder: Embedder | None = None,
        previous: Backend | None = None,
        show_progress: bool = False,
        recreate: bool = False,
    ) -> Backend:
        """``create`` from a corpus read one document at a time, holding as little of it as the
        backend can; DocumentError ("empty_corpus", EMPTY_CORPUS) if it has no text."""
        ...

    def open(self, settings: Settings, previous: Backend | None = None) -> Backend: ...
