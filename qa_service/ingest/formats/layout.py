"""Page layout from character boxes: lines, reading order of one or two columns, running furniture.

Pure geometry on ``Char`` boxes (top-left coordinates, points), so it is tested without a PDF.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass
class Char:
    ch: str
    left: float
    top: float
    right: float
    bottom: float


@dataclass
class Line:
    page: int  # 0-based
    chars: list[Char] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c.ch for c in self.chars)

    def _ink(self) -> list[Char]:
        return [c for c in self.chars if not c.ch.isspace()] or self.chars

    @cached_property
    def top(self) -> float:
        return min(c.top for c in self._ink())

    @cached_property
    def bottom(self) -> float:
        return max(c.bottom for c in self._ink())

    @cached_property
    def x0(self) -> float:
        return min(c.left for c in self._ink())

    @cached_property
    def x1(self) -> float:
        return max(c.right for c in self._ink())

    def stripped(self) -> list[Char]:
        """The characters without the whitespace at either end."""
        chars = self.chars
        i, j = 0, len(chars)
        while i < j and chars[i].ch.isspace():
            i += 1
        while j > i and chars[j - 1].ch.isspace():
            j -= 1
        return chars[i:j]


def _continues(line: Line, c: Char) -> bool:
    """Does ``c`` carry on ``line`` (same baseline, to the right, no column-sized jump)?"""
    last = next((x for x in reversed(line.chars) if not x.ch.isspace()), None)
    if last is None or c.ch.isspace():
        return True
    height = max(last.bottom - last.top, c.bottom - c.top, 1.0)
    overlap = min(last.bottom, c.bottom) - max(last.top, c.top)
    if overlap < 0.5 * min(last.bottom - last.top, c.bottom - c.top, height):
        return False
    gap = c.left - last.right
    return -0.5 * height <= gap <= 3 * height


def group_lines(chars: list[Char], page: int) -> list[Line]:
    """Characters (in content order) into printed lines."""
    lines: list[Line] = []
    for c in chars:
        if lines and _continues(lines[-1], c):
            lines[-1].chars.append(c)
        else:
            lines.append(Line(page, [c]))
    # Boxes are read only from here on (the cached edges stay right).
    return [ln for ln in lines if ln.text.strip()]


def _gutter(lines: list[Line], width: float) -> float | None:
    """The x of the white gap between two columns, or None for one column: the middle band's least
    covered position, with at least three lines on each side beside each other."""
    if len(lines) < 6 or width <= 0:
        return None
    bins = int(width) + 1
    cover = np.zeros(bins, dtype=np.int32)
    for ln in lines:
        cover[max(0, int(ln.x0)) : min(bins, int(ln.x1) + 1)] += 1
    lo, hi = int(0.3 * width), int(0.7 * width)
    middle = cover[lo:hi]
    least = int(middle.min())
    if least > 0.15 * len(lines):
        return None
    runs = np.flatnonzero(middle == least)
    g = float(lo + runs[len(runs) // 2])
    left = [ln for ln in lines if ln.x1 <= g]
    right = [ln for ln in lines if ln.x0 >= g]
    if len(left) < 3 or len(right) < 3:
        return None
    side_by_side = min(max(ln.bottom for ln in left), max(ln.bottom for ln in right)) - max(
        min(ln.top for ln in left), min(ln.top for ln in right)
    )
    return g if side_by_side > 0 else None


def order_lines(lines: list[Line], width: float) -> list[Line]:
    """Reading order: top to bottom; with two columns, a band's left column before its right one,
    bands separated by lines that span both columns (a headline across the page)."""
    g = _gutter(lines, width)
    if g is None:
        return sorted(lines, key=lambda ln: (round(ln.top, 1), ln.x0))
    spanning = sorted((ln for ln in lines if ln.x0 < g < ln.x1), key=lambda ln: ln.top)
    columns = [ln for ln in lines if not ln.x0 < g < ln.x1]
    out: list[Line] = []
    above = float("-inf")
    for stop in [*spanning, None]:
        below = stop.top if stop is not None else float("inf")
        band = [ln for ln in columns if above <= ln.top < below]
        out += sorted((ln for ln in band if ln.x1 <= g), key=lambda ln: ln.top)
        out += sorted((ln for ln in band if ln.x1 > g), key=lambda ln: ln.top)
        if stop is not None:
            out.append(stop)
            above = stop.top
    return out


# A line's margin band: running headers sit in the top 12% of the page, footers in the bottom 12%.
MARGIN = 0.12
# Positions of one running line on different pages agree to this many points.
POSITION_SLACK = 4.0


def _furniture_key(line: Line, height: float) -> tuple[str, str] | None:
    """(band, text with digits as '#'): page numbers and dates in running lines change page to page."""
    if line.bottom <= MARGIN * height:
        band = "top"
    elif line.top >= (1 - MARGIN) * height:
        band = "bottom"
    else:
        return None
    return band, re.sub(r"\d+", "#", re.sub(r"\s+", "", line.text))


def drop_furniture(pages: list[list[Line]], sizes: list[tuple[float, float]]) -> int:
    """Remove running headers, footers and page numbers in place: margin lines whose text (digits
    aside) repeats at the same place on at least half the pages (and two).  Returns how many."""
    with_text = sum(1 for p in pages if p)
    if with_text < 2:
        return 0
    seen: dict[tuple[str, str], list[tuple[int, Line]]] = defaultdict(list)
    for pno, lines in enumerate(pages):
        for ln in lines:
            key = _furniture_key(ln, sizes[pno][1])
            if key is not None:
                seen[key].append((pno, ln))
    need = max(2, (with_text + 1) // 2)
    drop: set[int] = set()
    for found in seen.values():
        tops = np.array([ln.top for _, ln in found])
        same_place = [ln for _, ln in found if abs(ln.top - np.median(tops)) <= POSITION_SLACK]
        if len({ln.page for ln in same_place}) >= need:
            drop.update(id(ln) for ln in same_place)
    for lines in pages:
        lines[:] = [ln for ln in lines if id(ln) not in drop]
    return len(drop)
