"""Where each passage's words start, cut once at index time and stored beside the passage text.

The answer reader reads spans that are runs of whole words, so it needs the words of the sentences
it reads.  Cutting those sentences again on every question was about a fifth of the time composing
an answer took (``benchmarks/answer_time.py``); the build already cuts every passage to count its
terms, and the same cut gives its words.  They are stored as one bit per character of the passage
text (set where a word starts), packed: about 40 bytes for a 300-character passage, an eighth of
storing each start as a 16-bit offset.

jieba cuts each run of ideographs, letters and digits on its own, and whitespace is a word of its
own, so the words of the passage text inside ``"<title> <section> <text>"`` (what is indexed) are
the words of the text cut alone, and a sentence's words are those of the passage inside it
(sentences end at punctuation or line ends).  ``tests/test_words.py`` checks both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, pairwise
from pathlib import Path
from typing import Any

import numpy as np

from qa_service.core.parallel import default_workers
from qa_service.core.tokenizer import Tokenizer
from qa_service.index.embedded.bm25 import BM25, POSTINGS_FILE, CorpusStats
from qa_service.index.embedded.config import IndexSettings
from qa_service.index.embedded.counting import BlockSpill, _Block, count_texts
from qa_service.index.embedded.term_ids import TermIds
from qa_service.index.publish import FolderWriter, map_array, map_bytes, npy_bytes
from qa_service.index.records import RecordTable

MARKS_FILE = "chunk_words.bin"
BOUNDS_FILE = "chunk_words_bounds.npy"


def index_passages(
    texts: Sequence[str],
    meta: np.ndarray,
    articles: RecordTable,
    tokenizer: Tokenizer,
    settings: IndexSettings,
    stats: CorpusStats | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_disk: Path | None = None,
) -> tuple[BM25, WordStarts]:
    """BM25 over the passages (``meta``: their article, start, end rows) and their word starts, from
    one cut of each, in worker processes (one per core) unless there are few.  ``stats``: weigh the
    terms as in the larger index this is a segment of.  ``on_disk``: a folder where the postings are
    spilled while counting and written (``bm25_postings.bin``) instead of being held in memory."""
    items = passage_items(texts, meta, articles, settings.title_in_passages)
    analyse = PassageAnalyser(tokenizer)
    if on_disk is None:
        blocks = count_texts(items, analyse, default_workers(), total=len(texts), on_progress=on_progress)
        return BM25.from_blocks(blocks, settings.bm25, stats), WordStarts.from_blocks(blocks)
    spill = BlockSpill(on_disk / "postings.spill")
    try:
        blocks = count_texts(items, analyse, default_workers(), len(texts), on_progress=on_progress, spill=spill)
        bm25 = BM25.from_blocks(blocks, settings.bm25, stats, (spill, on_disk / POSTINGS_FILE))
    finally:
        spill.close()
        spill.path.unlink(missing_ok=True)
    return bm25, WordStarts.from_blocks(blocks)


class PassageAnalyser:
    """A passage's index terms and its packed word starts, from one cut of ``prefix + text``.

    Picklable (the tokenizer pickles as its recipe), so the build's worker processes run it."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, items: list[tuple[str, str]], ids: TermIds) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
        cut = self.tokenizer.cut
        raws = [cut(prefix + text) for prefix, text in items]
        tids, where = ids.block(raws)
        skips = np.fromiter((len(prefix) for prefix, _ in items), dtype=np.int64, count=len(items))
        sizes = np.fromiter((len(text) for _, text in items), dtype=np.int64, count=len(items))
        return tids, where, pack_block_word_starts(raws, skips, sizes)

    def term_ids(self) -> TermIds:
        return TermIds(self.tokenizer.bigrams)


def pack_word_starts(words: Sequence[str], skip: int, n_chars: int) -> bytes:
    """One bit per character of the ``n_chars`` characters after the first ``skip`` of the text
    ``words`` cut: set where a word starts (the first character always is)."""
    bits = np.zeros(n_chars, dtype=bool)
    if n_chars:
        starts = np.cumsum([0, *map(len, words[:-1])]) - skip
        bits[starts[(starts >= 0) & (starts < n_chars)]] = True
        bits[0] = True
    return np.packbits(bits, bitorder="little").tobytes()


def pack_block_word_starts(raws: Sequence[list[str]], skips: np.ndarray, sizes: np.ndarray) -> list[bytes]:
    """``pack_word_starts`` of each of a block's texts (cut as ``raws``; the ``skips`` characters of
    each before its ``sizes`` ones), the block's bits set in one array and packed at once."""
    counts = np.fromiter(map(len, raws), dtype=np.int64, count=len(raws))
    lengths = np.fromiter(map(len, chain.from_iterable(raws)), dtype=np.int64, count=int(counts.sum()))
    text = np.repeat(np.arange(len(raws)), counts)
    ends = np.cumsum(lengths)
    first_end = np.concatenate(([0], ends))[np.cumsum(counts) - counts]  # where each text's first word starts
    starts = ends - lengths - first_end[text] - skips[text]  # each word's start in its text after the skip
    nbytes = (sizes + 7) // 8
    at = 8 * (np.cumsum(nbytes) - nbytes)  # each text's first bit
    inside = (starts >= 0) & (starts < sizes[text])
    bits = np.zeros(8 * int(nbytes.sum()), dtype=bool)
    bits[at[text[inside]] + starts[inside]] = True
    bits[at[sizes > 0]] = True  # the first character always starts a word
    packed = np.packbits(bits, bitorder="little").tobytes()
    bounds = [*(at // 8).tolist(), len(packed)]
    return [packed[a:b] for a, b in pairwise(bounds)]


def passage_items(
    texts: Iterable[str], meta: Iterable[Sequence[Any]], articles: RecordTable, title_in: bool
) -> Iterator[tuple[str, str]]:
    """What is indexed of each passage: (its article's title and section, or nothing; its text)."""
    for t, row in zip(texts, meta, strict=True):
        if title_in:
            a = int(row[0])  # two cells read, not the article's whole row
            yield f"{articles.cell(a, 'title')} {articles.cell(a, 'section') or ''} ", t
        else:
            yield "", t


class WordStarts:
    """The packed word starts of every passage of an index: ``data[bounds[i]:bounds[i + 1]]`` is
    passage i's."""

    def __init__(self, data: bytes | memoryview, bounds: np.ndarray) -> None:
        self.data = data
        self.bounds = bounds

    @classmethod
    def from_blocks(cls, blocks: Sequence[_Block]) -> WordStarts:
        sizes = [b.mark_sizes for b in blocks]
        bounds = np.zeros(sum(len(s) for s in sizes) + 1, dtype=np.int64)
        if sizes:
            np.cumsum(np.concatenate(sizes), out=bounds[1:])
        return cls(b"".join(b.marks for b in blocks), bounds)

    @classmethod
    def load(cls, folder: Path) -> WordStarts:
        return cls(map_bytes(folder / MARKS_FILE), map_array(folder / BOUNDS_FILE))

    def save(self, out: FolderWriter) -> None:
        out.put(MARKS_FILE, bytes(self.data))
        out.put(BOUNDS_FILE, npy_bytes(self.bounds))

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def starts(self, i: int, n_chars: int) -> np.ndarray | None:
        """Where passage i's words start, as offsets in its text of ``n_chars`` characters (None if
        what is stored does not cover that many: the reader then cuts the text itself)."""
        a, b = int(self.bounds[i]), int(self.bounds[i + 1])
        if b - a != (n_chars + 7) // 8:
            return None
        packed = np.frombuffer(self.data[a:b], dtype=np.uint8)
        return np.flatnonzero(np.unpackbits(packed, count=n_chars, bitorder="little"))
