"""Chunk stage: articles -> passages of whole sentences with one sentence of overlap.

A chunk never crosses an article, and never spans text that cleaning removed
(a boilerplate line in the middle of an article): its original character range
must contain exactly its text, whitespace aside.
"""

from __future__ import annotations

import numpy as np

from qa_service.core.models import Article, Chunk, ChunkSettings, CleanText
from qa_service.core.text import sentence_spans, strip_ws


def _contiguous(orig: str, body: CleanText, a_end: int, b_start: int) -> bool:
    """True if nothing but whitespace lies in the original between two cleaned positions."""
    if a_end <= 0 or b_start >= len(body.offsets):
        return True
    gap = orig[body.offsets[a_end - 1] + 1 : body.offsets[b_start]]
    return not gap.strip()


def gap_positions(original: str, body: CleanText) -> list[int]:
    """Cleaned positions i where removed content (not just whitespace) lies before character i."""
    offs = np.frombuffer(body.offsets, dtype=np.int32)  # CleanText keeps them as array("i")
    # Only where the offsets jump is anything removed (vectorised: this ran for every character).
    jumps = (np.flatnonzero(offs[1:] - offs[:-1] > 1) + 1).tolist()
    return [i for i in jumps if original[int(offs[i - 1]) + 1 : int(offs[i])].strip()]


def _split_at(spans: list[tuple[int, int]], cuts: list[int]) -> list[tuple[int, int]]:
    if not cuts:
        return spans
    out = []
    for s, e in spans:
        inner = [c for c in cuts if s < c < e]
        for c in inner:
            out.append((s, c))
            s = c
        out.append((s, e))
    return out


def _intact(original: str, body: CleanText) -> bool:
    """True if cleaning removed nothing but whitespace inside the body's range of the original (the
    common case, told by one comparison instead of a look between every two characters)."""
    offs = body.offsets
    return not offs or strip_ws(original[offs[0] : offs[-1] + 1]) == strip_ws(body.text)


def chunk_article(article: Article, original: str, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    body = article.body
    sents = sentence_spans(body.text, settings.max_chars)
    # A sentence that runs across a removed boilerplate line is cut there: its two parts
    # could not be cited as one contiguous range of the original.
    intact = _intact(original, body)
    if not intact:
        sents = _split_at(sents, gap_positions(original, body))
    groups: list[list[tuple[int, int]]] = []
    cur: list[tuple[int, int]] = []
    for sp in sents:
        if cur and not intact and not _contiguous(original, body, cur[-1][1], sp[0]):
            groups.append(cur)
            cur = [sp]
            continue
        size = sp[1] - cur[0][0] if cur else 0
        if cur and size > settings.max_chars and cur[-1][1] - cur[0][0] >= settings.min_chars // 2:
            groups.append(cur)
            last = cur[-1]
            overlap = [last] if last[1] - last[0] <= settings.overlap_max and len(cur) > 1 else []
            cur = [*overlap, sp]
        else:
            cur.append(sp)
    if cur:
        # A short tail is better folded into the chunk before than left on its own.
        if (
            groups
            and cur[-1][1] - cur[0][0] < settings.min_chars // 2
            and _joinable(groups[-1], cur, settings)
            and (intact or _contiguous(original, body, groups[-1][-1][1], cur[0][0]))
        ):
            groups[-1] = groups[-1] + [sp for sp in cur if sp not in groups[-1]]
        else:
            groups.append(cur)

    chunks = []
    for n, g in enumerate(groups):
        s, e = g[0][0], g[-1][1]
        text = body.text[s:e]
        chunks.append(
            Chunk(
                id=f"{article.doc_id}#{article.index}.{n}",
                text=text,
                char_start=body.offsets[s],
                char_end=body.offsets[e - 1] + 1,
                doc_id=article.doc_id,
                article=article.index,
                title=article.title,
                published=article.published,
                publisher=article.publisher,
                attribution=article.attribution,
                section=article.section,
            )
        )
    return chunks


def _joinable(prev: list[tuple[int, int]], tail: list[tuple[int, int]], settings: ChunkSettings) -> bool:
    return tail[-1][1] - prev[0][0] <= settings.max_chars + settings.min_chars // 2
