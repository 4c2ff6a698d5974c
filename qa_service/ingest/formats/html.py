"""Saved web pages: the article's text without the page around it, its title, date and source.

Our own main-content pass, not trafilatura or readability-lxml: the stored text must be exactly what
citations index, one block a line, and those libraries rewrite the text in ways we cannot map (and
bring a dozen dependencies for what five rules below do on news pages).  The rules:

* elements that are page furniture by tag (``nav``, ``header``, ``footer``, ``aside``, ``form``,
  scripts) or by class/id (``nav``, ``menu``, ``login``, ``share``, ``footer``, ``breadcrumb``…)
  are dropped with everything inside;
* a block that is mostly link text and holds no sentence, or is a row of short items
  (``首页 | 新闻 | 政务 | 登录``), is navigation;
* the title is ``og:title``, else the first ``<h1>``, else ``<title>`` without its site suffix;
* the date and source come from meta tags (``article:published_time``, ``pubdate``, ``og:site_name``…)
  or from the page's ``来源：… 2021-03-05`` line, which wins (it is the article's own).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser

from qa_service.core.models import Document

BLOCK = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "section",
        "article",
        "blockquote",
        "pre",
        "hr",
        "dd",
        "dt",
        "main",
        "td",
        "th",
    ]
)
FURNITURE_TAGS = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "nav",
        "header",
        "footer",
        "aside",
        "form",
        "iframe",
        "button",
        "select",
    ]
)
VOID = frozenset(["br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"])
_FURNITURE_ATTR = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|menu|login|signin|share|sharing|social|footer|foot|breadcrumbs?|crumbs?|"
    r"comments?|sidebar|toolbar|copyright|related|recommend|advert|ads|qrcode|topbar)(?:$|[\s_-])",
    re.IGNORECASE,
)
_DATE_META = ("article:published_time", "pubdate", "publishdate", "publish_date", "og:release_date", "date")
_SOURCE_META = ("source", "article:author", "og:site_name", "author")
_SOURCE_LINE = re.compile(r"来源\s*[:：]\s*([^\s|｜]{2,30})")
_SENTENCE = re.compile(r"[。！？；，,]")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, int]] = []  # (text, characters inside links; -1: a heading)
        self.meta: dict[str, str] = {}
        self.title, self.h1 = "", ""
        self._parts: list[str] = []
        self._links = 0
        self._skip: list[str] = []  # tags of the furniture elements we are inside
        self._in: set[str] = set()

    def _flush(self) -> None:
        text = re.sub(r"\s+", " ", "".join(self._parts)).strip()
        if text:
            # A headline is never navigation, even as a link (-1 says so to is_navigation).
            self.blocks.append((text, -1 if self._in & {"h1", "h2", "h3"} else self._links))
        self._parts, self._links = [], 0

    def handle_starttag(self, tag: str, attrs) -> None:  # type: ignore[override]
        a = {k: v or "" for k, v in attrs}
        if tag == "meta":
            key = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
            if key and a.get("content"):
                self.meta.setdefault(key, a["content"].strip())
            return
        if tag in VOID:
            if tag in BLOCK and not self._skip:
                self._flush()
            return
        # An article's own <header> (its headline, byline) is content; the page's is furniture.
        own = tag in ("header", "footer") and bool(self._in & {"article", "main"})
        furniture = (tag in FURNITURE_TAGS and not own) or _FURNITURE_ATTR.search(
            f"{a.get('class', '')} {a.get('id', '')}"
        )
        if self._skip or furniture:
            self._skip.append(tag)
            return
        if tag in BLOCK:  # the text before this element is a block of its own
            self._flush()
        self._in.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag in self._skip:  # tolerate unclosed children: close back to the matching start
                del self._skip[len(self._skip) - 1 - self._skip[::-1].index(tag) :]
            return
        if tag in BLOCK:  # the element's text, with what it was inside (a heading?)
            self._flush()
        self._in.discard(tag)

    def handle_data(self, data: str) -> None:
        if "title" in self._in and not self._skip:
            self.title += data
        elif not self._skip:
            if "h1" in self._in and not self.h1:
                self.h1 = data.strip()
            self._parts.append(data)
            if "a" in self._in:
                self._links += len(data.strip())


def is_navigation(text: str, link_chars: int) -> bool:
    """Mostly link text with no sentence in it, or a row of short items between separators
    (``首页 | 新闻 | 登录``; short items between spaces alone may be a byline: ``记者 柴琳琳 通讯员 姜璞``)."""
    if link_chars < 0:
        return False
    if not _SENTENCE.search(text) and link_chars >= 0.6 * len(text.replace(" ", "")):
        return True
    if _SENTENCE.search(text) or len(re.findall(r"[|｜/·•]", text)) < 3:
        return False
    items = [t for t in re.split(r"[|｜/·•\s]+", text) if t]
    return len(items) >= 4 and all(len(t) <= 6 for t in items)


def _title(page: _Page) -> str | None:
    if page.meta.get("og:title"):
        return html.unescape(page.meta["og:title"]).strip()
    if page.h1:
        return page.h1
    title = page.title.strip()
    # "文章标题_澎湃新闻" / "文章标题 - 某某网": the first part is the article's.
    return re.split(r"\s*(?:_|\||｜| - | — )\s*", title)[0].strip() or None if title else None


def _meta_first(meta: dict[str, str], keys: tuple[str, ...], read: Callable[[str], str | None]) -> str | None:
    for k in keys:
        if meta.get(k) and (value := read(meta[k])):
            return value
    return None


def read_html(doc_id: str, source: str, path: str) -> Document:
    """The document of a saved page's decoded HTML: the main text, one block a line."""
    from qa_service.ingest.loaders import normalise_date  # loaders imports this module

    page = _Page()
    page.feed(source)
    page.close()
    page._flush()
    lines = [text for text, links in page.blocks if not is_navigation(text, links)]
    published = _meta_first(page.meta, _DATE_META, normalise_date)
    publisher = _meta_first(page.meta, _SOURCE_META, lambda v: v.strip() or None)
    for line in lines[:12]:
        m = _SOURCE_LINE.search(line)
        if m:
            publisher = m.group(1)
            published = normalise_date(line) or published
            break
    text = "\n\n".join(lines)
    return Document(
        id=doc_id, text=text, path=path, format="html", title=_title(page), published=published, publisher=publisher
    )
