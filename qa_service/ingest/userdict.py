"""The user dictionary learned from the corpus: names the tokenizer keeps whole (新安路街道, 区人社局)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from qa_service.core.lexicon import NAME_SUFFIXES
from qa_service.core.models import Article
from qa_service.core.postag import pseg
from qa_service.core.text import ATTRIBUTION_TAIL, IDEOGRAPH

_NAME_IN_TEXT = re.compile(
    rf"(?:^|(?<=[\s，。、；：“”（）《》,;:()\"到在对由和与及为向从赴至了]))([{IDEOGRAPH}]{{2,6}}?(?:街道|镇|乡))"
)
_NAME_ENDS = ("街道", "镇", "乡")  # what _NAME_IN_TEXT's names end with
_BAD_NAME_START = re.compile(r"^(?:各|本|该|全|两|多|每|辖区|乡镇|城镇|村镇|街道)")


def _looks_like_name(candidate: str) -> bool:
    """Reject phrases such as 建立并完善街道: a name has no verb, adverb or conjunction in it."""
    return not any(flag[:1] in _NOT_IN_NAMES for _, flag in pseg.cut(candidate, HMM=False))


_NOT_IN_NAMES = {"v", "d", "c", "p", "u", "r", "m"}


def learn_names(articles: Iterable[Article]) -> list[str]:
    """Names to keep whole: attributions like （区人社局）, and 某某街道/镇/乡 seen in the text."""
    counter = NameCounter()
    counter.add(articles)
    return counter.names()


class NameCounter:
    """``learn_names`` over articles seen a few at a time (a corpus streamed document by document)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, articles: Iterable[Article]) -> None:
        names = self.counts
        for a in articles:
            if a.attribution and re.fullmatch(f"[{IDEOGRAPH}]{{2,14}}", a.attribution):
                names[a.attribution] += 2
            for text in (a.title, a.body.text):
                # Both patterns are looked for only where they can match (a text ending with a
                # bracket; from just before the first 街道/镇/乡): tried at every character, they
                # were a sixth of what cleaning and chunking a news corpus took.
                if text.rstrip().endswith(("）", ")")):
                    for m in ATTRIBUTION_TAIL.finditer(text):
                        if re.fullmatch(f"[{IDEOGRAPH}]{{2,14}}", m.group(1)) and m.group(1).endswith(NAME_SUFFIXES):
                            names[m.group(1)] += 2
                first = min((i for i in map(text.find, _NAME_ENDS) if i >= 0), default=-1)
                if first < 0:
                    continue
                # A name's at most six characters start before its suffix; the lookbehind still sees
                # the characters before ``pos``, and ``^`` matches only at the text's real start.
                for m in _NAME_IN_TEXT.finditer(text, max(0, first - 7)):
                    name = m.group(1)
                    if not _BAD_NAME_START.match(name):
                        names[name] += 1

    def names(self) -> list[str]:
        return sorted(n for n, c in self.counts.items() if c >= 2 or _looks_like_name(n))
