"""The answer side, stage by stage: question analysis, scoring, entities and lists.

Each test imports one module and feeds it data made here (not the seed files),
so a failure points at the stage that broke.
"""

from __future__ import annotations

import numpy as np
import pytest

from qa_service.core.lexicon import ASKING_WORDS, QUESTION_WORDS
from qa_service.core.models import Chunk, Hit
from qa_service.core.tokenizer import Tokenizer
from qa_service.qa.address import without_address
from qa_service.qa.answer import compose, highlights
from qa_service.qa.entities import enumerations, org_names, person_names, question_names
from qa_service.qa.features import WH
from qa_service.qa.kinds import answer_kind
from qa_service.qa.listing import list_spec
from qa_service.qa.model import AnswerModel, Choice, Logistic
from qa_service.qa.question import carry_topic, is_followup, parse_question
from qa_service.qa.reader import load_model, span_candidates
from qa_service.qa.scoring import Scorer, focus_terms

TOKENIZER = Tokenizer(["东风街道", "西湖街道", "区交通局"])


class CountingTokenizer(Tokenizer):
    """A tokenizer that counts how often each text is segmented."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self.cuts: dict[str, int] = {}

    def cut(self, text: str) -> list[str]:
        self.cuts[text] = self.cuts.get(text, 0) + 1
        return super().cut(text)


def _idf(table: dict[str, float]):
    return lambda term: table.get(term)


def _hit(text: str, score: float = 10.0, rank: int = 0, doc: str = "d.txt", title: str = "标题") -> Hit:
    chunk = Chunk(id=f"{doc}#0.{rank}", text=text, char_start=0, char_end=len(text), doc_id=doc, article=0, title=title)
    return Hit(chunk=chunk, score=score, rank=rank)


# -- question analysis ------------------------------------------------------------------------
def test_a_question_is_parsed_once_into_every_form_the_stages_read():
    q = parse_question(TOKENIZER, "东风街道什么时候召开了安全生产会议？")
    assert q.text == q.question and not q.followup
    assert "东风街道" in q.words and "东风街道" in q.names
    assert q.tokens == q.text_tokens and "安全" in q.tokens
    assert "".join(q.cut) == q.question  # the raw cut keeps every character


def test_a_followup_swaps_the_subject_and_says_so():
    history = [{"role": "user", "content": "东风街道什么时候召开了安全生产会议？"}]
    q = parse_question(TOKENIZER, "那西湖街道呢？", history)
    assert q.followup and q.text == "西湖街道什么时候召开了安全生产会议？"
    assert q.tokens.count("西湖街道") == 3  # its own subject counts three times
    assert "西湖街道" in q.names and "东风街道" not in q.text


def test_a_followup_about_the_earlier_answer_keeps_the_earlier_question():
    history = [{"role": "user", "content": "东风街道一季度一般公共预算收入是多少？"}]
    narrowing = parse_question(TOKENIZER, "那其中税收收入有多少？", history)
    assert narrowing.earlier is not None and narrowing.earlier.text == "东风街道一季度一般公共预算收入是多少？"
    swapped = parse_question(TOKENIZER, "那西湖街道呢？", history)  # a new subject: not about the answer
    assert swapped.earlier is None
    unknown = parse_question(TOKENIZER, "那垦利区呢？", history)  # … even one not known as a name
    assert unknown.followup and unknown.earlier is None
    assert parse_question(TOKENIZER, "那其中税收收入有多少？").earlier is None  # no history


def test_the_articles_the_earlier_answer_cited_are_read_first():
    from qa_service.qa.retrieve import earlier_first

    pool = [_hit("b", rank=0, doc="b.txt"), _hit("a", rank=1, doc="a.txt"), _hit("c", rank=2, doc="c.txt")]
    earlier = [_hit("a", rank=1, doc="a.txt"), _hit("d", rank=5, doc="d.txt")]
    assert [h.chunk.doc_id for h in earlier_first(pool, earlier)] == ["a.txt", "d.txt", "b.txt", "c.txt"]
    assert earlier_first(pool, []) == pool


def test_what_counts_as_a_followup():
    assert is_followup("那西湖街道呢？") and is_followup("还有其他的吗")
    assert not is_followup("西湖街道什么时候召开了安全生产会议？")
    assert carry_topic(TOKENIZER, "东风街道有多少人？", "那西湖街道呢？") == "西湖街道有多少人？"


@pytest.mark.parametrize(
    "question",
    ["东风街道什么时候召开了安全生产会议？", "哪些街道开展了垃圾分类？", "区交通局局长是谁？"],
)
def test_the_question_is_segmented_once_per_request(question):
    tok = CountingTokenizer(["东风街道", "西湖街道", "区交通局"])
    query = parse_question(tok, question)
    pool = [
        _hit("东风街道于3月5日召开安全生产会议，区交通局局长王明出席。", rank=0),
        _hit("西湖街道、东风街道开展垃圾分类宣传。", rank=1, score=8.0),
    ]
    idf = {w: 2.0 for w in query.tokens}
    compose(load_model(), tok, query, pool, 2, _idf(idf), 3.0, lambda _: "")
    for hit in pool:
        highlights(query, hit.chunk.text)
    assert tok.cuts.get(question) == 1


# -- scoring -----------------------------------------------------------------------------------
def test_focus_words_are_the_ones_next_to_the_question_word():
    assert "陪同" in focus_terms(TOKENIZER.cut("谁陪同局长检查工作？"))
    assert "收入" in focus_terms(TOKENIZER.cut("今年的收入是多少？"))


@pytest.mark.parametrize(
    "question", ["大会在哪年召开？", "宋洁是哪一天督导的？", "该河流有多长？", "何种宗教最盛行？", "共有几个区？"]
)
def test_a_question_is_not_about_its_question_words(question):
    """A question's words and terms are what it is about: 哪年 or 何种 is neither a word to find
    in the text nor, unknown to the corpus, its question's rarest word."""
    q = parse_question(TOKENIZER, question)
    asking = [w for w in q.cut if w in ASKING_WORDS]
    assert asking, q.cut  # the segmenter keeps the question word whole, and the table knows it
    assert not set(asking) & set(q.words)
    assert not any(w in t or t in w for w in asking for t in q.tokens if len(t) > 1 and not t.isdigit())


def test_the_question_word_table_agrees_with_the_readers():
    """Each question word of the table is one the span reader and the segmenter's list know."""
    assert set(QUESTION_WORDS) <= ASKING_WORDS
    readers_miss = [w for w in ASKING_WORDS if not WH.search(w) and w not in ("是不是", "有没有")]
    assert not readers_miss


def test_coverage_weighs_rare_words_and_knows_unknown_ones():
    q = parse_question(TOKENIZER, "东风街道的垃圾分类怎么样？")
    idf = {"东风街道": 5.0, "垃圾": 1.0, "分类": 1.0}
    s = Scorer(q, _idf(idf), max_idf=6.0)
    assert s.coverage("东风街道开展垃圾分类") == pytest.approx(1.0, abs=0.11)
    assert s.coverage("东风街道开展活动") > s.coverage("开展垃圾分类")  # the rare name weighs more
    assert s.coverage("无关的句子") == 0.0
    unknown = Scorer(parse_question(TOKENIZER, "巴黎的垃圾分类怎么样？"), _idf(idf), max_idf=6.0)
    assert "巴黎" in unknown.unknown


# -- entities ----------------------------------------------------------------------------------
def test_people_offices_and_enumerations():
    text = "区委书记李华主持会议，区长张伟出席。"
    assert {"李华", "张伟"} <= set(person_names(text))
    assert "区交通局" in org_names(TOKENIZER, "会议由区交通局组织。", ("局",))
    assert ["甲小区", "乙市场", "丙公园"] in enumerations("先后察看甲小区、乙市场、丙公园等处。")
    assert "东风街道" in question_names(TOKENIZER, "东风街道在哪里？")


def test_tagging_only_the_runs_with_an_action_finds_what_tagging_the_whole_text_finds(seed_corpus):
    """names_before_actions tags only the runs of text where an action could follow a name; jieba.posseg
    tags each run alone, so the names are those tagging the whole passage finds."""
    import jieba.posseg as pseg

    from qa_service.qa.entities import _NAME_THEN_ACTION, names_before_actions

    def whole(text: str) -> list[str]:
        names, pos = [], 0
        for w, flag in pseg.cut(text):
            pos += len(w)
            if flag == "nr" and 2 <= len(w) <= 4 and _NAME_THEN_ACTION.match(text[pos : pos + 4]):
                names.append(w)
        return names

    texts = [c.text for c in seed_corpus.chunks] + ["王明表示，2021年张伟指出：李华、赵刚一行察看了现场。"]
    assert [names_before_actions(t) for t in texts] == [whole(t) for t in texts]
    assert sum(len(whole(t)) for t in texts) >= 5


# -- lists ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "kind", "suffix"),
    [
        ("哪些街道开展了垃圾分类？", "suffix", "街道"),
        ("有哪些区直部门参加了会议？", "suffix", "局"),
        ("哪几位区领导出席了会议？", "person", None),
        ("检查组去了哪些地方？", "spot", None),
    ],
)
def test_list_questions_say_what_they_ask_for(question, kind, suffix):
    spec = list_spec(question)
    assert spec is not None and spec.kind == kind
    if suffix:
        assert suffix in spec.suffixes


def test_a_plain_question_is_not_a_list():
    assert list_spec("东风街道什么时候召开了会议？") is None


def test_list_items_are_whole_names_each_cited_and_nested_names_merged():
    tok = Tokenizer(["东风街道", "紫竹南路街道"])
    query = parse_question(tok, "哪些街道开展了垃圾分类？")
    pool = [
        _hit("东风街道开展垃圾分类宣传活动。", rank=0),
        _hit("紫竹南路街道开展垃圾分类入户指导，南路街道志愿者参加。", rank=1, score=9.0),
    ]
    idf = {"垃圾": 2.0, "分类": 2.0, "开展": 0.5, "垃圾分类": 3.0}
    answer, _ = compose(load_model(), tok, query, pool, 2, _idf(idf), 4.0, None)
    items = {i.text: i.passages for i in answer.items}
    assert items.get("东风街道") == [0] and items.get("紫竹南路街道") == [1]
    assert "南路街道" not in items


# -- the fitted answer model -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("谁主持了会议？", "person"),
        ("会议是哪天召开的？", "date"),
        ("共排查出多少个问题？", "number"),
        ("活动在哪里举行？", "place"),
        ("哪个部门牵头负责？", "org"),
        ("为什么要开展这项工作？", "reason"),
        ("怎样解决停车难？", "method"),
        ("这条新闻说了什么？", "other"),
        ("哪一个人筹办了这次会议？", "person"),
        ("哪一个单位负责设计？", "org"),
        ("他出生于哪一个国家？", "place"),
        ("这座城始建于哪一个朝代？", "date"),
        ("该岛最大的城市为何？", "other"),  # 为何 ending a question: what it is, not why
        ("他为何辞职？", "reason"),
        ("摇滚乐在东德被视为什么？", "other"),  # …为什么 ending it: 为|什么, what it is seen as
        ("推特的蓝色小鸟标志更换为什么?", "other"),
        ("他为什么辞职？", "reason"),
        ("宋洁啥时候督导的？", "date"),  # spoken question words: 啥时候, 为啥, 咋, 啥地方
        ("为啥要开展这项工作？", "reason"),
        ("这事咋整改的？", "method"),
        ("这是咋回事？", "other"),
        ("会在啥地方开？", "place"),
        ("他一直有甚么问题？", "other"),
        ("前几天看到那篇报道，说的是哪个区？", "place"),  # 前几天: a few days ago, not how many
        ("他去过几个国家？", "number"),  # 过几天 says when; 去过几个 asks how many
        ("哪几个国家参加了会议？", "other"),  # 哪几个 asks which ones, not how many
    ],
)
def test_the_kind_of_answer_a_question_asks_for(question, kind):
    assert answer_kind(question) == kind


@pytest.mark.parametrize(
    ("question", "left", "right"),
    [
        ("会议由谁主持？", "会议由", "主持"),
        ("大桥全长多长？", "大桥全长", ""),
        ("何种动物会筑坝？", "", "动物会筑坝"),
        ("德国的第一大邦为？", "德国的第一大邦为", ""),  # no question word: the answer ends it
        ("该植物又被称为什么？", "该植物又被称为", ""),  # 为 stays before the answer (称为[X])
        ("为什么要开展这项工作？", "", "要开展这项工作"),
        ("哪一宗教延伸了轮回的定义？", "", "宗教延伸了轮回的定义"),  # 哪一 before a noun: the noun is asked
        ("蓝帐汗国由哪两位可汗掌管？", "蓝帐汗国由", "可汗掌管"),
        ("宋洁啥时候督导的？", "宋洁", "督导的"),
        ("他一直有甚么问题?", "他一直有", "问题"),
    ],
)
def test_the_question_is_split_at_its_question_word(question, left, right):
    from qa_service.qa.features import question_view

    view = question_view(parse_question(Tokenizer(), question), "other")
    assert (view.left, view.right) == (left, right)


@pytest.mark.parametrize(
    ("text", "figure"),
    [
        ("体长约13公尺", "约13公尺"),
        ("面积1750.33km²", "1750.33km²"),
        ("耗资5亿日圆", "5亿日圆"),
        ("花费3.7万余元", "3.7万余元"),
        ("进出口总值23.55万亿元，", "23.55万亿元"),
    ],
)
def test_a_figure_keeps_its_unit(text, figure):
    from qa_service.qa.kinds import NUMBER, NUMBER_UNIT

    assert [m.group() for m in NUMBER_UNIT.finditer(text)] == [figure]
    assert figure in [m.group() for m in NUMBER.finditer(text)]


def test_a_figure_does_not_start_at_the_comma_before_it():
    from qa_service.qa.kinds import NUMBER

    assert [m.group() for m in NUMBER.finditer("共2000多人，12个")] == ["共2000多人", "12个"]


def test_logistic_regression_learns_a_separable_rule_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(400), rng.normal(size=400), rng.normal(size=400)])
    y = (x[:, 1] - 0.5 * x[:, 2] > 0).astype(float)
    m = Logistic.fit(x, y, ("bias", "a", "b"), l2=0.1)
    assert ((m.prob(x) > 0.5) == (y > 0.5)).mean() > 0.97
    assert m.weights[1] > 0 > m.weights[2]
    model = AnswerModel(m, m, m, 0.3, {"note": "test"})
    model.save(tmp_path / "m.json")
    back = AnswerModel.load(tmp_path / "m.json", (m.names, m.names, m.names))
    assert np.allclose(back.span.weights, m.weights, atol=1e-5) and back.threshold == 0.3
    with pytest.raises(ValueError, match="re-fit"):
        AnswerModel.load(tmp_path / "m.json", (("bias", "other"), m.names, m.names))


def test_a_conditional_logit_learns_to_pick_the_right_row_of_each_group(tmp_path):
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(300), 20)
    x = np.column_stack([np.ones(len(groups)), rng.normal(size=len(groups)), rng.normal(size=len(groups))])
    utility = 2 * x[:, 1] - x[:, 2] + rng.normal(scale=0.3, size=len(groups))
    target = np.zeros(len(groups))
    for g in range(300):
        rows = np.flatnonzero(groups == g)
        target[rows[np.argmax(utility[rows])]] = 1.0
    m = Choice.fit(x, target, groups, ("bias", "a", "b"), l2=0.1)
    picked = [np.argmax(m.prob(x[groups == g])) == np.argmax(target[groups == g]) for g in range(300)]
    assert np.mean(picked) > 0.8
    assert m.weights[1] > 0 > m.weights[2] and abs(m.weights[0]) < 1e-6  # a constant cannot pick
    assert np.isclose(m.prob(x[groups == 0]).sum(), 1.0)
    logistic = Logistic(m.names, np.zeros(3))
    AnswerModel(logistic, m, logistic, 0.5, {}).save(tmp_path / "m.json")
    back = AnswerModel.load(tmp_path / "m.json", (m.names, m.names, m.names))
    assert isinstance(back.span, Choice) and np.allclose(back.span.weights, m.weights, atol=1e-5)


def _span_rows(question: str, sentence: str, spans: tuple[str, ...]) -> list[dict[str, float]]:
    """The span features of each of ``spans`` (texts found in ``sentence``), by feature name."""
    from qa_service.qa.features import question_view
    from qa_service.qa.span_features import SPAN_FEATURES, span_matrix

    query = parse_question(Tokenizer(), question)
    at = [(sentence.index(t), sentence.index(t) + len(t), False) for t in spans]
    view = question_view(query, answer_kind(query.text))
    rows = span_matrix(view, sentence, at, 0.5)
    return [dict(zip(SPAN_FEATURES, row, strict=True)) for row in rows]


def test_span_features_read_the_asked_noun_and_the_side_the_question_words_stand_on():
    sentence = "张三毕业于北京大学，后来在上海工作。"
    right, wrong, long = _span_rows("张三毕业于哪所大学？", sentence, ("北京大学", "张三", "北京大学，后来"))
    assert right["head_end"] == 1.0 and wrong["head_end"] == 0.0
    assert right["aligned"] == 1.0 and right["misaligned"] == 0.0
    assert wrong["misaligned"] > 0.0
    assert right["slot_left"] == 5 / 8 and right["before_break"] == 1.0 and right["inner_punct"] == 0.0
    assert long["inner_punct"] == 1.0 and long["head_end"] == 0.0
    assert wrong["question_chars"] == 1.0 and right["question_chars"] == 0.5  # 大学 of 北京大学
    assert {right["sentence_prob"], right["bias"]} == {0.5, 1.0}


def test_span_features_read_the_shape_of_the_asked_kind():
    from qa_service.qa.features import question_view
    from qa_service.qa.span_features import SPAN_FEATURES, span_matrix

    sentence = "3月5日召开会议，共排查隐患27处。"
    unit, date, bare = _span_rows("会议共排查隐患多少处？", sentence, ("27处", "3月5日", "27"))
    assert unit["number_unit"] == 1.0 and bare["number_unit"] == 0.0
    assert unit["shape_number"] == 1.0 and date["shape_date"] == 0.0  # only the asked kind's shape counts
    assert date["shape_other"] == 1.0 and unit["shape_other"] == 0.0
    view = question_view(parse_question(Tokenizer(), "多少处？"), "number")
    assert span_matrix(view, sentence, [], 0.5).shape == (0, len(SPAN_FEATURES))


def test_span_features_read_a_bare_name_when_a_person_is_asked():
    sentence = "副区长房玉雯陪同宋洁督导，并引用柏拉图和卡尔·林奈的话提高了高度。"
    spans = ("房玉雯", "宋洁", "柏拉图", "卡尔·林奈", "高度", "督导", "副区长房玉雯")
    rows = _span_rows("谁陪同督导？", sentence, spans)
    assert [r["person_name"] for r in rows] == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert rows[-1]["shape_person"] == 1.0  # a role and a name: the shape, not a bare name
    assert all(r["person_name"] == 0.0 for r in _span_rows("督导了什么？", sentence, spans))  # not asked


def test_four_unknown_ideographs_after_a_surname_are_no_bare_name():
    """宋洁实地 (a name the segmenter glued to the word after it) reads as no name; 宋洁 does."""
    sentence = "区委书记宋洁实地督导爱国卫生工作。"
    rows = _span_rows("谁督导爱国卫生工作？", sentence, ("宋洁实地", "宋洁"))
    assert [r["person_name"] for r in rows] == [0.0, 1.0]


def test_span_candidates_are_words_runs_shapes_and_clauses():
    sentence = "3月5日，东风街道召开安全生产会议，共排查隐患27处。"
    spans = {sentence[c.start : c.end] for c in span_candidates(TOKENIZER, sentence)}
    assert {"3月5日", "东风街道", "27处", "共排查隐患27处"} <= spans
    assert not any("，" in s for s in spans if s != sentence.rstrip("。"))  # runs stay inside a clause


def test_the_shipped_model_reads_the_short_answer_and_its_sentence():
    tok = Tokenizer(["东风街道"])
    model = load_model()
    query = parse_question(tok, "东风街道的安全生产会议排查出多少处隐患？")
    passage = "东风街道召开安全生产会议。会议由街道主任李明主持，共排查隐患27处，已整改20处。下一步将加强巡查。"
    idf = {t: 2.0 for t in query.tokens}
    answer, passages = compose(model, tok, query, [_hit(passage)], 1, _idf(idf), 3.0, None)
    assert answer.evidence is not None and answer.span is not None
    s, e = answer.evidence.span
    assert passages[0].chunk.text[s:e] == answer.evidence.text and s <= answer.span[0] < answer.span[1] <= e
    assert "27" in answer.evidence.text


@pytest.mark.parametrize(
    ("question", "asked"),
    [("西湖街道新公交线路是哪天开通的？", "6月18日"), ("西湖街道新公交线路首批开通了多少站？", "12")],
)
def test_a_date_or_figure_asked_is_taken_from_the_sentence_when_it_holds_one(question, asked):
    # The question's wording stands around 顺利/首批 (开通了多少站 ~ 首批开通): the scorer's favourite,
    # but the evidence sentence holds the date or figure asked for, and that is the answer.
    tok = Tokenizer(["西湖街道"])
    query = parse_question(tok, question)
    passage = "6月18日上午9时，西湖街道新公交线路顺利开通，首批开通12站，覆盖沿线8个社区。"
    answer, _ = compose(load_model(), tok, query, [_hit(passage)], 1, _idf({t: 2.0 for t in query.tokens}), 3.0, None)
    assert answer.text is not None and answer.text.startswith(asked)


def test_the_abstention_scorer_reads_how_much_of_the_question_the_evidence_holds():
    from qa_service.qa.answer import answerable_inputs
    from qa_service.qa.features import ANSWERABLE_FEATURES, PUNCT
    from qa_service.qa.reader import read

    tok = Tokenizer(["东风街道"])
    query = parse_question(tok, "东风街道的安全生产会议排查出多少处隐患？")
    hit = _hit("东风街道召开安全生产会议。会议由街道主任李明主持，共排查隐患27处。下一步将加强巡查。")
    scorer = Scorer(query, _idf({t: 2.0 for t in query.tokens}), max_idf=3.0)
    reading = read(load_model(), tok, query, scorer, [hit])
    assert reading is not None
    row = dict(zip(ANSWERABLE_FEATURES, answerable_inputs(scorer, query, reading, hit, None), strict=True))
    sentence = hit.chunk.text[reading.evidence[0] : reading.evidence[1]]
    content = "".join(ch for ch in query.text if ch not in PUNCT)  # the question's characters and bigrams
    chars, grams = set(content), {content[i : i + 2] for i in range(len(content) - 1)}
    assert row["char_overlap"] == pytest.approx(sum(ch in sentence for ch in chars) / len(chars))
    assert row["bigram_overlap"] == pytest.approx(sum(g in sentence for g in grams) / len(grams))
    assert 0.0 < row["char_overlap"] < 1.0


def test_below_the_threshold_the_service_abstains():
    tok = Tokenizer(["东风街道"])
    base = load_model()
    never = AnswerModel(base.sentence, base.span, base.answerable, 1.01, {})
    query = parse_question(tok, "东风街道的安全生产会议排查出多少处隐患？")
    answer, _ = compose(never, tok, query, [_hit("东风街道共排查隐患27处。")], 1, _idf({}), 3.0, None)
    assert answer.text is None and answer.evidence is None and 0.0 <= answer.confidence <= 1.0


def test_a_year_the_cited_passage_neither_says_nor_was_published_in_is_not_answered():
    tok = Tokenizer(["东风街道"])
    base = load_model()
    always = AnswerModel(base.sentence, base.span, base.answerable, 0.0, {})  # answers whatever it reads
    hit = _hit("东风街道共排查隐患27处。")
    hit.chunk.published = "2021-04-16"
    idf = _idf({"东风街道": 3.0, "排查": 2.0, "隐患": 2.0})
    for asked, answered in (("2022年", False), ("2021年", True), ("4月16日", True), ("5月3日", False)):
        query = parse_question(tok, f"东风街道{asked}排查出多少处隐患？")
        answer, _ = compose(always, tok, query, [hit], 1, idf, 3.0, None)
        assert (answer.text is not None) is answered, asked


@pytest.mark.parametrize(
    ("asked", "question"),
    [
        ("请问宋洁是哪天督导的？", "宋洁是哪天督导的？"),
        ("你知道宋洁是哪天督导的吗？", "宋洁是哪天督导的？"),  # the 吗 asks whether one knows
        ("能告诉我哪些街道开展了卫生工作吗？", "哪些街道开展了卫生工作？"),
        ("大家好，谁陪同宋洁？", "谁陪同宋洁？"),
        ("我是社区工作人员，需要了解一下峡窝镇有多少个村，谢谢！", "峡窝镇有多少个村？"),
        ("补助一共多少钱来着？我一下子想不起来了", "补助一共多少钱来着？"),
        ("请问宋洁去了上街区吗？", "宋洁去了上街区吗？"),
    ],
)
def test_what_a_chat_user_says_around_a_question_is_left_out(asked, question):
    assert without_address(asked) == question
    assert parse_question(TOKENIZER, asked).text == question


@pytest.mark.parametrize(
    "asked",
    [
        "你知道宋洁吗？",  # nothing else is asked
        "谁知道这件事？",
        "上街区召开会议，谁主持的？",  # a clause of the news
        "我住在上街区工业路街道，街道建的是什么机制？",  # says where: not short enough to be only talk
        "我区今年完成了多少项目？",
        "「我很高兴各方取得共识」这句话是谁说的？",  # quoted words are not the asker's
        "问题是什么？",
    ],
)
def test_a_question_without_chat_talk_is_read_as_it_is(asked):
    assert without_address(asked) == asked


# -- questions asking two things ---------------------------------------------------------------------
def test_a_question_asking_two_things_is_split_into_parts_sharing_the_subject():
    from qa_service.qa.question import slot_texts

    assert slot_texts("东风街道的安全会议是哪天开的？会上是谁讲的话？") == [
        "东风街道的安全会议是哪天开的",
        "东风街道的安全会议，会上是谁讲的话",
    ]
    assert slot_texts("谁主持了会议？") == []
    assert slot_texts("安全会议啥时候开的？谁讲的话？") == ["安全会议啥时候开的", "安全会议，谁讲的话"]
    # Lists are one answer with items, not parts; a 分别 question's parts are its coordinated things
    # (tests/test_coordination.py), not its clauses.
    assert slot_texts("哪些街道参加了，哪些单位没参加？") == []
    assert slot_texts("男子和女子的收入分别是多少？") == []


def test_each_part_gets_its_own_cited_answer():
    tok = Tokenizer(["东风街道"])
    query = parse_question(tok, "东风街道的安全会议是哪天开的？会上是谁讲的话？")
    assert len(query.slots) == 2
    pool = [_hit("3月5日，东风街道召开安全会议。会上，街道主任王明讲话。", rank=0)]
    idf = {"东风街道": 3.0, "安全": 2.0, "会议": 1.0, "讲话": 2.0, "会上": 1.0}
    answer, passages = compose(load_model(), tok, query, pool, 1, _idf(idf), 4.0, None)
    d = answer.to_dict()
    assert [s["question"] for s in d["slots"]] == ["东风街道的安全会议是哪天开的", "东风街道的安全会议，会上是谁讲的话"]
    assert d["text"] == d["slots"][0]["text"]
    for part in d["slots"]:
        if part["text"] is not None:
            s, e = part["span"]
            assert passages[part["passage"]].chunk.text[s:e] == part["text"]
            assert part["text"] in part["evidence"]["text"]
    assert "3月5日" in (d["slots"][0]["text"] or "")


def test_retrieval_reads_the_earlier_answers_articles_first():
    from qa_service.qa.retrieve import retrieve

    history = [{"role": "user", "content": "东风街道一季度一般公共预算收入是多少？"}]
    query = parse_question(TOKENIZER, "那其中税收收入有多少？", history)
    elsewhere, budget = _hit("西湖街道税收收入…", doc="b.txt"), _hit("东风街道…其中税收收入完成29093万元", doc="a.txt")

    class Ranker:  # the follow-up's words fit another article better; the earlier question's do not
        mode = "bm25"

        def rank(self, q, k, filters=None):
            return [budget] if q is query.earlier else [elsewhere, budget]

    assert [h.chunk.doc_id for h in retrieve(Ranker(), query, 5)] == ["a.txt", "b.txt"]
    alone = parse_question(TOKENIZER, "那其中税收收入有多少？")
    assert [h.chunk.doc_id for h in retrieve(Ranker(), alone, 5)] == ["b.txt", "a.txt"]
