"""Questions asking the same of several things (A和B分别…): read as one question per thing."""

from __future__ import annotations

import pytest

from qa_service.core.models import Chunk, Hit
from qa_service.core.tokenizer import Tokenizer
from qa_service.qa.answer import compose
from qa_service.qa.coordination import coordinated_parts
from qa_service.qa.question import parse_question, part_texts
from qa_service.qa.reader import load_model


def _split(text: str) -> list[str]:
    """A question given as its words, separated by spaces."""
    return text.split()


@pytest.mark.parametrize(
    ("words", "parts"),
    [
        # A和B的X: the conjuncts are the things the X belongs to.
        (
            "东风街道 和 西湖街道 的 安全 会议 分别 是 哪天 召开 的 ？",
            ["东风街道的安全会议是哪天召开的？", "西湖街道的安全会议是哪天召开的？"],
        ),
        # …的A和B: heads of one 的 phrase; the last runs through its own 的 to 分别.
        (
            "东风街道 的 主任 和 这 几篇 报道 的 记者 分别 是 谁 ？",
            ["东风街道的主任是谁？", "东风街道的这几篇报道的记者是谁？"],
        ),
        # Verb phrases.
        (
            "东风街道 已 完成 和 正在 推进 的 实事 分别 有 多少 项 ？",
            ["东风街道已完成的实事有多少项？", "正在推进的实事有多少项？"],
        ),
        # A chain: A、B和C; a shared head (第95届奥斯卡) aligned on the conjuncts' common start.
        (
            "第 95 届 奥斯卡 最佳影片 、 最佳 男主角 和 最佳 女主角 分别 是 什么 ？",
            ["第95届奥斯卡最佳影片是什么？", "第95届奥斯卡最佳男主角是什么？", "第95届奥斯卡最佳女主角是什么？"],
        ),
        # A shared head and tail found by aligning 文学奖 with 化学奖.
        (
            "2022 年 诺贝尔文学奖 和 化学 奖得主 分别 是 谁 ？",
            ["2022年诺贝尔文学奖得主是谁？", "2022年诺贝尔化学奖得主是谁？"],
        ),
        # The respective word before the coordination; 了 ends the verb before the conjuncts.
        (
            "谁 分别 主持 了 安全 会议 和 防汛 会议 ？",
            ["谁主持了安全会议？", "谁主持了防汛会议？"],
        ),
        # The segmenter glued the conjunction into a word (平和): taken out again.
        ("赵吉 平和 姚方海 分别 到 哪里 检查 ？", ["赵吉平到哪里检查？", "姚方海到哪里检查？"]),
        # A title is one conjunct, though it holds 的.
        (
            "《 烟硝 下 的 记忆 》 与 《 俗谚 析论 》 分别 是 谁 写 的 ？",
            ["《烟硝下的记忆》是谁写的？", "《俗谚析论》是谁写的？"],
        ),
        # 各是 (one word for rjieba) says "respectively" too; 各 is dropped, 是 kept.
        ("甲镇 和 乙镇 的 会议 各是 哪天 开 的 ？", ["甲镇的会议是哪天开的？", "乙镇的会议是哪天开的？"]),
        ("甲镇 和 乙镇 的 会议 各 是 哪天 开 的 ？", ["甲镇的会议是哪天开的？", "乙镇的会议是哪天开的？"]),
    ],
)
def test_a_coordinated_question_is_asked_once_per_conjunct(words: str, parts: list[str]) -> None:
    assert coordinated_parts(_split(words)) == parts


def test_without_a_respective_word_only_names_joined_before_de_are_asked_of_each() -> None:
    words = _split("香港 和 澳门 的 增长率 是 多少 ？")
    assert coordinated_parts(words) == []  # not known to be names
    assert coordinated_parts(words, ["香港", "澳门"]) == ["香港的增长率是多少？", "澳门的增长率是多少？"]
    assert coordinated_parts(_split("甲国 和 乙国 举行 了 多少 次 会谈 ？"), ["甲国", "乙国"]) == []  # no 的


@pytest.mark.parametrize(
    "words",
    [
        "谁 主持 了 会议 ？",  # no coordination
        "三个 到位 分别 是 哪 三个 ？",  # 分别 without a coordination: a list
        "和 平 分别 是 什么 ？",  # a conjunction with nothing before it
        "虎强 对 拉网 排查 、 群众 诉求 的 各类 问题 提了 什么 要求 ？",  # 各类 is "all kinds", not "respectively"
        "甲镇 和 乙镇 的 各 单位 是 谁 ？",  # 各 单位: each unit
        "印度 野驴 与 非洲 野驴 的 分别 是 什么 ？",  # 的分别: the difference
        "甲部 与 乙国 关系 ， 各有 不同 ， 后来 怎样 ？",  # the respective word is in another clause
        "四大 工程 分别 是 甲渠 、 乙渠 和 哪 一个 ？",  # the answers listed, one asked for
    ],
)
def test_questions_without_coordinated_things_are_not_split(words: str) -> None:
    assert coordinated_parts(_split(words)) == []


def test_coordinated_list_questions_stay_lists() -> None:
    # Each part would itself ask for a list (哪些): one answer with items, as before.
    words = _split("甲镇 和 乙镇 分别 开展 了 哪些 活动 ？")
    assert part_texts("".join(words), words) == ([], False)


def test_only_parts_about_different_things_are_retrieved_apart() -> None:
    from qa_service.qa.retrieve import retrieve_parts

    class Ranker:
        mode = "bm25"

        def rank(self, q, k, filters=None):
            return [_hit(q.text, "asked.txt")]

    tok = Tokenizer(["东风街道", "西湖街道"])
    apart = parse_question(tok, "东风街道和西湖街道的安全会议分别是哪天召开的？")
    assert [[h.chunk.text for h in pool] for pool in retrieve_parts(Ranker(), apart, 5)] == [
        [q.text] for q in apart.slots
    ]
    # Two clauses about one subject share the whole question's passages.
    shared = parse_question(tok, "东风街道的安全会议是哪天开的？会上是谁讲的话？")
    assert len(shared.slots) == 2 and not shared.apart
    assert retrieve_parts(Ranker(), shared, 5) == []


def test_parts_that_found_the_same_answer_are_one_answer() -> None:
    # Asked of two countries, answered by one sentence about both: one answer, not two rows.
    tok = Tokenizer(["甲国", "乙国"])
    query = parse_question(tok, "甲国和乙国的合作是由于哪个宣言？")
    assert len(query.slots) == 2 and query.apart
    both = _hit("甲国与乙国的合作是由于《联合宣言》。", "both.txt")
    idf = {"甲国": 3.0, "乙国": 3.0, "合作": 2.0, "宣言": 2.0}
    answer, passages = compose(
        load_model(), tok, query, [both], 1, lambda t: idf.get(t), 4.0, None, part_pools=[[both], [both]]
    )
    assert answer.text is not None and answer.slots == [] and len(passages) == 1


def _hit(text: str, doc: str) -> Hit:
    chunk = Chunk(id=f"{doc}#0.0", text=text, char_start=0, char_end=len(text), doc_id=doc, article=0, title="标题")
    return Hit(chunk=chunk, score=10.0, rank=0)


def test_each_conjunct_is_read_from_its_own_passages_and_cited_faithfully() -> None:
    tok = Tokenizer(["东风街道", "西湖街道"])
    query = parse_question(tok, "东风街道和西湖街道的安全会议分别是哪天召开的？")
    assert [q.text for q in query.slots] == ["东风街道的安全会议是哪天召开的？", "西湖街道的安全会议是哪天召开的？"]
    assert query.apart
    east = _hit("3月5日，东风街道召开安全会议，部署安全生产工作。", "east.txt")
    west = _hit("4月9日，西湖街道召开安全会议，排查隐患。", "west.txt")
    # The whole question's best passage is about one of them; each part's own retrieval finds its own.
    pool, parts = [east], [[east], [west]]
    idf = {"东风街道": 3.0, "西湖街道": 3.0, "安全": 2.0, "会议": 1.0, "召开": 1.0}
    answer, passages = compose(load_model(), tok, query, pool, 1, lambda t: idf.get(t), 4.0, None, part_pools=parts)
    d = answer.to_dict()
    assert [p.chunk.doc_id for p in passages] == ["east.txt", "west.txt"]  # the part's citation joined
    assert d["text"] == d["slots"][0]["text"]
    found = []
    for part in d["slots"]:
        assert part["text"] is not None
        s, e = part["span"]
        assert passages[part["passage"]].chunk.text[s:e] == part["text"]
        es, ee = part["evidence"]["span"]
        assert passages[part["evidence"]["passage"]].chunk.text[es:ee] == part["evidence"]["text"]
        found.append((passages[part["passage"]].chunk.doc_id, part["text"]))
    assert found[0][0] == "east.txt" and "3月5日" in found[0][1]
    assert found[1][0] == "west.txt" and "4月9日" in found[1][1]


def test_a_follow_up_after_a_coordinated_question_asks_of_its_one_new_thing() -> None:
    tok = Tokenizer(["东风街道", "西湖街道", "南湖街道"])
    history = [
        {"role": "user", "content": "东风街道和西湖街道的安全会议分别是哪天召开的？"},
        {"role": "assistant", "content": "3月5日；4月9日"},
    ]
    query = parse_question(tok, "那南湖街道呢？", history)
    assert query.text == "南湖街道的安全会议分别是哪天召开的？"  # not 南湖街道和南湖街道的…
    assert query.slots == []
