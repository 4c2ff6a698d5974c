"""Lists read from running text (qa/enumerate.py): the three shapes, trimming, and choosing the run
a list question asks for.  Sentences are made up here, in the styles of news and encyclopaedia
text; none comes from the seeds."""

from __future__ import annotations

import pytest

from qa_service.core.models import Chunk, Hit
from qa_service.core.tokenizer import Tokenizer
from qa_service.qa.answer import compose
from qa_service.qa.enumerate import asked_count, asks_for_list, best_enumeration, enumerations
from qa_service.qa.question import parse_question
from qa_service.qa.reader import load_model


def _items(text: str) -> list[tuple[str, ...]]:
    return [e.items for e in enumerations(text)]


@pytest.mark.parametrize(
    ("text", "items"),
    [
        # The verb before the first item and the 等… after the last are not items.
        ("市场监管局先后检查了超市、药店、餐馆等场所。", ("超市", "药店", "餐馆")),
        # …and 三项工作 closes a run too.
        ("会议要求抓好垃圾分类、污水治理、河道保洁三项工作。", ("垃圾分类", "污水治理", "河道保洁")),
        # 及 at the end joins two items; a leading 以及 is dropped.
        ("邀请居民代表、商户代表及物业代表参加。", ("居民代表", "商户代表", "物业代表")),
        ("症状包括发热、咳嗽、以及乏力。", ("发热", "咳嗽", "乏力")),
        # Parallel items keep their shared verb.
        ("集中时间、集中人员、集中力量推进。", ("集中时间", "集中人员", "集中力量")),
        # A short quote inside an item stays.
        ("走访了“四小”门店、农贸市场、建筑工地。", ("“四小”门店", "农贸市场", "建筑工地")),
    ],
)
def test_comma_runs_are_cut_to_whole_items(text, items):
    assert items in _items(text)


def test_quoted_and_titled_runs():
    assert ("“文明餐桌”", "“光盘行动”", "“绿色出行”") in _items("开展“文明餐桌”“光盘行动”“绿色出行”等活动。")
    assert ("《致家长的一封信》", "《致市民的倡议书》") in _items("印发《致家长的一封信》和《致市民的倡议书》，")


def test_ordinal_runs_take_the_clause_after_each_marker():
    text = "一是队伍建设到位。加强培训。二是设施保障到位，添置设备。三是宣传引导到位。"
    assert ("队伍建设到位", "设施保障到位", "宣传引导到位") in _items(text)
    # A run must start at 一 and count up without gaps.
    assert not any(len(i) == 2 for i in _items("二是甲方负责。四是乙方负责。"))


def test_the_count_a_question_asks_for():
    assert asked_count("这“三个到位”分别是哪三个？") == 3
    assert asked_count("说要实现“四个提升”，我记得一个，另外三个是什么？") == 3
    assert asked_count("有哪些街道参加？") is None


@pytest.mark.parametrize(
    ("question", "is_list"),
    [
        ("有哪些单位参加？", True),
        ("另外两个是什么？", True),
        ("这五大行动是哪五个？", True),
        ("他生于哪一年？", False),
        ("哪一个球场被取代了？", False),
        ("会议在哪里举行？", False),
    ],
)
def test_which_questions_ask_for_a_list(question, is_list):
    assert asks_for_list(question) is is_list


def _hit(text: str, rank: int = 0, title: str = "标题") -> Hit:
    chunk = Chunk(id=f"d#0.{rank}", text=text, char_start=0, char_end=len(text), doc_id="d", article=0, title=title)
    return Hit(chunk=chunk, score=10.0 - rank, rank=rank)


def test_of_two_runs_in_a_sentence_the_one_the_question_stands_next_to():
    text = "会议强调，要围绕安全、质量、进度三大目标，落实巡查制度、台账制度、约谈制度等管理制度。"
    words = ("管理制度", "制度")
    listed = best_enumeration(
        "会议要求落实哪些管理制度？", lambda t: sum(w in t for w in words) / len(words), [_hit(text)], None
    )
    assert listed is not None and listed.items == ("巡查制度", "台账制度", "约谈制度")


def test_items_the_question_already_names_are_left_out():
    text = "座谈会邀请了人大代表、政协委员、律师代表、群众代表参加。"
    listed = best_enumeration("除了人大代表、政协委员，座谈会还邀请了哪些人？", lambda t: 1.0, [_hit(text)], None)
    assert listed is not None and listed.items == ("律师代表", "群众代表")


def test_a_list_question_without_a_typed_head_gets_the_run_cited():
    tok = Tokenizer()
    query = parse_question(tok, "南湖公园改造分为哪几个阶段？")
    pool = [
        _hit("南湖公园改造分为清淤、护岸、绿化三个阶段，预计年底完工。", rank=0, title="南湖公园改造启动"),
        _hit("北湖公园周末举办花展。", rank=1),
    ]
    idf = {"南湖": 3.0, "公园": 1.0, "改造": 2.0, "阶段": 2.0, "分为": 1.0}
    answer, passages = compose(load_model(), tok, query, pool, 2, lambda t: idf.get(t), 4.0, None)
    assert [i.text for i in answer.items] == ["清淤", "护岸", "绿化"]
    assert all(passages[i.passages[0]].chunk.doc_id == "d" and i.passages == [0] for i in answer.items)


def test_numbered_section_headings_of_a_document_are_a_list_each_item_cited_to_its_section():
    def chunk(n: int, text: str, section: str | None) -> Hit:
        c = Chunk(f"r#{n}", text, 0, len(text), "r", n, "年度报告", section=section)
        return Hit(chunk=c, score=10.0 - n, rank=n)

    pool = [
        chunk(0, "本报告总结全年工作。", None),
        chunk(2, "全年新增绿地。", "二、改善生态环境，建设宜居城市"),
        chunk(1, "全年新增岗位。", "一、稳定就业，保障民生"),
        chunk(3, "全年新修道路。", "三、完善基础设施"),
    ]
    about = lambda t: 1.0 if "年度报告" in t else 0.0  # noqa: E731
    listed = best_enumeration("年度报告分为哪几个部分？", about, pool[:1], None, pool)
    assert listed is not None
    assert listed.items == ("稳定就业", "改善生态环境", "完善基础设施")
    assert listed.cites == ("r#1", "r#2", "r#3")


def test_names_sharing_one_suffix_are_each_whole_and_none_is_made_up():
    from qa_service.qa.entities import shared_suffix_names

    assert shared_suffix_names("副区长对东湖路、西山南路街道进行督导", ("街道", "镇")) == ["东湖路街道"]
    # A one-character suffix would turn 广西、云南各省 into 广西省: not a name the text supports.
    assert shared_suffix_names("分布于广西、云南各省", ("省", "区")) == []
    # Items that carry their own suffix are whole already.
    assert shared_suffix_names("东湖街道、西山街道", ("街道",)) == []


def test_items_are_tagged_once_and_as_jieba_tags_them():
    import jieba.posseg as pseg

    from qa_service.qa.enumerate import _tags

    for item in ("先后察看和谐家园", "群众代表参加", "舆论宣传"):
        assert [(p.word, p.flag) for p in _tags(item)] == [(p.word, p.flag) for p in pseg.cut(item)]
        assert _tags(item) is _tags(item)  # the cached tuple, not a fresh tagging
