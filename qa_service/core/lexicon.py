"""Word lists every stage shares: stopwords, question words, name suffixes, roles, surnames.

One home for them, so the tokenizer, the user dictionary learned from the
corpus and the answer stage agree on what a name or a question word is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Function words and question words: they carry no topic, and in a question they
# would otherwise pull in every passage that happens to use them.
STOPWORDS = frozenset(
    [
        "的",
        "了",
        "和",
        "与",
        "及",
        "或",
        "是",
        "在",
        "有",
        "对",
        "为",
        "将",
        "把",
        "被",
        "也",
        "都",
        "而",
        "并",
        "之",
        "其",
        "这",
        "那",
        "该",
        "此",
        "以",
        "于",
        "从",
        "向",
        "等",
        "中",
        "上",
        "下",
        "个",
        "就",
        "又",
        "还",
        "让",
        "使",
        "由",
        "着",
        "过",
        "把",
        "给",
        "跟",
        "同",
        "地",
        "得",
        "所",
        "们",
        "我",
        "你",
        "他",
        "她",
        "它",
        "我们",
        "你们",
        "他们",
        "她们",
        "一个",
        "一些",
        "这个",
        "那个",
        "这些",
        "那些",
        "以及",
        "并且",
        "而且",
        "但是",
        "因为",
        "所以",
        "如果",
        "虽然",
        "还是",
        "或者",
        "什么",
        "怎么",
        "怎样",
        "怎么样",
        "如何",
        "为何",
        "为什么",
        # spoken question words, as a chat user types them (啥时候 = 什么时候, 为啥 = 为什么, 咋 = 怎么)
        "啥",
        "啥时候",
        "为啥",
        "咋",
        "咋样",
        "哪",
        "哪些",
        "哪个",
        "哪里",
        "哪儿",
        "哪几个",
        "哪几",
        "哪位",
        "哪一个",
        "哪天",
        "几",
        "多少",
        "谁",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "么",
        "请问",
        "请",
        "一下",
        "是否",
        "是不是",
        "有没有",
        "多久",
        "何时",
        "什么时候",
        "哪一年",
        "几月",
        "几日",
        "几号",
        "一共",
        "总共",
        "分别",
        "具体",
        "主要",
        "有关",
        "关于",
        "相关",
        "据",
        "曾",
        "已",
        "要",
        "会",
        "能",
        "可以",
        "进行",
    ]
)

# Added to the segmenter's dictionary so that 是哪天开的 does not become 是/哪/天开/的.  Changing
# this list changes how every passage is cut: an index would have to be rebuilt.
QUESTION_WORDS = (
    "哪天",
    "哪位",
    "哪些",
    "哪个",
    "哪里",
    "哪儿",
    "哪年",
    "哪一天",
    "哪一年",
    "哪几",
    "哪几个",
    "哪几位",
    "什么时候",
    "多少",
    "多长",
    "多久",
    "为什么",
    "怎么样",
)

# Every question word as the segmenter cuts it: what a question asks with, not what it is about.
# A question's words and terms leave them out, as they leave out stopwords (a question with 何种 or
# 哪一天 is not about passages that happen to say 何种, and a word no passage says would otherwise
# weigh as the question's rarest).  Passages keep them: the text's 几年 or 哪家 is left as it is.
# Words with a measure after 几, 哪 or 多少 are listed by their measure (几个, 哪一位, 多少名),
# whether or not the segmenter keeps them whole.
_MEASURES = "个位名种家所年天次项件座部本首条场期批届岁国支"
ASKING_WORDS = frozenset(
    [
        *QUESTION_WORDS,
        *("谁", "何人", "什么", "什么样", "何种", "何者", "何为", "啥", "哪", "哪里", "哪儿", "何地", "何处"),
        *("什么时候", "啥时候", "何时", "何年", "几时", "几月", "几日", "几号"),
        *("为什么", "为何", "为啥", "怎么", "怎么样", "怎样", "如何", "咋", "咋样"),
        *("多少", "几", "第几", "哪几", "多久", "多长", "多大"),
        *("是否", "能否", "可否", "是不是", "有没有"),
        *(head + m for head in ("几", "哪", "哪一", "哪几", "多少") for m in _MEASURES),
    ]
)

# 前几天, 这几年, 那几个: a few, said of a time or a set; 几 after these does not ask.
A_FEW_AFTER = ("这", "那", "前", "近", "头")


def says_a_few(words: Sequence[str], i: int) -> bool:
    """Whether ``words[i]`` is 几… after 前, 这, 近, 那 or 头: a few (前几天 says when), not asked."""
    return words[i].startswith("几") and i > 0 and words[i - 1].endswith(A_FEW_AFTER)


def asking_words(cut: Sequence[str]) -> set[str]:
    """The question words of a question's cut: its words in ASKING_WORDS, but not 几… that says a
    few (``says_a_few``)."""
    return {w for i, w in enumerate(cut) if w in ASKING_WORDS and not says_a_few(cut, i)}


# Suffixes of the organisation and place names worth keeping whole.
NAME_SUFFIXES = (
    "街道",
    "办事处",
    "社区",
    "镇",
    "乡",
    "村",
    "县",
    "区",
    "市",
    "局",
    "委",
    "办",
    "院",
    "所",
    "中心",
    "公司",
    "集团",
    "管委会",
    "委员会",
    "联",
    "协",
    "队",
    "站",
    "厂",
    "园",
)

# Titles that stand before a person's name (区委书记宋洁, 站长欧阳知秋).
ROLE = re.compile(
    r"书记|[区县市镇乡省州厅局处科站所院校社行部组队团馆]长|主席|主任|委员|常委|指挥长|负责人|经理|董事长|主编|记者|通讯员"
)

# Name endings of offices and places (区人社局, 郑州通航试验区管委会, 武城县).
OFFICE_SUFFIXES = tuple(
    ["局", "委", "办", "院", "所", "中心", "委员会", "管委会", "联合会", "协会", "联", "协", "队", "站", "部"]
)
ORG_SUFFIXES = (*OFFICE_SUFFIXES, "街道", "镇", "公司", "集团")
PLACE_SUFFIXES = ("市", "县", "区", "镇", "乡", "街道", "省")

SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭"
    "陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易"
    "乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴"
    "蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边"
    "卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
COMPOUND_SURNAMES = frozenset(
    ["欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "长孙", "宇文"]
)


def starts_with_surname(name: str) -> bool:
    return name[:1] in SURNAMES or name[:2] in COMPOUND_SURNAMES
