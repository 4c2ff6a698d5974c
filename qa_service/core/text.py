"""Character classes and small string helpers shared by the text stages."""

from __future__ import annotations

import re

# CJK ideographs (incl. extension A and compatibility) plus the CJK symbol and
# full-width punctuation blocks: spacing between any of these is typesetting, not content.
CJK_CHAR = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
IDEOGRAPH = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{CJK_CHAR}]")
_IDEO_RE = re.compile(f"[{IDEOGRAPH}]")

# Where a sentence ends.  Closing quotes/brackets that follow stay with it.
SENTENCE_END = "。！？!?；;…"
CLOSERS = "”’」』）)】》\"'"
# A line ending in one of these cannot end a paragraph.
CONTINUATION_END = "，,、：:—-（(“‘《【"
# Trailing attribution like （新安路街道） or (区侨联).
ATTRIBUTION_TAIL = re.compile(r"[（(]([^（）()，。,\s]{2,20})[）)]\s*$")


def is_cjk(ch: str) -> bool:
    return bool(_CJK_RE.match(ch))


def is_ideograph(ch: str) -> bool:
    return bool(_IDEO_RE.match(ch))


def ideograph_count(s: str) -> int:
    return len(_IDEO_RE.findall(s))


def strip_ws(s: str) -> str:
    """The text with all whitespace removed: what citations are compared on.  (``str.split`` splits
    at exactly the characters ``\\s`` matches, str.isspace's, and is several times faster.)"""
    return "".join(s.split())


_SENTENCE = re.compile(f"[^{re.escape(SENTENCE_END)}\\n]*(?:[{re.escape(SENTENCE_END)}]+[{re.escape(CLOSERS)}]*|\\n|$)")


def sentence_spans(text: str, max_chars: int = 400) -> list[tuple[int, int]]:
    """[start, end) of each sentence (。！？； or line end), long ones cut at commas or hard."""
    spans: list[tuple[int, int]] = []
    for m in _SENTENCE.finditer(text):
        whole = m.group()
        kept = whole.strip()  # the sentence without the whitespace around it
        if not kept:
            continue
        s = m.start() + len(whole) - len(whole.lstrip())
        e = s + len(kept)
        if e - s > max_chars:
            spans.extend(_split_long(text, s, e, max_chars))
        else:
            spans.append((s, e))
    return spans


def _split_long(text: str, s: int, e: int, max_chars: int) -> list[tuple[int, int]]:
    out = []
    while e - s > max_chars:
        window = text[s : s + max_chars]
        cut = max(window.rfind("，"), window.rfind(","), window.rfind("、"))
        cut = s + cut + 1 if cut > max_chars // 3 else s + max_chars
        out.append((s, cut))
        s = cut
    out.append((s, e))
    return out
