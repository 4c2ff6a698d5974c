"""Optional dense passage embeddings (sentence-transformers), stored with the index.

Nothing here imports sentence-transformers or torch until a model is actually
asked for: without the ``[embeddings]`` extra, or with no model configured,
``get_embedder`` logs why and returns None, and the service answers with BM25
alone.

Vectors are L2-normalised float32, so a dot product is the cosine.  Each row is
keyed by the SHA-1 of the text it embeds: a rebuild copies the rows of passages
whose text did not change from the previous index version (same model only) and
embeds the rest.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from qa_service.core.models import Chunk
from qa_service.core.progress import progress

log = logging.getLogger(__name__)

DEFAULT_BATCH = 32
QUERY_CACHE_SIZE = 4096  # ~8 MB of 512-d vectors
KEY_BYTES = 20  # SHA-1
INSTALL_HINT = "pip install 'qa-service[embeddings]'"


class Embedder(Protocol):
    """A text -> unit vector model."""

    name: str  # as configured: a hub name or a local path
    model_id: str  # identifies the weights; vectors of different ids are never mixed
    dim: int

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray: ...  # (n, dim) float32, unit rows

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...


def embedding_text(chunk: Chunk) -> str:
    """What a passage is embedded from: its text alone.  Prefixing the article title (BM25 indexes
    it) measured no better on CMRC2018 and worse on the seed set, and costs longer inputs."""
    return chunk.text


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


@dataclass
class PassageVectors:
    """One unit vector per passage, in passage order, and what made them."""

    model: str  # the model setting they were made with (informational)
    model_id: str
    matrix: np.ndarray  # (n, dim) float32; memory-mapped when loaded from an index
    keys: np.ndarray  # (n, KEY_BYTES) uint8: SHA-1 of the text each row embeds

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def meta(self) -> dict[str, Any]:
        return {"model": self.model, "model_id": self.model_id, "dim": self.dim, "dtype": "float32"}


@dataclass
class EmbedStats:
    passages: int
    computed: int  # embedded now
    reused: int  # copied from the previous vectors (or a duplicate text in this build)
    seconds: float

    @property
    def per_second(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0


def embed_passages(
    embedder: Embedder,
    texts: Sequence[str],
    previous: PassageVectors | None = None,
    batch_size: int = DEFAULT_BATCH,
    show_progress: bool = False,
) -> tuple[PassageVectors, EmbedStats]:
    """Vectors for ``texts``, embedding only texts that ``previous`` (same model) lacks."""
    t0 = time.perf_counter()
    keys = [text_key(t) for t in texts]
    matrix = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    known: dict[bytes, int] = {}
    if previous is not None and previous.model_id == embedder.model_id and previous.dim == embedder.dim:
        known = {bytes(k): i for i, k in enumerate(previous.keys)}
    elif previous is not None:
        log.info(
            "previous vectors were made by %s, not %s: embedding every passage", previous.model_id, embedder.model_id
        )
    reuse_rows = [(row, known[k]) for row, k in enumerate(keys) if k in known]
    if reuse_rows:
        dst, src = (np.asarray(x, dtype=np.int64) for x in zip(*reuse_rows, strict=True))
        matrix[dst] = previous.matrix[src]  # type: ignore[union-attr]
    # Each distinct new text once; longest first so each batch pads little.
    first_row: dict[bytes, int] = {}
    for row, k in enumerate(keys):
        if k not in known:
            first_row.setdefault(k, row)
    todo = sorted(first_row.values(), key=lambda r: -len(texts[r]))
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    for batch in progress(batches, "embedding", f"batch of {batch_size}", show_progress, len(batches)):
        matrix[batch] = embedder.encode_passages([texts[r] for r in batch])
    for row, k in enumerate(keys):
        if k not in known and first_row[k] != row:
            matrix[row] = matrix[first_row[k]]
    vectors = PassageVectors(
        model=embedder.name,
        model_id=embedder.model_id,
        matrix=matrix,
        keys=np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES).copy(),
    )
    stats = EmbedStats(len(texts), len(todo), len(texts) - len(todo), time.perf_counter() - t0)
    return vectors, stats


class QueryEncoder:
    """Query vectors, cached per question text (LRU): a repeated question costs no model call."""

    def __init__(self, embedder: Embedder, size: int = QUERY_CACHE_SIZE) -> None:
        self.embedder = embedder
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __call__(self, text: str) -> np.ndarray:
        with self._lock:
            vec = self._cache.get(text)
            if vec is not None:
                self._cache.move_to_end(text)
                self.hits += 1
                return vec
        vec = self.embedder.encode_queries([text])[0]
        vec.setflags(write=False)  # shared by every later caller of the same text
        with self._lock:
            self.misses += 1
            self._cache[text] = vec
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return vec


_ENCODERS: weakref.WeakKeyDictionary[Any, QueryEncoder] = weakref.WeakKeyDictionary()
_ENCODERS_LOCK = threading.Lock()


def query_encoder(embedder: Embedder) -> QueryEncoder:
    """The process's one query cache for ``embedder``: services built after an index rebuild
    (or for each fusion setting in an evaluation) keep the vectors already computed."""
    with _ENCODERS_LOCK:
        enc = _ENCODERS.get(embedder)
        if enc is None:
            enc = _ENCODERS[embedder] = QueryEncoder(embedder)
        return enc


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU (name on the Hugging Face hub, or a local folder)."""

    def __init__(self, name: str, device: str = "cpu") -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        self._torch = torch
        self._batch_threads = torch.get_num_threads()  # every core, for indexing
        self.name = name
        self._model = SentenceTransformer(name, device=device)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        prompts = getattr(self._model, "prompts", None) or {}
        # Models that declare retrieval prompts (e.g. {"query": "为这个句子生成表示…"}) get them.
        self._query_prompt = "query" if prompts.get("query") else None
        self._passage_prompt = next((p for p in ("document", "passage") if prompts.get(p)), None)
        self.model_id = f"{os.path.basename(name.rstrip('/')) or name}:{_weights_fingerprint(self._model)}"

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> np.ndarray:
        out = self._model.encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=max(1, len(texts)),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        self._torch.set_num_threads(self._batch_threads)
        return self._encode(texts, self._passage_prompt)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        # One thread: a question is a few dozen tokens, too little to split across cores, and
        # OpenMP's hand-offs stall when the other core is busy (m3e-small on 2 cores, one busy:
        # 12 ms on one thread, 200-370 ms on two).  A server's workers give the parallelism.
        self._torch.set_num_threads(1)
        return self._encode(texts, self._query_prompt)


def _weights_fingerprint(model: Any) -> str:
    """A hash of the weights and module layout: the same name or path may later hold other weights,
    and the same weights may sit at another path (a model baked into an image)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(repr(model).encode())
    for key, tensor in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def sentence_transformers_available() -> bool:
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=4)
def get_embedder(name: str | None) -> Embedder | None:
    """The configured model, loaded once per process; None (with the reason logged) means BM25 only."""
    name = (name or "").strip()
    if not name:
        log.info("no embedding model configured (QA_EMBEDDING_MODEL): retrieval is BM25 only")
        return None
    if not sentence_transformers_available():
        log.warning(
            "QA_EMBEDDING_MODEL is %r but sentence-transformers is not installed (%s): retrieval is BM25 only",
            name,
            INSTALL_HINT,
        )
        return None
    t0 = time.perf_counter()
    try:
        embedder = SentenceTransformerEmbedder(name)
    except Exception as exc:  # a missing folder, no hub access, a broken download: never fatal
        log.error("cannot load embedding model %r (%s: %s): retrieval is BM25 only", name, type(exc).__name__, exc)
        return None
    log.info(
        "embedding model %s loaded in %.1fs (%d dimensions)", embedder.model_id, time.perf_counter() - t0, embedder.dim
    )
    return embedder
