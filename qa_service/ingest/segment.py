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
_DATE_LINE = re.compile(
    r"^(?:发布时间[:：]\s*)?\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$"
)
_SOURCE_LINE = re.compile(r"^(?:来源|稿源|出处)\s*[:：]\s*(?P<pub>\S.{0,40})$")
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


def segment(doc: Document, cleaned: CleanText | None = None) -> list[Article]:
    """Split one document into articles (a JSONL record is always exactly one)."""
    ct = cleaned if cleaned is not None else clean_document(doc.text)
    paras = paragraphs_of(ct)
    publisher, published = doc.publisher, doc.published
    drafts: list[_Draft] = []
    doc_title: str | None = doc.title
    current = _Draft()
    single = doc.format == "jsonl"

    def start_new(**kw) -> _Draft:
        nonlocal current
        if current.has_body() or current.title is not None:
            drafts.append(current)
        current = _Draft(**kw)
        return current

    for i, p in enumerate(paras):
        text = p.text.strip()
        if not text:
            continue
        # Document header lines: metadata, not content.
        if i < 6 and not any(d.has_body() for d in drafts) and not current.has_body():
            m = _HEADER.match(text)
            if m and not _NO_HEADING_PUNCT.search(text):
                publisher = publisher or re.sub(r"\s+", "", m.group("pub"))
                published = published or normalise_date(m.group("date"))
                continue
            if _DATE_LINE.match(text):
                published = published or normalise_date(text)
                continue
            m = _SOURCE_LINE.match(text)
            if m:
                publisher = publisher or m.group("pub").strip()
                continue
        if single:
            current.paragraphs.append(p)
            continue
        if REPORTER_LINE.match(text) and len(text) <= 40:
            current.attribution = re.sub(r"\s+", " ", text)
            current.extra.append(p)
            current.closed = True
            continue
        if _BRIEF.match(text):
            start_new().paragraphs.append(p)
        elif _NUMBERED_HEADING.match(text) and len(text) <= MAX_HEADING and "。" not in text:
            start_new(title=None, section=text)
            current.extra.append(p)
        elif _PLACE_HEADING.match(text):
            start_new(section=text)
            current.extra.append(p)
        elif is_heading(text) or (i == 0 and len(text) <= 80 and "。" not in text):
            if current.title is not None and not current.has_body() and current.section is None:
                current.title = concat([current.title, p], sep=" ")  # subtitle line
            else:
                start_new(title=p)
        elif (parts := split_title(p)) is not None:
            title, body = parts
            if current.title is not None and not current.has_body() and current.section is None:
                current.title = concat([current.title, title], sep=" ")
            else:
                start_new(title=title)
            current.paragraphs.append(body)
        else:
            if current.closed or (_LEAD.match(text) and current.has_body()):
                start_new()
            current.paragraphs.append(p)
        if (m := ATTRIBUTION_TAIL.search(text)) and current.has_body():
            current.attribution = m.group(1)
            current.closed = True
    if current.has_body() or current.title is not None or not drafts:
        drafts.append(current)
    if doc_title is None:
        doc_title = next((re.sub(r"\s+", " ", d.title.text).strip() for d in drafts if d.title is not None), None)

    articles: list[Article] = []
    for d in drafts:
        if not d.paragraphs:
            continue  # a heading with nothing under it
        body = squeeze_spaces(concat(d.paragraphs))
        if not body.text:
            continue
        if d.title is not None:
            title = re.sub(r"\s+", " ", d.title.text).strip()
        elif single and doc.title:
            title = doc.title
        elif d.section and doc_title:
            title = doc_title
        else:
            title = derive_title(body.text) or (doc_title or doc.id)
        pieces = [x for x in (d.title, *d.extra, *d.paragraphs) if x is not None and x.offsets]
        start = min(x.offsets[0] for x in pieces)
        end = max(x.offsets[-1] + 1 for x in pieces)
        articles.append(
            Article(
                doc_id=doc.id,
                index=len(articles),
                title=title,
                body=body,
                char_start=start,
                char_end=end,
                published=published,
                publisher=publisher,
                attribution=d.attribution,
                section=d.section,
            )
        )
    return articles
