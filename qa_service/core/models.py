"""Plain data passed between pipeline stages.

Every stage takes and returns these dataclasses only, so stages compose without
knowing about each other (load -> clean -> segment -> chunk -> index -> retrieve
-> answer).  Offsets named ``char_start``/``char_end`` always index the
*original* decoded text of the source (``Document.text``), half-open.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Document:
    """One source as read from disk: a file, or one record of a JSONL file."""

    id: str  # file name (relative to its corpus root) or JSONL record id
    text: str  # the decoded original text; all offsets index this string
    path: str  # where it came from on disk
    format: str  # "txt", "md", "html" or "jsonl"
    title: str | None = None  # given by the source (JSONL), else found by segmentation
    published: str | None = None  # ISO date "YYYY-MM-DD"
    publisher: str | None = None
    url: str | None = None


@dataclass
class CleanText:
    """Cleaned text plus, for each of its characters, the index in the original."""

    text: str
    offsets: list[int]  # len(offsets) == len(text); offsets[i] indexes Document.text

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) covering cleaned characters [start, end)."""
        if end <= start:
            pos = self.offsets[start] if start < len(self.offsets) else (self.offsets[-1] + 1 if self.offsets else 0)
            return pos, pos
        return self.offsets[start], self.offsets[end - 1] + 1


@dataclass
class Article:
    """A news item inside a document (a bulletin holds many)."""

    doc_id: str
    index: int  # position of the article within its document
    title: str
    body: CleanText  # cleaned body text (title excluded where it is a separate line)
    char_start: int  # original range of the whole article, title included
    char_end: int
    published: str | None = None
    publisher: str | None = None
    attribution: str | None = None  # e.g. "新安路街道" or "记者 柴琳琳 通讯员 姜璞"
    section: str | None = None  # e.g. "肥城市" or "一、扛牢政治责任，…"

    def meta(self) -> dict[str, Any]:
        return {
            "document": self.doc_id,
            "title": self.title,
            "section": self.section,
            "published": self.published,
            "publisher": self.publisher,
            "attribution": self.attribution,
        }


@dataclass
class Chunk:
    """A retrievable passage: a run of whole sentences of one article."""

    id: str  # "<doc_id>#<article>.<n>"
    text: str  # cleaned text
    char_start: int  # original range: re.sub(r"\s", "", orig[s:e]) == re.sub(r"\s", "", text)
    char_end: int
    doc_id: str
    article: int
    title: str
    published: str | None = None
    publisher: str | None = None
    attribution: str | None = None
    section: str | None = None

    def source(self) -> dict[str, Any]:
        return {
            "document": self.doc_id,
            "title": self.title,
            "section": self.section,
            "published": self.published,
            "publisher": self.publisher,
            "attribution": self.attribution,
            "char_start": self.char_start,
            "char_end": self.char_end,
        }


@dataclass
class Hit:
    """A chunk returned by retrieval, with the scores that ranked it."""

    chunk: Chunk
    score: float
    rank: int
    explain: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnswerItem:
    text: str
    passages: list[int]  # indexes into the returned passages


@dataclass
class Answer:
    text: str | None
    passage: int | None  # index into the returned passages
    span: tuple[int, int] | None = None  # offsets of ``text`` inside that passage's text
    items: list[AnswerItem] = field(default_factory=list)
    confidence: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["span"] = list(self.span) if self.span else None
        return d
