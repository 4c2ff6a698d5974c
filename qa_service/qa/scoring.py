"""How much of a question a text covers: idf-weighted words, focus words, bigrams."""

from __future__ import annotations

import re
from collections.abc import Callable

from qa_service.core.lexicon import STOPWORDS
from qa_service.core.models import Query

FOCUS_WEIGHT = 3.0
GRAM_SHARE = 0.1
TOPIC_GRAM_SHARE = 0.1
MIN_WEIGHT = 0.1

_WH = re.compile(
    r"^(?:谁|哪些|哪几个|哪几位|哪几|哪个|哪位|哪里|哪儿|哪|什么时候|什么|多少|几|何时|如何|怎样|怎么|为何|为什么|是否|啥|啥时候|为啥|咋)$"
)


def focus_terms(cut: list[str]) -> set[str]:
    """Content words right next to the question word (谁[陪同], [收入]是多少), from the question's
    raw segmentation."""
    words = [w for w in cut if w.strip()]
    focus: set[str] = set()
    for i, w in enumerate(words):
        if not _WH.match(w):
            continue
        for step in (1, -1):
            j = i + step
            while 0 <= j < len(words) and (words[j] in STOPWORDS or not re.search(r"\w", words[j])):
                j += step
            if 0 <= j < len(words) and abs(j - i) <= 2:
                focus.add(words[j].lower())
    return focus


class Scorer:
    """Weights of the question's words, and how much of that weight a text holds.

    Words are matched as substrings, so a different segmentation of the same
    characters still counts.  A word the corpus has never seen weighs as much
    as the rarest word: a question about 法国 cannot be answered by passages
    that merely share its other words.
    """

    def __init__(
        self,
        query: Query,
        idf: Callable[[str], float | None],
        max_idf: float,
        exclude: tuple[str, ...] = (),
        topic: bool = False,
    ) -> None:
        # ``topic``: weigh only what the question is about (for list items): no focus
        # boost, no single characters or numbers, no words the corpus lacks.
        self.focus = set() if topic else focus_terms(query.cut)
        # What a passage is about shows in part-words too (爱国卫生工作 for 爱国卫生运动).
        self.gram_share = TOPIC_GRAM_SHARE if topic else GRAM_SHARE
        self.unknown: set[str] = set()  # words the corpus has never seen
        self.weights: dict[str, float] = {}
        for w in dict.fromkeys(query.words):
            if w in exclude or (topic and (len(w) < 2 or w.isdigit())):
                continue
            weight = idf(w)
            if weight is None:
                # Not a word of the corpus: maybe segmented differently there (bigrams all known).
                grams = [idf(w[i : i + 2]) for i in range(len(w) - 1)]
                if grams and all(g is not None for g in grams):
                    weight = sum(grams) / len(grams)
                elif topic:
                    continue  # words the corpus lacks cannot tell its passages apart
                else:
                    weight = max_idf
                    self.unknown.add(w)
            # A word in half the passages has idf 0 but still says what is asked.
            weight = max(weight, MIN_WEIGHT)
            if w in self.focus:
                weight *= FOCUS_WEIGHT
            self.weights[w] = weight
        self.total = sum(self.weights.values())
        # Bigrams reward the question's words standing together, as in the question.
        self.gram_weights = {
            t: max(w, MIN_WEIGHT)
            for t in query.tokens
            if len(t) == 2 and t not in self.weights and not any(t in e for e in exclude) and (w := idf(t)) is not None
        }
        self.gram_total = sum(self.gram_weights.values())

    def coverage(self, text: str) -> float:
        if self.total <= 0:
            return 0.0
        low = text.lower()
        words = sum(w for t, w in self.weights.items() if t in low) / self.total
        if self.gram_total <= 0:
            return words
        grams = sum(w for t, w in self.gram_weights.items() if t in low) / self.gram_total
        return (1 - self.gram_share) * words + self.gram_share * grams
