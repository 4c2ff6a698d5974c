"""Segment stage: a cleaned document -> articles with title and metadata.

Bulletins hold many short articles.  The shapes recognised are generic, not
per-file rules:

* a header line with publisher and date (``中共上街区委办公室 2021 年 4 月 30 日``),
  a bare date line (``2021-03-05 13:10``) or a source line (``来源:澎湃新闻``);
* a headline on its own line, optionally followed by a subtitle line;
* a headline, a space, and the body on one line (``新安路街道“三个到位”…热潮 一是…``);
* ``本报讯`` leads and ``△ 近日，…（区侨联）`` briefs;
* an attribution closing an article: ``（新安路街道）`` or ``记者 柴琳琳 通讯员 姜璞``;
* section headings inside a long article: place names (``肥城市``) and
  numbered parts (``一、扛牢政治责任…``).

A document with none of these is one article titled by its first line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qa_service.core.models import Article, CleanText, Document
from qa_service.core.text import ATTRIBUTION_TAIL, SENTENCE_END, ideograph_count
from qa_service.ingest.cleaning import REPORTER_LINE, clean_document, concat, slice_clean, squeeze_spaces
from qa_service.ingest.loaders import normalise_date

_HEADER = re.compile(r"^(?P<pub>\S(?:.{0,30}?\S)?)\s*(?P<date>\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日)$")
_DATE = r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?"
_DATE_LINE = re.compile(rf"^(?:发布时间[:：]\s*)?{_DATE}$")
# 来源：洛溪湾区融媒体中心 2021-03-05: the publisher is what follows the label, the date is the date.
_SOURCE_LINE = re.compile(rf"^(?:来源|稿源|出处)\s*[:：]\s*(?P<pub>\S.{{0,40}}?)(?:\s*(?P<date>{_DATE}))?$")
_NUMBERED_HEADING = re.compile(
    r"^(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[）)]|第[一二三四五六七八九十]+部分)"
)
_PLACE_HEADING = re.compile(r"^[\u4e00-\u9fff]{2,12}(?:省|市|县|区|州|盟|旗|镇|乡|街道)$")
_BRIEF = re.compile(r"^[△▲■◆●]\s*")
_LEAD = re.compile(r"^(?:本报讯|本报消息|讯)\s*")
_NO_HEADING_PUNCT = re.compile(f"[{re.escape(SENTENCE_END)}]")
_TITLE_SPLIT = re.compile(r"^(?P<title>[^\s。，,！？!?；;：:]{4,50})\s+(?P<body>\S.*)$", re.S)
_LEADING_FILLER = re.compile(
    r"^(?:近日|日前|近期|今年以来|目前|\d{1,2}月\d{1,2}日(?:上午|下午|晚)?|\d{4}年[^，,]{0,6})[，,]\s*"
)

MAX_HEADING = 60


@dataclass
class _Draft:
    title: CleanText | None = None
    section: str | None = None
    paragraphs: list[CleanText] = field(default_factory=list)
    extra: list[CleanText] = field(default_factory=list)  # lines inside the range but not body
    attribution: str | None = None
    closed: bool = False

    def has_body(self) -> bool:
        return bool(self.paragraphs)


def paragraphs_of(ct: CleanText) -> list[CleanText]:
    out, start, text = [], 0, ct.text
    while start <= len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        if end > start:
            out.append(slice_clean(ct, start, end))
        start = end + 1
    return out


def is_heading(text: str) -> bool:
    return (
        len(text) <= MAX_HEADING
        and ideograph_count(text) >= 2
        and not _NO_HEADING_PUNCT.search(text)
        and text[-1] not in "，,、：:"
        and not REPORTER_LINE.match(text)
    )


def split_title(p: CleanText) -> tuple[CleanText, CleanText] | None:
    """``标题 正文…`` -> (title, body) when the part before the space reads as a headline."""
    m = _TITLE_SPLIT.match(p.text)
    if not m or _LEAD.match(p.text) or _BRIEF.match(p.text):
        return None
    title, body = m.group("title"), m.group("body")
    if ideograph_count(title) < 4 or not _NO_HEADING_PUNCT.search(body) or re.match(r"^\d", title):
        return None
    return slice_clean(p, 0, len(title)), slice_clean(p, m.start("body"), len(p.text))


def derive_title(body: str, limit: int = 40) -> str:
    """Title for an article without a headline: its first clause, minus filler like 近日，."""
    text = _BRIEF.sub("", _LEAD.sub("", body.strip()))
    text = _LEADING_FILLER.sub("", text)
    first = re.split(r"[。！？!?；;\n]", text, maxsplit=1)[0]
    first = ATTRIBUTION_TAIL.sub("", first).strip()
    return first if len(first) <= limit else first[: limit - 1] + "…"


class _Segmenter:
    """Segmenting one document, line by line: the finished drafts, the open one and the header metadata."""

    def __init__(self, doc: Document) -> None:
        self.publisher, self.published = doc.publisher, doc.published
        self.single = doc.format == "jsonl"
        self.drafts: list[_Draft] = []
        self.current = _Draft()

    def start_new(self, **kw) -> _Draft:
        if self.current.has_body() or self.current.title is not None:
            self.drafts.append(self.current)
        self.current = _Draft(**kw)
        return self.current

    def feed(self, i: int, p: CleanText) -> None:
        """Take paragraph ``p``, the ``i``-th of the document."""
        text = p.text.strip()
        if not text:
            return
        # Document header lines: metadata, not content.
        if self._in_header(i) and self._header_line(text):
            return
        if self.single:
            self.current.paragraphs.append(p)
            return
        if REPORTER_LINE.match(text) and len(text) <= 40:
            self.current.attribution = re.sub(r"\s+", " ", text)
            self.current.extra.append(p)
            self.current.closed = True
            return
        self._content_line(i, p, text)
        if (m := ATTRIBUTION_TAIL.search(text)) and self.current.has_body():
            self.current.attribution = m.group(1)
            self.current.closed = True

    def _in_header(self, i: int) -> bool:
        return i < 6 and not any(d.has_body() for d in self.drafts) and not self.current.has_body()

    def _header_line(self, text: str) -> bool:
        """Whether ``text`` is a publisher/date, date or source line (noting what it says)."""
        m = _SOURCE_LINE.match(text)  # before _HEADER, which would keep the label in the publisher
        if m:
            self.publisher = self.publisher or m.group("pub").strip()
            if m.group("date"):
                self.published = self.published or normalise_date(m.group("date"))
            return True
        m = _HEADER.match(text)
        if m and not _NO_HEADING_PUNCT.search(text):
            self.publisher = self.publisher or re.sub(r"\s+", "", m.group("pub"))
            self.published = self.published or normalise_date(m.group("date"))
            return True
        if _DATE_LINE.match(text):
            self.published = self.published or normalise_date(text)
            return True
        return False

    def _content_line(self, i: int, p: CleanText, text: str) -> None:
        """A brief, a section heading, a headline (alone or before the body) or body text."""
        if _BRIEF.match(text):
            self.start_new().paragraphs.append(p)
        elif _NUMBERED_HEADING.match(text) and len(text) <= MAX_HEADING and "。" not in text:
            self.start_new(title=None, section=text).extra.append(p)
        elif _PLACE_HEADING.match(text):
            self.start_new(section=text).extra.append(p)
        elif is_heading(text) or (i == 0 and len(text) <= 80 and "。" not in text):
            self._headline(p)
        elif (parts := split_title(p)) is not None:
            title, body = parts
            self._headline(title)
            self.current.paragraphs.append(body)
        else:
            if self.current.closed or (_LEAD.match(text) and self.current.has_body()):
                self.start_new()
            self.current.paragraphs.append(p)

    def _headline(self, title: CleanText) -> None:
        """A subtitle line of a headline with nothing under it yet, else the headline of a new article."""
        current = self.current
        if current.title is not None and not current.has_body() and current.section is None:
            current.title = concat([current.title, title], sep=" ")
        else:
            self.start_new(title=title)

    def finish(self) -> list[_Draft]:
        if self.current.has_body() or self.current.title is not None or not self.drafts:
            self.drafts.append(self.current)
        return self.drafts


def segment(doc: Document, cleaned: CleanText | None = None) -> list[Article]:
    """Split one document into articles (a JSONL record is always exactly one)."""
    ct = cleaned if cleaned is not None else clean_document(doc.text)
    seg = _Segmenter(doc)
    for i, p in enumerate(paragraphs_of(ct)):
        seg.feed(i, p)
    drafts = seg.finish()
    doc_title: str | None = doc.title
    if doc_title is None:
        doc_title = next((re.sub(r"\s+", " ", d.title.text).strip() for d in drafts if d.title is not None), None)
    articles: list[Article] = []
    for d in drafts:
        if not d.paragraphs:
            continue  # a heading with nothing under it
        body = squeeze_spaces(concat(d.paragraphs))
        if not body.text:
            continue
        start, end = _span(d)
        articles.append(
            Article(
                doc_id=doc.id,
                index=len(articles),
                title=_article_title(d, body, doc, doc_title, seg.single),
                body=body,
                char_start=start,
                char_end=end,
                published=seg.published,
                publisher=seg.publisher,
                attribution=d.attribution,
                section=d.section,
            )
        )
    return articles


def _article_title(d: _Draft, body: CleanText, doc: Document, doc_title: str | None, single: bool) -> str:
    """Its headline; else the record's title (JSONL) or, under a section heading, the document's; else derived."""
    if d.title is not None:
        return re.sub(r"\s+", " ", d.title.text).strip()
    if single and doc.title:
        return doc.title
    if d.section and doc_title:
        return doc_title
    return derive_title(body.text) or (doc_title or doc.id)


def _span(d: _Draft) -> tuple[int, int]:
    """Offsets in the original text from the first to past the last character of the draft's lines."""
    pieces = [x for x in (d.title, *d.extra, *d.paragraphs) if x is not None and x.offsets]
    return min(x.offsets[0] for x in pieces), max(x.offsets[-1] + 1 for x in pieces)
