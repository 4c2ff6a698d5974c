"""What kind of answer a question asks for, and where things of that kind stand in a text.

The kind is read from the question word and the noun next to it (谁 -> a person, 哪天 -> a date,
多少钱 -> a number, 哪个部门 -> an organisation, 为什么 -> a reason).  Finding things of a kind
in a sentence is by their written shape (dates, numbers with units, quoted titles, names after a
title or ending in an office/place suffix), which carries from one corpus to another.
"""

from __future__ import annotations

import re

from qa_service.core.lexicon import ORG_SUFFIXES, PLACE_SUFFIXES, ROLE

KINDS = ("person", "date", "number", "place", "org", "title", "reason", "method", "yesno", "other")

# 为什么 not ending the question (…被称为什么？ asks what it is called): shared with features.WH.
WHY_NOT_LAST = r"为什么(?![？?。！!\s]*$)"

# Whether a text asks something: a question word anywhere in it (前几天 / 这几年 say when, they do not
# ask, as in the number pattern below).
ASKS = re.compile(
    r"谁|什么|哪|多少|多[长大高重远久深宽]|(?<![前这近那过头])几[个项次名家人天年月号日位岁种]|何|怎|如何|为什么|是否|啥|咋"
)

_KIND_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # 为何 or 为什么 ending a question asks what something is (最大的岛屿为何？, 被称为什么？), not why.
    ("reason", re.compile(rf"{WHY_NOT_LAST}|为何(?![？?。\s]*$)|为啥|原因|何故|因为什么|什么缘故")),
    ("method", re.compile(r"怎么|怎样|如何|咋(?!回事)|什么(?:办法|方法|方式|措施|手段|途径)|哪些(?:措施|办法|方式)")),
    (
        "date",
        re.compile(
            r"什么时候|啥时候?|何时|哪天|哪一天|几月几[日号]|几号|哪一?年|哪一?个?月|什么时间|哪一?个?(?:时期|朝代|年代)|何年|几时|什么朝代"
        ),
    ),
    ("person", re.compile(r"谁|哪一?位|何人|[什啥]么?人|哪一?个人(?!口)|哪些人|哪几位")),
    (
        "number",
        re.compile(
            # 前几天/这几年/过几天 say when (a few days ago), they do not ask how many; 哪几个 asks which.
            r"多少|(?<![前这近那哪])几[个项次名家人条万亿岁种座所件位张部首场期批倍层届集只头]|"
            r"(?<![前这近那过头哪])几[天年月]|百分之几|比例|多大|多高|多长|"
            r"多重|多远|多深|多宽|多久|第几|几成|多少钱|几何"
        ),
    ),
    (
        "place",
        re.compile(
            r"哪里|哪儿|什么地方|啥地方|何处|何地|在哪|哪一?个?(?:国家|城市|省|地区|县|市|区|镇|村|地方|国|州|岛|地)|哪座"
        ),
    ),
    (
        "org",
        re.compile(
            r"哪一?(?:个|家|所|支)?(?:部门|单位|公司|机构|组织|学校|大学|学院|医院|企业|政党|球队|团体|政府|集团|协会|银行|"
            r"团队|乐队|军队|部队|报社|媒体|电视台)|什么(?:部门|单位|机构|组织)"
        ),
    ),
    (
        "title",
        re.compile(r"叫什么|名字|名称|称号|称为什么|简称|全称|什么(?:书|作品|歌|电影|节目|游戏|奖)|哪(?:部|本|首)"),
    ),
    ("yesno", re.compile(r"是否|是不是|有没有|能不能|会不会|对不对")),
]


def standard_wording(question: str) -> str:
    """``question`` with variant spellings of question words made standard (甚么 -> 什么), the
    length kept so offsets in it stay."""
    return question.replace("甚么", "什么")


def answer_kind(question: str) -> str:
    """The kind of answer ``question`` asks for (one of KINDS)."""
    question = standard_wording(question)
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(question):
            return kind
    return "other"


# Where things of each kind stand in a text.  Each pattern's whole match is a candidate answer.
_CN_NUM = "零〇一二三四五六七八九十百千万亿两"
DATE = re.compile(
    rf"(?:公元前?)?(?:\d{{1,4}}|[{_CN_NUM}]{{2,4}})\s*年(?:\s*\d{{1,2}}\s*月(?:\s*\d{{1,2}}\s*[日号])?)?"
    rf"|\d{{1,2}}\s*月\s*\d{{1,2}}\s*[日号]|\d{{1,2}}\s*月(?:份|上旬|中旬|下旬)?|\d{{4}}-\d{{1,2}}(?:-\d{{1,2}})?"
    rf"|[{_CN_NUM}\d]+世纪(?:[{_CN_NUM}\d]+年代)?(?:[初中末]期?)?|[上下]午\d{{1,2}}[时点]|今年|去年|明年|近日|日前"
)
# Units a figure is written with (longest first where one begins another: 平方公里 before 公里).
_UNITS = (
    r"个百分点|平方公里|平方千米|平方米|平方英里|公顷|公里|千米|公尺|公分|公斤|公吨|千克|英里|英尺|英寸|海里|毫米|厘米|"
    r"小时|分钟|美元|日圆|日元|港元|港币|欧元|英镑|韩元|台币|新台币|人民币|"
    r"km²|km2|km|cm|mm|kg|m²|GB|MB|TB|Hz|kW|MW|"
    r"[个项次名家人条元块岁年月天日秒米亩吨克座所件位张部首场期批倍层届集只头辆架艘户套台册卷篇份周里度分票种类例起处段吋呎尺寸斤磅]"
)
_LEAD = r"(?:约|近|超过|逾|达|共)?"
NUMBER = re.compile(
    rf"{_LEAD}\d(?:[\d.,，]*\d)?\s*(?:%|‰|[多余]?[万亿千百]?[多余]?[{_CN_NUM}]?(?:{_UNITS})?)"
    rf"|[{_CN_NUM}]{{1,6}}(?:个|项|次|名|家|人|条|元|岁|年|天|座|所|件|位|倍|层|届|种|类|例|起|处|期|批)"
    r"|百分之[零〇一二三四五六七八九十百点]+"
)
# A figure with its unit (20项, 3.7万余元, 22.31%): an answer to 多少 keeps its unit.
NUMBER_UNIT = re.compile(
    rf"{_LEAD}(?:[\d.,]*\d|[{_CN_NUM}]{{1,6}})\s*(?:[多余]?[万亿千百]{{0,2}}[多余]?)?(?:%|‰|{_UNITS})"
    r"|[\d.,]*\d\s*[万亿][多余]?"
)
TITLE = re.compile(r"《[^《》]{1,40}》|“[^“”]{2,30}”|「[^「」]{2,30}」|‘[^‘’]{2,30}’")
PERSON = re.compile(
    rf"(?:副|常务副?|代)?(?:{ROLE.pattern})[\u4e00-\u9fff]{{2,3}}|[\u4e00-\u9fff]{{1,3}}·[\u4e00-\u9fff]{{1,6}}"
)
_ORG = "|".join(sorted(ORG_SUFFIXES, key=len, reverse=True))
_PLACE = "|".join(sorted(PLACE_SUFFIXES, key=len, reverse=True))
ORG = re.compile(rf"[\u4e00-\u9fff]{{2,12}}?(?:{_ORG})")
PLACE = re.compile(rf"[\u4e00-\u9fff]{{1,8}}?(?:{_PLACE}|国|州|洲|岛|山|河|江|湖|海|路)")

SHAPES: dict[str, re.Pattern[str]] = {
    "date": DATE,
    "number": NUMBER,
    "title": TITLE,
    "person": PERSON,
    "org": ORG,
    "place": PLACE,
}


# Questions asking for a day (哪天 -> 4月14日, not 上午10时 nor 4月), and what names one.
ASKS_DAY = re.compile(r"哪天|哪一天|哪日|何日|几号|几月几[日号]|哪一?个?日子")
DAY = re.compile(rf"\d{{1,2}}\s*[日号]|[{_CN_NUM}]{{1,3}}[日号]|[今昨前明后]天|[今昨明]日|星期|周[一二三四五六日天]")


def has_shape(kind: str, text: str) -> bool:
    """True if ``text`` holds something of ``kind`` (kinds without a shape always match)."""
    pattern = SHAPES.get(kind)
    return True if pattern is None else bool(pattern.search(text))
