"""A document's text as a person reads it, for the source view, and how it maps onto the original.

The original text (what ``char_start``/``char_end`` index) of a PDF-extracted bulletin breaks lines
inside words and puts a blank line after every line.  The source view shows the text the cleaning
stage makes of it instead (lines joined into paragraphs, boilerplate and stray spaces dropped), so the
page needs, for each readable character, the original index it came from: sent as runs
``[readable_start, original_start, length]`` (consecutive characters on both sides), a few hundred
numbers where a per-character list would be as long as the text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from qa_service.ingest.cleaning import clean_document, squeeze_spaces


def readable(original: str, articles: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """``{"text": the cleaned text, "runs": [[readable_start, original_start, length], ...], "headings":
    [[start, end], ...]}``: each article's title (``articles``: their ``title`` and ``char_start``) on a
    line of its own, where the bulletin ran it into the body with a space that cleaning dropped."""
    return _readable(original, tuple((a.get("title") or "", a.get("char_start", -1)) for a in articles))


@lru_cache(maxsize=16)
def _readable(original: str, titles: tuple[tuple[str, int], ...]) -> dict[str, Any]:
    """Cached: cleaning a long document takes a while (about 2 s a megabyte), and the source view
    asks for the same few documents again and again."""
    ct = squeeze_spaces(clean_document(original))
    text, offsets, headings = _break_after_titles(ct.text, ct.offsets, titles)
    runs: list[list[int]] = []
    for i, off in enumerate(offsets):
        last = runs[-1] if runs else None
        if last is not None and last[0] + last[2] == i and last[1] + last[2] == off:
            last[2] += 1
        else:
            runs.append([i, off, 1])
    return {"text": text, "runs": runs, "headings": headings}


def _break_after_titles(
    text: str, offsets: list[int], titles: tuple[tuple[str, int], ...]
) -> tuple[str, list[int], list[list[int]]]:
    starts = {}
    for i, off in enumerate(offsets):
        starts.setdefault(off, i)
    headings, cuts = [], []
    for title, char_start in titles:
        at = starts.get(char_start)
        if at is None or not title or text[at : at + len(title)] != title:
            continue
        headings.append([at, at + len(title)])
        end = at + len(title)
        if end < len(text) and text[end] != "\n":
            cuts.append(end)
    chars, offs = list(text), list(offsets)
    for cut in sorted(cuts, reverse=True):  # from the end, so earlier positions stay valid
        chars.insert(cut, "\n")
        offs.insert(cut, offs[cut - 1] + 1)
    shift = sorted(cuts)
    headings = [[a + _before(shift, a), b + _before(shift, a)] for a, b in headings]
    return "".join(chars), offs, headings


def _before(cuts: list[int], pos: int) -> int:
    """How many inserted line breaks come before ``pos``."""
    return sum(1 for c in cuts if c <= pos)
