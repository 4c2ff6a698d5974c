"""Index stage: the retrieval seam (build / save / load / search) and its on-disk form.

``SearchIndex`` is the seam other backends (an external engine) plug into.
``EmbeddedIndex`` is the default: BM25 over jieba+bigram tokens, a
self-contained folder holding passages, article metadata and the original text
of every document, so citations and the source view never depend on the corpus
files still being where they were.  Optionally it also holds one embedding per
passage (``vectors``, see embeddings.py), which hybrid.py fuses with BM25.

On disk, ``INDEX_DIR/CURRENT`` names the live version folder.  A build writes a
new version folder under a temporary name, fsyncs it, renames it into place
and only then atomically replaces ``CURRENT``: a crash at any point leaves the
previous index live and intact.  Every file's SHA-256 is in the manifest, so a
corrupted or truncated file is detected on load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa_service.core.models import Chunk
from qa_service.core.progress import progress_bar
from qa_service.core.tokenizer import Tokenizer, learn_names
from qa_service.index.embedded.bm25 import BM25, BM25Params
from qa_service.index.embeddings import (
    DEFAULT_BATCH,
    KEY_BYTES,
    Embedder,
    EmbedStats,
    PassageVectors,
    embed_passages,
    embedding_text,
)
from qa_service.ingest.chunking import ChunkSettings
from qa_service.ingest.pipeline import Corpus, corpus_records

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: BM25 as BM25.save writes it; embeddings are optional extra files
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.npy"
EMBEDDING_KEYS = "embedding_keys.npy"


class IndexError_(Exception):
    """Base for index problems that callers report to the user."""


class IndexMissing(IndexError_):
    pass


class IndexIncompatible(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


@dataclass(frozen=True)
class IndexSettings:
    bm25: BM25Params = field(default_factory=BM25Params)
    chunks: ChunkSettings = field(default_factory=ChunkSettings)
    bigrams: bool = True
    title_in_passages: bool = True  # index each passage with its article title

    def to_dict(self) -> dict[str, Any]:
        return {
            "bm25": self.bm25.to_dict(),
            "chunks": asdict(self.chunks),
            "bigrams": self.bigrams,
            "title_in_passages": self.title_in_passages,
            "tokenizer": "jieba+bigrams" if self.bigrams else "jieba",
        }


class SearchIndex(Protocol):
    """What retrieval needs from an index backend."""

    tokenizer: Tokenizer
    vectors: PassageVectors | None  # passage embeddings, if the index was built with a model

    def search(self, tokens: Sequence[str], k: int) -> list[tuple[int, float]]: ...

    def scores(self, tokens: Sequence[str]) -> np.ndarray: ...  # BM25 score of every passage

    def chunk(self, i: int) -> Chunk: ...

    def __len__(self) -> int: ...


class DocumentLookup:
    """Documents, their articles and original texts (packed in one UTF-8 blob), by document id.

    Shared by every backend: retrieval may move to an engine, the source view and the
    answer's checks against the cited document stay local.
    """

    documents: list[dict[str, Any]]
    articles: list[dict[str, Any]]
    _doc_pos: dict[str, int]
    _doc_text: bytes | memoryview
    _doc_bounds: np.ndarray

    def document_text(self, doc_id: str) -> str:
        pos = self._doc_pos.get(doc_id)
        if pos is None:
            return ""
        a, b = self._doc_bounds[pos], self._doc_bounds[pos + 1]
        return bytes(self._doc_text[a:b]).decode("utf-8")

    def document(self, doc_id: str) -> dict[str, Any] | None:
        pos = self._doc_pos.get(doc_id)
        if pos is None:
            return None
        text = self.document_text(doc_id)
        arts = [{k: v for k, v in art.items() if k != "document"} for art in self.articles if art["document"] == doc_id]
        return {**self.documents[pos], "text": text, "articles_list": arts}


class EmbeddedIndex(DocumentLookup):
    def __init__(
        self,
        bm25: BM25,
        tokenizer: Tokenizer,
        chunk_text: bytes | memoryview,
        chunk_bounds: np.ndarray,
        chunk_meta: np.ndarray,
        articles: list[dict[str, Any]],
        documents: list[dict[str, Any]],
        doc_text: bytes | memoryview,
        doc_bounds: np.ndarray,
        manifest: dict[str, Any],
        vectors: PassageVectors | None = None,
    ) -> None:
        self.bm25 = bm25
        self.tokenizer = tokenizer
        self._chunk_text = chunk_text
        self._chunk_bounds = chunk_bounds  # byte offsets into chunk_text, len n+1
        self._chunk_meta = chunk_meta  # (n, 3) int64: article, char_start, char_end
        self.articles = articles
        self.documents = documents
        self._doc_pos = {d["id"]: i for i, d in enumerate(documents)}
        self._doc_text = doc_text
        self._doc_bounds = doc_bounds
        self.manifest = manifest
        self.vectors = vectors

    # -- building -------------------------------------------------------
    @classmethod
    def build(
        cls,
        corpus: Corpus,
        settings: IndexSettings = IndexSettings(),
        show_progress: bool = False,
        embedder: Embedder | None = None,
        previous: PassageVectors | None = None,
        batch_size: int = DEFAULT_BATCH,
    ) -> EmbeddedIndex:
        """BM25 over the corpus; with an ``embedder``, passage vectors too, reusing those of
        ``previous`` (the index being replaced) for passages whose text is unchanged."""
        t0 = time.perf_counter()
        tokenizer = Tokenizer(learn_names(corpus.articles), bigrams=settings.bigrams)
        texts = (
            (f"{c.title} {c.section or ''} {c.text}" if settings.title_in_passages else c.text) for c in corpus.chunks
        )
        with progress_bar(len(corpus.chunks), "indexing", "passage", show_progress) as advance:
            # Worker processes (one per core) tokenize and count; small corpora stay in this process.
            bm25 = BM25.build_from_texts(
                texts, tokenizer.tokens, settings.bm25, total=len(corpus.chunks), on_progress=advance
            )
        chunk_text, chunk_bounds = _pack([c.text for c in corpus.chunks])
        chunk_meta = np.array(
            [(a, c.char_start, c.char_end) for c, a in zip(corpus.chunks, corpus.chunk_article, strict=True)],
            dtype=np.int64,
        ).reshape(-1, 3)
        documents, articles = corpus_records(corpus)
        doc_text, doc_bounds = _pack([d.text for d in corpus.documents])
        manifest = {
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "settings": settings.to_dict(),
            "corpus": {"paths": corpus.paths, "fingerprint": corpus.fingerprint()},
            "counts": {
                "documents": len(documents),
                "articles": len(articles),
                "passages": len(corpus.chunks),
                "terms": len(bm25.vocab),
            },
            "build_seconds": round(time.perf_counter() - t0, 3),
        }
        index = cls(
            bm25, tokenizer, chunk_text, chunk_bounds, chunk_meta, articles, documents, doc_text, doc_bounds, manifest
        )
        if embedder is not None:
            index.embed(embedder, previous, batch_size, show_progress)
        return index

    def embed(
        self,
        embedder: Embedder,
        previous: PassageVectors | None = None,
        batch_size: int = DEFAULT_BATCH,
        show_progress: bool = False,
    ) -> EmbedStats:
        """Give every passage a vector from ``embedder``; rows of ``previous`` (default: the vectors
        this index already has) are reused where the passage text and the model are the same."""
        texts = [embedding_text(self.chunk(i)) for i in range(len(self))]
        previous = previous if previous is not None else self.vectors
        self.vectors, stats = embed_passages(embedder, texts, previous, batch_size, show_progress)
        self.manifest["embeddings"] = {
            **self.vectors.meta(),
            "computed": stats.computed,
            "reused": stats.reused,
            "seconds": round(stats.seconds, 3),
        }
        log.info(
            "embedded %d passages with %s in %.1fs (%d reused)",
            stats.computed,
            embedder.model_id,
            stats.seconds,
            stats.reused,
        )
        return stats

    # -- searching ------------------------------------------------------
    def __len__(self) -> int:
        return self.bm25.n_docs

    def search(self, tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        ids, scores = self.bm25.top_k(tokens, k)
        return [(int(i), float(s)) for i, s in zip(ids, scores, strict=True)]

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        return self.bm25.scores(tokens)

    def chunk_text(self, i: int) -> str:
        a, b = self._chunk_bounds[i], self._chunk_bounds[i + 1]
        return bytes(self._chunk_text[a:b]).decode("utf-8")

    def chunk(self, i: int) -> Chunk:
        art_no, start, end = (int(x) for x in self._chunk_meta[i])
        art = self.articles[art_no]
        return Chunk(
            id=f"{art['document']}#{art['index']}.{i}",
            text=self.chunk_text(i),
            char_start=start,
            char_end=end,
            doc_id=art["document"],
            article=art["index"],
            title=art["title"],
            published=art["published"],
            publisher=art["publisher"],
            attribution=art["attribution"],
            section=art["section"],
        )

    # -- persistence ----------------------------------------------------
    def save(self, index_dir: str | Path) -> Path:
        """Write a new version folder and switch ``CURRENT`` to it atomically."""
        root = Path(index_dir)
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir()
        try:
            files: dict[str, dict[str, Any]] = {}

            def put(name: str, data: bytes) -> None:
                _write_file(tmp / name, data)
                files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

            files.update(self.bm25.save(tmp))  # bm25.json, bm25_*.npy, bm25_terms.bin, bm25_postings.bin
            put("userdict.json", _json(self.tokenizer.user_words))
            put("chunk_text.bin", bytes(self._chunk_text))
            put("chunk_bounds.npy", _npy(self._chunk_bounds))
            put("chunk_meta.npy", _npy(self._chunk_meta))
            put("articles.json", _json(self.articles))
            put("documents.json", _json(self.documents))
            put("doc_text.bin", bytes(self._doc_text))
            put("doc_bounds.npy", _npy(self._doc_bounds))
            manifest = {k: v for k, v in self.manifest.items() if k != "embeddings"}
            if self.vectors is not None:
                put(EMBEDDINGS, _npy(np.asarray(self.vectors.matrix, dtype=np.float32)))
                put(EMBEDDING_KEYS, _npy(np.asarray(self.vectors.keys, dtype=np.uint8)))
                manifest["embeddings"] = {**self.manifest.get("embeddings", {}), **self.vectors.meta()}
            manifest["files"] = files
            version = publish_version(root, tmp, manifest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.manifest = manifest
        _remove_old_versions(root, keep=version)
        log.info("index written to %s", root / version)
        return root / version

    @classmethod
    def load(cls, index_dir: str | Path, verify: bool = True) -> EmbeddedIndex:
        root = Path(index_dir)
        vdir = current_version_dir(root)
        try:
            manifest = json.loads((vdir / MANIFEST).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(f"index manifest in {vdir} is unreadable: {exc}") from exc
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexIncompatible(
                f"index in {root} has format version {manifest.get('format_version')}, this program reads "
                f"version {FORMAT_VERSION}: rebuild it with `qa-service index`"
            )
        files = manifest.get("files", {})
        for name, meta in files.items():
            path = vdir / name
            if not path.is_file() or path.stat().st_size != meta["bytes"]:
                raise IndexCorrupt(f"index file {path} is missing or truncated: rebuild with `qa-service index`")
            if verify and _sha256_file(path) != meta["sha256"]:
                raise IndexCorrupt(f"index file {path} fails its checksum: rebuild with `qa-service index`")
        try:
            bm25 = BM25.load(vdir, mmap=True)
            params = BM25Params(**manifest["settings"]["bm25"])
            if bm25.params != params or bm25.n_docs != manifest["counts"]["passages"]:
                raise ValueError("the BM25 files do not match the manifest")
            tokenizer = Tokenizer(
                json.loads((vdir / "userdict.json").read_text("utf-8")), bigrams=manifest["settings"]["bigrams"]
            )
            return cls(
                bm25,
                tokenizer,
                _map_bytes(vdir / "chunk_text.bin"),
                np.load(vdir / "chunk_bounds.npy", mmap_mode="r"),
                np.load(vdir / "chunk_meta.npy", mmap_mode="r"),
                json.loads((vdir / "articles.json").read_text("utf-8")),
                json.loads((vdir / "documents.json").read_text("utf-8")),
                _map_bytes(vdir / "doc_text.bin"),
                np.load(vdir / "doc_bounds.npy", mmap_mode="r"),
                manifest,
                _load_vectors(vdir, manifest),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(f"index in {vdir} cannot be read ({exc}): rebuild with `qa-service index`") from exc


def _load_vectors(vdir: Path, manifest: dict[str, Any]) -> PassageVectors | None:
    meta = manifest.get("embeddings")
    if not meta:
        return None
    if EMBEDDINGS not in manifest.get("files", {}) or EMBEDDING_KEYS not in manifest.get("files", {}):
        raise IndexCorrupt(f"{vdir} lists embeddings but not their files: rebuild with `qa-service index`")
    matrix = np.load(vdir / EMBEDDINGS, mmap_mode="r")
    keys = np.load(vdir / EMBEDDING_KEYS, mmap_mode="r")
    n = manifest["counts"]["passages"]
    if matrix.dtype != np.float32 or matrix.shape != (n, meta["dim"]) or keys.shape != (n, KEY_BYTES):
        raise IndexCorrupt(
            f"embeddings in {vdir} have shape {matrix.shape}, not ({n}, {meta['dim']}): rebuild with `qa-service index`"
        )
    return PassageVectors(model=meta["model"], model_id=meta["model_id"], matrix=matrix, keys=keys)


def load_previous_vectors(index_dir: str | Path) -> PassageVectors | None:
    """The live index's vectors, for a rebuild to reuse; None if there is no readable index."""
    try:
        return EmbeddedIndex.load(index_dir).vectors
    except IndexError_ as exc:
        log.debug("no previous vectors to reuse: %s", exc)
        return None


def publish_version(root: Path, tmp: Path, manifest: dict[str, Any]) -> str:
    """Make the fully written folder ``tmp`` the live version: manifest, fsync, rename, then
    atomically point ``CURRENT`` at it.  A crash before the last step leaves the old version live."""
    _write_file(tmp / MANIFEST, _json(manifest))
    _fsync_dir(tmp)
    version = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    os.rename(tmp, root / version)
    _fsync_dir(root)
    cur_tmp = root / f".{CURRENT}.{uuid.uuid4().hex[:6]}"
    _write_file(cur_tmp, (version + "\n").encode())
    os.replace(cur_tmp, root / CURRENT)
    _fsync_dir(root)
    return version


def current_version_dir(root: Path) -> Path:
    pointer = root / CURRENT
    if not pointer.is_file():
        raise IndexMissing(f"no index in {root}: build one with `qa-service index`")
    name = pointer.read_text("utf-8").strip()
    vdir = root / name
    if not name or "/" in name or not vdir.is_dir():
        raise IndexCorrupt(f"{pointer} names {name!r}, which is not an index folder: rebuild with `qa-service index`")
    return vdir


def read_manifest(index_dir: str | Path) -> dict[str, Any]:
    vdir = current_version_dir(Path(index_dir))
    try:
        return json.loads((vdir / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"index manifest in {vdir} is unreadable: {exc}") from exc


def _pack(texts: list[str]) -> tuple[bytes, np.ndarray]:
    encoded = [t.encode("utf-8") for t in texts]
    bounds = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=bounds[1:])
    return b"".join(encoded), bounds


def _map_bytes(path: Path) -> memoryview:
    if path.stat().st_size == 0:
        return memoryview(b"")
    return memoryview(np.memmap(path, dtype=np.uint8, mode="r"))


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _npy(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _remove_old_versions(root: Path, keep: str) -> None:
    """Drop superseded versions and leftovers of interrupted builds."""
    for p in root.iterdir():
        if p.name == keep or p.name == CURRENT or p.name.startswith("README"):
            continue
        if p.is_dir() and (p.name.startswith("v-") or p.name.startswith(".tmp-")):
            shutil.rmtree(p, ignore_errors=True)
        elif p.is_file() and p.name.startswith(f".{CURRENT}."):
            p.unlink(missing_ok=True)
