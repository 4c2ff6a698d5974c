"""Questions asking the same of two or more things: 「A和B的会议分别是哪天召开的？」.

Such a question is read as one question per thing (「A的会议是哪天召开的」, 「B的会议是哪天召开的」),
each answered on its own (``answer.slots``), instead of one answer for the pair.  It is recognised by
its structure, not its wording: a coordination (和, 与, 及, 以及, 、) in the same clause as a word
saying "respectively" (分别, 各自, 各是), or two names joined before 的 (「香港和澳门的GDP增长率是多少？」).
The latter is often asked of the two together (「中国国民党与苏联的合作是由于哪个宣言？」): then both
parts find the same answer, and the answer (answer.py) is that one answer.  「分别是A、B和哪一个？」
lists the answers, it does not ask for each, and is not split.

Where each conjunct starts and ends is read from the question's words: the first conjunct runs back
from the conjunction to the start, a punctuation mark or a function word (的, 由, 在, …); the last
runs forward to 的 or the respective word.  When the first conjunct is itself the head of a 「…的」
phrase (「区的区长和这几篇新闻的记者」) the conjuncts are heads too, and the last runs through 的 to
the respective word.  Coordinated phrases are parallel, so words the conjuncts share are found by
aligning them (「2022年诺贝尔文学奖和化学奖得主」: 「学奖」 aligns, so 「2022年诺贝尔」 and 「得主」
belong to both: 「2022年诺贝尔文学奖得主」, 「2022年诺贝尔化学奖得主」).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa_service.core.lexicon import says_a_few

CONJUNCTIONS = frozenset({"和", "与", "及", "以及", "、"})
# "Respectively": 分别, 各自, and 各 before 是/有/为/在 (各是, which rjieba keeps whole) -- not 各类, 各单位.
_RESPECTIVE = re.compile(r"^(?:分别|各自|各(?=[是有为在]|$))")
# Words a conjunct does not run across: what links it to the rest of the question.
_STOPS = frozenset(
    {"的", "是", "由", "被", "在", "对", "向", "把", "将", "为", "从", "给", "有", "到", "之", "了", "过", "着"}
)
_PUNCT = re.compile(r"^[\s，,。？?！!；;：:（）()“”\"'‘’]+$")
_WH = re.compile(r"谁|什么|哪|多少|几|何|怎|如何|为什么|是否|啥|咋")
MAX_PARTS = 4
_MIN_ALIGN = 2  # characters two conjuncts must share to count as a shared part


def coordinated_parts(cut: Sequence[str], names: Sequence[str] = ()) -> list[str]:
    """The question once per conjunct, the respective word dropped; empty if ``cut`` (the
    question's segmentation) does not ask the same of several things.  ``names``: the proper names
    in it; without a respective word, names joined before 的 count (「香港和澳门的GDP增长率是多少？」)."""
    words = _titles_whole(cut)
    respective = next((i for i in range(len(words)) if _respective(words, i)), None)
    if respective is not None and not any(w in CONJUNCTIONS for w in words):
        words, respective = _glued_conjunction(words, respective)
    chain = _chain(words, respective)
    if chain is None:
        return []
    first, conj, last_end = chain
    conjuncts = _conjuncts(words, first, conj, last_end)
    if conjuncts is None or len(conjuncts) > MAX_PARTS:
        return []
    if respective is None:
        named = last_end < len(words) and words[last_end] == "的" and all(c in names for c in conjuncts)
        return _parts(words, first, last_end, conjuncts) if named else []
    between = words[last_end:respective] if respective >= last_end else words[respective + 1 : first]
    if any(_PUNCT.match(w) for w in between):
        return []  # 「A与B关系，各有不同」: the respective word belongs to another clause
    if respective < first and words[respective + 1][:1] in "是为":
        return []  # 「分别是A、B和哪一个？」: the answers listed, one of them asked
    return _parts(words, first, last_end, conjuncts)


def _glued_conjunction(words: list[str], respective: int) -> tuple[list[str], int]:
    """The words with a 和/与/及 the segmenter glued into a word just before the respective word
    taken out as a word of its own (赵吉/平和/姚方海/分别 -> 赵吉/平/和/姚方海/分别), and the
    respective word's new position; unchanged if there is none.  A question saying "respectively"
    with no conjunction has most likely lost it so: 赵吉平 is not in the dictionary and 平和 is."""
    for i in range(respective - 1, 0, -1):
        w = words[i]
        if _PUNCT.match(w):
            break
        k = next((k for k, ch in enumerate(w) if ch in "和与及"), -1)
        if k >= 0 and len(w) > 1:
            split = [p for p in (w[:k], w[k], w[k + 1 :]) if p]
            return [*words[:i], *split, *words[i + 1 :]], respective + len(split) - 1
    return words, respective


def _parts(words: Sequence[str], first: int, last_end: int, conjuncts: list[str]) -> list[str]:
    """The question with the coordination replaced by each conjunct in turn."""
    prefix, cores, suffix = _shared(conjuncts)
    plain = _without_respective(words)
    before, after = "".join(plain[:first]), "".join(plain[last_end:])
    return [f"{before}{prefix}{core}{suffix}{after}" for core in cores]


def _titles_whole(cut: Sequence[str]) -> list[str]:
    """The words with each 《…》 or “…” title joined into one: a conjunct does not end inside one."""
    out: list[str] = []
    open_at: int | None = None
    for w in cut:
        out.append(w)
        if open_at is None and w in ("《", "“"):
            open_at = len(out) - 1
        elif open_at is not None and w in ("》", "”"):
            out[open_at:] = ["".join(out[open_at:])]
            open_at = None
    return out


def _chain(words: Sequence[str], respective: int | None) -> tuple[int, list[int], int] | None:
    """(start of the first conjunct, the conjunctions' positions, end of the last conjunct) of the
    coordination next to the respective word: the nearest before it, else the first after it (the
    first, without one)."""
    at = [i for i, w in enumerate(words) if w in CONJUNCTIONS]
    if respective is not None:
        before = [i for i in at if i < respective]
        at = before[-1:] or [i for i in at if i > respective][:1]
    if not at:
        return None
    c = at[0]
    conj = [c]
    while True:  # earlier conjunctions of the same chain: A、B和C
        k = c - 1
        while k >= 0 and _inside(words, k):
            k -= 1
        if k >= 0 and words[k] in CONJUNCTIONS and k < c - 1:
            c = k
            conj.insert(0, c)
        else:
            break
    first = c
    while first > 0 and _inside(words, first - 1):
        first -= 1
    heads = first > 0 and words[first - 1] == "的"  # 「区的[区长]和…」: the conjuncts are heads
    end = conj[-1] + 1
    while end < len(words) and _inside(words, end, through_de=heads):
        end += 1
    return first, conj, end


def _inside(words: Sequence[str], i: int, through_de: bool = False) -> bool:
    """Whether a conjunct runs across ``words[i]``."""
    word = words[i]
    if word in CONJUNCTIONS or _PUNCT.match(word) or _respective(words, i):
        return False
    if _WH.search(word) and not says_a_few(words, i):
        return False
    return word not in _STOPS or (through_de and word == "的")


def _conjuncts(words: Sequence[str], first: int, conj: list[int], end: int) -> list[str] | None:
    """The conjuncts' texts: from ``first`` to the first conjunction, between conjunctions, and from
    the last to ``end``; None if one is empty."""
    starts, ends = [first, *(c + 1 for c in conj)], [*conj, end]
    out = ["".join(words[a:b]) for a, b in zip(starts, ends, strict=True)]
    return out if all(out) else None


def _shared(conjuncts: list[str]) -> tuple[str, list[str], str]:
    """(shared prefix, the conjuncts without what they share, shared suffix), by aligning the
    first conjunct with the second (a shared head: 「第95届奥斯卡最佳影片、最佳男主角」) and the last
    with the one before (a shared tail: 「文学奖和化学奖得主」)."""
    cores = list(conjuncts)
    prefix = suffix = ""
    head = cores[1][:_MIN_ALIGN]
    p = cores[0].find(head, 1) if len(head) == _MIN_ALIGN else -1
    if p > 0:
        prefix, cores[0] = cores[0][:p], cores[0][p:]
    for k in range(min(len(cores[-2]), len(cores[-1])) - 1, _MIN_ALIGN - 1, -1):
        j = cores[-1].find(cores[-2][-k:])
        if j >= 0 and j + k < len(cores[-1]):
            suffix, cores[-1] = cores[-1][j + k :], cores[-1][: j + k]
            lead = len(cores[0]) - len(cores[-1])
            if not prefix and len(cores) == 2 and lead > 0 and cores[0].endswith(cores[-1][j:]):
                prefix, cores[0] = cores[0][:lead], cores[0][lead:]
            break
    return prefix, cores, suffix


def _respective(words: Sequence[str], i: int) -> bool:
    """Whether ``words[i]`` says "respectively": not the noun of 「…的分别是什么」 (the difference),
    and a bare 各 only before 是/有/为/在 (各|是)."""
    if not _RESPECTIVE.match(words[i]) or (i > 0 and words[i - 1] == "的"):
        return False
    return words[i] != "各" or (i + 1 < len(words) and words[i + 1][:1] in "是有为在")


def _without_respective(words: Sequence[str]) -> list[str]:
    """The words with the respective word dropped (各是 -> 是)."""
    out = list(words)
    for i, w in enumerate(out):
        if _respective(out, i):
            out[i] = w[_RESPECTIVE.match(w).end() :]
            break
    return out
