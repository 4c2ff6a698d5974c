"""How an embedded index is built and cut: its settings, recorded in its manifest, and the tokenizer
that built it (which questions must be cut with too)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qa_service.core.errors import ConfigError, IndexIncompatible
from qa_service.core.models import ChunkSettings
from qa_service.core.settings import DEFAULT_TOKENIZER
from qa_service.core.tokenizer import Tokenizer
from qa_service.index.embedded.bm25 import BM25Params


@dataclass(frozen=True)
class IndexSettings:
    bm25: BM25Params = field(default_factory=BM25Params)
    chunks: ChunkSettings = field(default_factory=ChunkSettings)
    bigrams: bool = True
    title_in_passages: bool = True  # index each passage with its article title
    segmenter: str = DEFAULT_TOKENIZER  # QA_TOKENIZER: once set, an index opens only with the one that built it

    def to_dict(self) -> dict[str, Any]:
        return {
            "bm25": self.bm25.to_dict(),
            "chunks": asdict(self.chunks),
            "bigrams": self.bigrams,
            "title_in_passages": self.title_in_passages,
            "segmenter": self.segmenter,
            "tokenizer": f"{self.segmenter}+bigrams" if self.bigrams else self.segmenter,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndexSettings:
        """The settings ``to_dict`` recorded in a manifest (before the segmenter was recorded: jieba)."""
        return cls(
            bm25=BM25Params(**d["bm25"]),
            chunks=ChunkSettings(**d["chunks"]),
            bigrams=d["bigrams"],
            title_in_passages=d["title_in_passages"],
            segmenter=d.get("segmenter", "jieba"),
        )


def index_tokenizer(manifest: dict[str, Any], user_words: list[str], where: Path, configured: str | None) -> Tokenizer:
    """The tokenizer that built an index (``manifest["settings"]``; before it was recorded: jieba).
    IndexIncompatible if it is not the ``configured`` one (QA_TOKENIZER) or cannot be loaded here:
    questions cut another way would look up terms the index does not have."""
    built = manifest["settings"].get("segmenter", "jieba")
    if configured is not None and built != configured:
        raise IndexIncompatible(
            f"the index in {where} was built with the {built} tokenizer, but QA_TOKENIZER is {configured}: "
            f"rebuild it with `qa-service index` (or set QA_TOKENIZER={built}, or leave it unset)"
        )
    try:
        return Tokenizer(user_words, bigrams=manifest["settings"]["bigrams"], segmenter=built)
    except ConfigError as exc:
        raise IndexIncompatible(f"the index in {where} cannot be searched here: {exc}") from exc
