"""Plain data passed between pipeline stages.

Every stage takes and returns these dataclasses only, so stages compose without
knowing about each other (load -> clean -> segment -> chunk -> index -> retrieve
-> answer).  Offsets named ``char_start``/``char_end`` always index the
*original* decoded text of the source (``Document.text``), half-open.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PageLayout:
    """Where each character of a paged document's text (a PDF) sits on its pages: the citation's way
    back from an offset to the exact place on the page.  Arrays are parallel to ``Document.text``."""

    page: Any  # numpy int16 (n,): 0-based page; -1 for characters the extraction added (line breaks)
    box: Any  # numpy float32 (n, 4): left, top, right, bottom in PDF points from the page's top-left
    sizes: list[tuple[float, float]]  # (width, height) of every page, in points
    scanned: list[int] = field(default_factory=list)  # 1-based pages with no text layer (images only)
    sha256: str = ""  # of the original file, which the index keeps to render pages from
    ocr: list[int] = field(default_factory=list)  # 1-based scanned pages whose text was read by OCR


@dataclass
class Document:
    """One source as read from disk: a file, or one record of a JSONL file."""

    id: str  # file name (relative to its corpus root) or JSONL record id
    text: str  # the decoded original text; all offsets index this string
    path: str  # where it came from on disk
    format: str  # "txt", "md", "html", "jsonl", "pdf" or "docx"
    title: str | None = None  # given by the source (JSONL), else found by segmentation
    published: str | None = None  # ISO date "YYYY-MM-DD"
    publisher: str | None = None
    url: str | None = None
    layout: PageLayout | None = None  # PDFs only: the page and box of every character of ``text``


@dataclass
class CleanText:
    """Cleaned text plus, for each of its characters, the index in the original."""

    text: str
    offsets: Sequence[int]  # len(offsets) == len(text); offsets[i] indexes Document.text

    def __post_init__(self) -> None:
        # Kept as 4-byte integers, not a list: a list of ints was over half of what a corpus held
        # in memory while indexing (about 19 bytes a character against 4; documents are < 2**31
        # characters, the loaders read files of at most 64 MB).
        if not isinstance(self.offsets, array):
            self.offsets = array("i", self.offsets)

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
    # Where the passage sits on its pages (PDFs: page, page_end, boxes), given by the index and
    # worked out only when the passage is cited.
    locate: Callable[[], dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    # Where each word of ``text`` starts (numpy int64), as the index's tokenizer cut it when indexing,
    # read only for the passages the answer reads; None (or giving None) when the backend does not
    # store it: the reader cuts the sentences it reads then.
    words: Callable[[], Any] | None = field(default=None, repr=False, compare=False)

    def source(self) -> dict[str, Any]:
        where = self.locate() if self.locate is not None else {}
        return {
            "document": self.doc_id,
            "title": self.title,
            "section": self.section,
            "published": self.published,
            "publisher": self.publisher,
            "attribution": self.attribution,
            "char_start": self.char_start,
            "char_end": self.char_end,
            **where,
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
class Evidence:
    """The whole sentence a short answer comes from."""

    text: str
    passage: int  # index into the returned passages
    span: tuple[int, int]  # offsets of ``text`` inside that passage's text


@dataclass
class SlotAnswer:
    """One part of a question that asks two things (是哪天开的？会上是谁讲的话？)."""

    question: str  # the part, with the subject it shares with the first part
    text: str | None  # its short answer, or None
    passage: int | None = None
    span: tuple[int, int] | None = None
    confidence: float = 0.0
    evidence: Evidence | None = None


@dataclass
class Answer:
    text: str | None  # the short answer asked for (a name, a date, a figure, a clause), or None
    passage: int | None  # index into the returned passages
    span: tuple[int, int] | None = None  # offsets of ``text`` inside that passage's text
    items: list[AnswerItem] = field(default_factory=list)
    confidence: float = 0.0  # the answer model's probability that the corpus answers the question
    evidence: Evidence | None = None
    # Questions asking two things: one answer per part, the first being ``text`` itself.
    slots: list[SlotAnswer] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for part, obj in [(d, self), *zip(d["slots"], self.slots, strict=True)]:
            part["span"] = list(obj.span) if obj.span else None
            if obj.evidence is not None:
                part["evidence"]["span"] = list(obj.evidence.span)
        return d


@dataclass(frozen=True)
class ChunkSettings:
    min_chars: int = 150
    max_chars: int = 400
    overlap_max: int = 200  # a longer last sentence is not repeated in the next chunk


@dataclass
class Corpus:
    documents: list[Document] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    # Global article number of each chunk, parallel to ``chunks``.
    chunk_article: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    # Names learned from the corpus (新安路街道, 区人社局) that the tokenizer keeps whole.
    user_words: list[str] = field(default_factory=list)

    def fingerprint(self) -> str:
        return documents_fingerprint(self.documents)


@dataclass
class CorpusStream:
    """A corpus read one document at a time, so that nothing holds all of it (``qa-service index``).

    ``prepared(f)`` yields each kept document with ``f(document, articles, chunks)``, worked out in
    the process that cleaned the document (``f`` must be picklable: a module's function; None: the
    articles and chunks themselves); ``items`` yields each kept document with its articles and chunks
    (chunk ``article`` numbers are within the document).  Read one of the two, once; when it is
    exhausted, ``user_words`` holds the names learned from every article and ``digests`` the digest
    of every document loaded, kept or not (``document_digest``)."""

    prepared: Callable[[Any], Iterator[tuple[Document, Any]]]
    paths: list[str] = field(default_factory=list)
    user_words: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def items(self) -> Iterator[tuple[Document, list[Article], list[Chunk]]]:
        return ((doc, articles, chunks) for doc, (articles, chunks) in self.prepared(None))

    def collect(self) -> Corpus:
        """The whole corpus in memory (what ``corpus_from_documents`` gives)."""
        corpus = Corpus(paths=self.paths)
        for doc, articles, chunks in self.items:
            base = len(corpus.articles)
            corpus.documents.append(doc)
            corpus.articles.extend(articles)
            corpus.chunks.extend(chunks)
            corpus.chunk_article.extend(base + c.article for c in chunks)
        corpus.user_words = self.user_words
        return corpus


def document_digest(doc: Document) -> str:
    """The SHA-1 of a document's text: what tells a changed document from an unchanged one."""
    return hashlib.sha1(doc.text.encode()).hexdigest()


def document_digests(documents: Iterable[Document]) -> dict[str, str]:
    """Each document's id -> its ``document_digest``."""
    return {d.id: document_digest(d) for d in documents}


def fingerprint_of(digests: dict[str, str]) -> str:
    """One digest of a corpus's documents (``document_digests``), whatever their order."""
    h = hashlib.sha256()
    for doc_id in sorted(digests):
        h.update(doc_id.encode() + b"\0" + bytes.fromhex(digests[doc_id]))
    return h.hexdigest()


def documents_fingerprint(documents: Iterable[Document]) -> str:
    return fingerprint_of(document_digests(documents))


@dataclass
class Query:
    """A question as the pipeline reads it: as asked, with its conversation carried in, segmented once
    (qa/question.py); every later stage reads these fields instead of cutting the text again."""

    question: str  # as asked
    text: str  # after carrying the conversation's topic (== question unless a follow-up)
    tokens: list[str]  # retrieval terms (a follow-up's own terms count three times)
    followup: bool = False
    cut: list[str] = field(default_factory=list)  # raw segmentation of the question as asked
    words: list[str] = field(default_factory=list)  # content words of ``text``
    text_tokens: list[str] = field(default_factory=list)  # index terms of ``text``
    names: list[str] = field(default_factory=list)  # people, places, organisations ``text`` names
    # A question asking two things (是哪天开的？会上是谁讲的话？: one Query per part, each with the
    # subject the parts share) or the same of several (A和B分别…: one per thing); empty otherwise.
    slots: list[Query] = field(default_factory=list)
    # The parts ask the same of different things (A和B分别…, qa/coordination.py), often told in
    # different articles: each part is retrieved on its own, not only read from the whole's passages.
    apart: bool = False
    # A follow-up about the earlier answer, naming nothing new (那其中税收收入有多少？, 这位领导是什么
    # 职务？): the earlier question, parsed; its answer's passages are read first.
    earlier: Query | None = None
