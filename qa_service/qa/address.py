"""What a chat user says around a question (请问…, 你知道…吗？, 我是社区工作人员，…, …？谢谢), read away
before anything else reads the question (docs/answers.md, "Question words, and what a chat user says
around a question")."""

from __future__ import annotations

import re

from qa_service.core.text import ideograph_count
from qa_service.qa.kinds import ASKS

# Left in, its words were words to find in the text and stood where the question's own wording goes:
# the seed set's short answers held the gold 0.69 of the time as typed, 0.54 in 50 such forms.
_ADDRESS_PARTS = (
    "您好|你好",
    "(?:请|我?想)(?:问|请教|打听|咨询)(?:一?下|问)?|(?:问|请教|打听|咨询)(?:一?下|问)|求(?:问|教|助)",
    "麻烦(?:你|您)?",
    "(?:请|麻烦)?(?:你|您)?(?:能|可以)?帮(?:我|忙)(?:查|找|看|搜)(?:一?下|查|找|看|搜)?",
    "我?(?:比较|很|挺|特别)?(?:想|需要)(?:知道|了解|请问|弄清楚)(?:一?下)?",
    "我(?:不太|不)(?:清楚|知道)",
    "(?:你|您|有人|有谁|谁)(?:知道|清楚|了解)",
    "(?:请|能|可以|能否|可否|能不能)?(?:你|您|谁|有谁)?(?:能|可以)?(?:告诉(?:一?下)?我(?!们)|说说|讲讲|介绍一下)",
    "我(?:很|挺|有点|比较)?好奇",
)
_ADDRESS = re.compile(rf"^(?:(?:{'|'.join(_ADDRESS_PARTS)})[，,、：:！!。\s]*)+")
# 你知道…吗, 能告诉我…吗: the 吗 asks whether the one asked knows, not whether the thing is so.
_ASKS_IF_KNOWN = re.compile(r"知道|清楚|了解|告诉|说说|讲讲|帮")
_IF_KNOWN_END = re.compile(r"吗[？?！!。\s]*$")
# A clause with its closing marks; one that speaks to the one asked, not of the news: greetings,
# thanks, who asks and why, how to answer.  我 or 你 alone marks a short clause only (我住在工业路街道，
# says where), and nothing in quotes is the asker's (「我很高兴…」这句话是谁说的).
_CLAUSE_MARKS = "，,：:！!？?。；;～~…"
_CLAUSES = re.compile(rf"[^{_CLAUSE_MARKS}]+[{_CLAUSE_MARKS}\s]*|[{_CLAUSE_MARKS}\s]+")
_SPEAKING = re.compile(
    r"你好|您好|嗨|哈喽|大家好|老师好|^小?助手|在吗|谢谢|多谢|^感谢|感谢[！!。～~]*$|^麻烦|麻烦(?:你|您|了)|打扰"
    r"|^请问|^请教|^求[问助教]|问一?个?问题|帮我|帮忙(?:看|查|找|解答|回答)|^请?(?:查|搜)|查一?下|搜一?下|核实一?下"
    r"|确认一?下|请.{0,12}回答|解答|^急[！!]|在线等|记不清|想不起|说一?下|讲一?下|告诉我(?!们)"
)
_SPEAKER = re.compile(r"我(?![区市省国县镇乡们方军党])|你|您|大家|各位")
_QUOTED = re.compile(r"[「」“”『』\"]")
MAX_SPEAKER_CLAUSE = 8
# Clauses that ask without a question word of ASKS: 百分之几, and a clause ending in 吗.
_ALSO_ASKING = re.compile(r"百分之几|吗[？?！!。\s]*$")


def without_address(question: str) -> str:
    """``question`` without what a chat user says around it (请问…, 你知道…吗, 我是社区工作人员，…,
    …？谢谢): the clauses from the first asking something to the last, without those before or
    after that speak to the one asked; ``question`` as it is when nothing would be left to ask."""
    clauses = _CLAUSES.findall(question.strip())
    asking = [i for i, c in enumerate(clauses) if _asks(c)]
    if not asking:
        return question
    start, end = 0, len(clauses)
    while start < asking[0] and _speaks(clauses[start]):
        start += 1
    if clauses[asking[-1]].rstrip().endswith(("？", "?")):
        end = asking[-1] + 1  # nothing is asked after a question mark (…？我一下子想不起来了)
    while end > asking[-1] + 1 and _speaks(clauses[end - 1]):
        end -= 1
    rest = "".join(clauses[start:end])
    if end < len(clauses):
        rest = rest.rstrip(_CLAUSE_MARKS + " ") + "？"
    if m := _ADDRESS.match(rest):
        if _ASKS_IF_KNOWN.search(m.group()):
            if not ASKS.search(rest[m.end() :]):  # 你知道宋洁吗？ 谁知道这件事？
                return question
            rest = _IF_KNOWN_END.sub("？", rest)
        rest = rest[m.end() :]
    return rest if ideograph_count(rest) >= 2 and _asks(rest) else question


def _asks(clause: str) -> bool:
    """Whether a clause asks something of the news: a question word, or 吗 ending it (not 在吗？)."""
    if ASKS.search(clause):
        return True
    return bool(_ALSO_ASKING.search(clause)) and not _speaks(_ADDRESS.sub("", clause, count=1))


def _speaks(clause: str) -> bool:
    """Whether a clause speaks to the one asked (大家好，/ 我是社区工作人员，/ 谢谢！) rather than of the news."""
    if _QUOTED.search(clause):
        return False
    short = len(clause.strip(_CLAUSE_MARKS + " ")) <= MAX_SPEAKER_CLAUSE
    return bool(_SPEAKING.search(clause) or (short and _SPEAKER.search(clause)))
