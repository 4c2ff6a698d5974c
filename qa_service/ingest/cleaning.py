"""Clean stage: repair PDF/web extraction damage while keeping an offset map.

The output never changes a character of content: it only drops whitespace,
boilerplate lines (navigation, share widgets, copyright footers) and the line
breaks that PDF extraction put inside sentences and words.  Every character of
the result remembers its index in the original text, which is what makes exact
citations possible.

Two passes, because segmentation needs the spaces that the second removes
(``标题 正文`` is how the bulletins separate a title from its body):

* :func:`clean_document` joins wrapped lines into paragraphs and strips
  boilerplate; paragraphs are separated by ``\\n``, runs of spaces collapsed.
* :func:`squeeze_spaces` then drops the stray spaces next to CJK characters.
"""

from __future__ import annotations

import re
import statistics
from array import array
from dataclasses import dataclass

import numpy as np

from qa_service.core.models import CleanText
from qa_service.core.text import ATTRIBUTION_TAIL, CJK_CHAR, CONTINUATION_END, SENTENCE_END, is_cjk

# Lines that are page furniture, never content.  Kept short-anchored so a real
# sentence that merely mentions 版权 or 下载 is not thrown away.
_BOILERPLATE_EXACT = re.compile(
    r"^(?:登录|注册|登录/注册|下载客户端|下载APP|字号|收藏|我要举报|举报|反馈|分享|分享到|分享至|"
    r"打印|关闭|关闭窗口|返回顶部|返回首页|首页|阅读原文|阅读全文|点击查看|更多|上一篇|下一篇|"
    r"相关阅读|相关新闻|推荐阅读|热门推荐|评论|发表评论|扫一扫|微信扫一扫|[+＋]?\d{0,3}|[•·●▪■◆]+\s*[+＋]?\d*)$",
    re.IGNORECASE,
)
_BOILERPLATE_SHORT = re.compile(
    r"(?:Logo$|^扫码|扫码下载|二维码|关注.{0,10}公众号|^分享到|^责任编辑|^编辑[:：]|^来源[:：].{0,30}$(?!)|"
    r"ICP备|ICP证|公网安备|许可证[:：]?\s*\d|经营许可证|版权所有|Copyright|All Rights Reserved|^©|©\s*\d{4}|"
    r"^原标题[:：]|"
    # Prompts to follow an account and reprint notices (温馨提示：微信搜索公众号…, 本文转载自…).
    r"^(?:温馨提示|友情提示|特别提示)[:：].{0,40}(?:公众号|微信|客户端|APP|关注|订阅|下载)|搜索.{0,12}公众号|"
    r"长按(?:识别|扫描|关注)|版权归.{0,12}所有|^本文(?:转载|转自|来源于)|未经(?:授权|许可).{0,8}不得转载)",
    re.IGNORECASE,
)
_DISCLAIMER = re.compile(
    r"仅代表(?:该)?作者.{0,20}观点|不代表.{0,20}(?:观点|立场)|申请.{0,10}号请用电脑访问|转载请注明"
)

# A paragraph that starts like this begins something new, whatever the line before looked like.
PARAGRAPH_MARKER = re.compile(
    r"^(?:[一二三四五六七八九十]+[、是要]|[（(][一二三四五六七八九十\d]+[）)]|\d{1,2}[、.．]\D|"
    r"[△▲■◆●]|本报讯|本报记者|记者\s|通讯员\s|据.{1,8}消息)"
)
REPORTER_LINE = re.compile(r"^(?:本报)?(?:记者|通讯员|文/图|图/文|撰稿|供稿)[\s:：]*[\u4e00-\u9fff]")


def is_boilerplate(line: str) -> bool:
    s = line.strip()
    if not s:
        return False
    if _BOILERPLATE_EXACT.match(s):
        return True
    if len(s) <= 80 and _BOILERPLATE_SHORT.search(s):
        return True
    # A disclaimer is a paragraph of its own, made of such phrases; a long line that
    # merely contains one is content.
    hits = len(_DISCLAIMER.findall(s))
    return hits >= 2 or (hits == 1 and len(s) <= 80)


# A notice shorter than this in front of it leaves nothing worth keeping of the line.
MIN_CONTENT_CHARS = 20


def notice_start(line: str) -> int | None:
    """Where a reprint notice (``转载内容仅代表作者观点，不代表本网立场。投稿请戳…``) that closes a long
    line of content begins: the start of the sentence of its first disclaimer phrase.  None when the
    line has no such notice, or nothing worth keeping before it."""
    if len(line) <= 80:
        return None
    hits = [m.start() for m in _DISCLAIMER.finditer(line)]
    if len(hits) < 2:
        return None
    cut = max(line.rfind(ch, 0, hits[0]) for ch in "。！？!?；;") + 1
    return cut if cut >= MIN_CONTENT_CHARS else None


@dataclass
class _Line:
    start: int  # original offset of the first non-space character
    end: int  # original offset after the last non-space character
    text: str

    @property
    def width(self) -> int:
        return len(re.sub(r"\s", "", self.text))


def split_lines(text: str) -> list[_Line]:
    lines = []
    for m in re.finditer(r"[^\n\r]+", text):
        raw = m.group()
        stripped = raw.strip()
        if not stripped:
            continue
        lead = len(raw) - len(raw.lstrip())
        start = m.start() + lead
        lines.append(_Line(start, start + len(stripped), stripped))
    return lines


def wrap_width(lines: list[_Line]) -> int | None:
    """The column width of a hard-wrapped (PDF) text, or None if it is not wrapped.

    PDF extraction leaves most lines at (nearly) the same width; a text whose
    lines are paragraphs has widths all over the place.
    """
    widths = [ln.width for ln in lines if ln.width >= 8]
    if len(widths) < 6:
        return None
    mode = statistics.multimode(widths)[-1]
    near = sum(1 for w in widths if mode - 2 <= w <= mode + 3)
    if mode < 12 or near < 0.5 * len(widths):
        return None
    return mode


def _ends_paragraph_hard(line: str) -> bool:
    """An attribution or a reporter line closes an article: never join past it."""
    return bool(ATTRIBUTION_TAIL.search(line)) or bool(REPORTER_LINE.match(line))


_TITLE_CONTINUATION = re.compile(r"^[^\s，。,.！？；：:]{1,12}\s+\S")


def should_join(prev: _Line, nxt: _Line, width: int | None) -> bool:
    """Is the break between two consecutive non-empty lines a wrap, not a paragraph end?"""
    p, n = prev.text, nxt.text
    if PARAGRAPH_MARKER.match(n) or REPORTER_LINE.match(n) or _ends_paragraph_hard(p):
        return False
    last = p[-1]
    if last in CONTINUATION_END:
        return True
    ends_sentence = last in SENTENCE_END or (last in "”’」』》" and len(p) > 1 and p[-2] in SENTENCE_END)
    if width is None:
        # Paragraph-per-line text: only a long line that stops mid-sentence was broken.
        return not ends_sentence and prev.width >= 50
    if ends_sentence:
        return prev.width >= width - 1
    if prev.width >= width - 3:
        return True
    # "标题 正文开头" that stops short of the margin: the body runs on.
    if re.search(r"\S{4}\s+\S+$", p) and prev.width >= 0.6 * width:
        return True
    # A wrapped headline: "……第二次全体" + "会议 4月26日，……" (title, space, body).
    return bool(_TITLE_CONTINUATION.match(n)) and not _TITLE_CONTINUATION.match(p)


class _Builder:
    """Accumulates cleaned text, in pieces, with each character's original offset."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.offsets = array("i")  # what CleanText keeps: no list of ints to convert at the end

    def add(self, text: str, start: int) -> None:
        self.chars.append(text)
        if len(text) > 32:  # a run of offsets made by numpy, not one Python int at a time
            self.offsets.frombytes(np.arange(start, start + len(text), dtype=np.int32).tobytes())
        else:
            self.offsets.extend(range(start, start + len(text)))

    def add_char(self, ch: str, pos: int) -> None:
        self.chars.append(ch)
        self.offsets.append(pos)

    def build(self) -> CleanText:
        return CleanText("".join(self.chars), self.offsets)


def _add_collapsed(b: _Builder, text: str, start: int) -> None:
    """Append ``text`` with each run of whitespace collapsed to one space."""
    pos = 0
    for m in re.finditer(r"\s+", text):
        b.add(text[pos : m.start()], start + pos)
        b.add_char(" ", start + m.start())
        pos = m.end()
    b.add(text[pos:], start + pos)


def _content(line: _Line) -> _Line | None:
    """The line without a closing reprint notice; None if it is boilerplate through and through."""
    cut = notice_start(line.text)
    if cut is not None:
        kept = line.text[:cut].rstrip()
        return _Line(line.start, line.start + len(kept), kept)
    return None if is_boilerplate(line.text) else line


def clean_document(text: str) -> CleanText:
    """Join wrapped lines into paragraphs (one per line of output), drop boilerplate."""
    lines = [kept for ln in split_lines(text) if (kept := _content(ln)) is not None]
    width = wrap_width(lines)
    b = _Builder()
    for i, ln in enumerate(lines):
        if i:
            prev = lines[i - 1]
            if should_join(prev, ln, width):
                # Latin words broken across lines still need their space.
                if not (is_cjk(prev.text[-1]) or is_cjk(ln.text[0])):
                    b.add_char(" ", prev.end)
            else:
                b.add_char("\n", prev.end)
        _add_collapsed(b, ln.text, ln.start)
    return b.build()


# A space at a paragraph edge or next to a CJK character (lookarounds: zero-width, so
# adjacent spaces are each tested against their own neighbours).
_DROPPABLE_SPACE = re.compile(rf"(?:(?<=^)|(?<=\n)|(?<=[{CJK_CHAR}])) | (?=$|\n|[{CJK_CHAR}])", re.M)


def squeeze_spaces(ct: CleanText) -> CleanText:
    """Drop spaces that touch a CJK character (``3月 3日`` -> ``3月3日``) and edge spaces."""
    chars = ct.text
    if " " not in chars:  # most Chinese text: nothing to look for
        return ct
    drop = [m.start() for m in _DROPPABLE_SPACE.finditer(chars)]
    if not drop:
        return ct
    offs = np.delete(np.asarray(ct.offsets, dtype=np.int32), drop)
    # The pattern's lookarounds read the text as it was, as the positions above were found.
    return CleanText(_DROPPABLE_SPACE.sub("", chars), array("i", offs.tobytes()))


def slice_clean(ct: CleanText, start: int, end: int) -> CleanText:
    return CleanText(ct.text[start:end], ct.offsets[start:end])


def concat(parts: list[CleanText], sep: str = "\n") -> CleanText:
    """Join cleaned pieces; the separator maps to the end of the piece before it."""
    b = _Builder()
    for i, part in enumerate(parts):
        if i and sep and part.text:
            prev_off = b.offsets[-1] + 1 if b.offsets else part.offsets[0]
            b.add_char(sep, prev_off)
        b.chars.append(part.text)
        b.offsets.extend(part.offsets)
    return b.build()
