import itertools

from qa_service.core.models import Document
from qa_service.ingest.segment import segment
from tests.conftest import SEEDS


def articles_of(name: str):
    return segment(Document(id=name, text=(SEEDS / name).read_text("utf-8"), path=name, format="txt"))


def test_bulletin_header_gives_publisher_and_date_and_titles_are_split_from_bodies():
    arts = articles_of("000_297aa0e12c4718b1.txt")
    titles = [a.title for a in arts]
    assert titles[:4] == [
        "上街区召开政法队伍教育整顿领导小组第二次全体会议",
        "新安路街道“三个到位”掀起爱国卫生运动热潮",
        "工业路街道全力以赴做好迎检复审工作",
        "济源路街道三个注重扎实开展党史学习教育",
    ]
    assert all(a.publisher == "中共上街区委办公室" and a.published == "2021-04-30" for a in arts)
    assert [a.attribution for a in arts[1:]] == ["新安路街道", "工业路街道", "济源路街道", "区侨联"]
    # The title is not repeated in the body.
    assert arts[1].body.text.startswith("一是责任落实到位")


def test_briefs_and_headlines_on_their_own_line():
    arts = articles_of("001_ca14ccf12a6e3ca9.txt")
    by_attr = {a.attribution: a for a in arts}
    assert by_attr["济源路街道"].title == "济源路街道积极探索矛盾纠纷多元预防化解机制"
    assert by_attr["区人社局"].title == "区人社局积极开展高校毕业生就业见习基地申报工作"
    briefs = [a for a in arts if a.body.text.startswith("△")]
    assert len(briefs) == 4
    assert {a.attribution for a in briefs} == {"区审计局", "区财政局", "区科协", "团区委"}
    assert all("△" not in a.title and "近日" not in a.title for a in briefs)


def test_newspaper_page_with_reporter_lines():
    arts = articles_of("002_0ff75a2f1f87531d.txt")
    assert len(arts) == 7
    assert arts[1].title == "创卫不停 让农贸市场颜值变“靓”"
    assert arts[1].attribution == "记者 柴琳琳 通讯员 黄帅"
    assert all(a.body.text.startswith("本报讯") for a in arts)
    assert all("记者" not in a.body.text for a in arts)


def test_numbered_parts_become_sections_of_one_titled_report():
    arts = articles_of("003_b99e143dc6111c5b.txt")
    assert arts[0].title == "扛牢政治责任 抓实忠诚教育 全力推动政法队伍教育整顿学习教育走深走实"
    assert [a.section for a in arts[1:]] == [
        "一、扛牢政治责任，推进教育整顿“高效化”",
        "二、抓实忠诚教育，探索学习教育“系统化”",
        "三、注重成效检验，确保学习教育“实效化”",
    ]
    assert all(a.title == arts[0].title for a in arts)


def test_web_page_title_source_date_and_place_sections():
    arts = articles_of("004_9122cf0f75c063ff.txt")
    assert arts[0].title.startswith("教育整顿十大专栏②")
    assert all(a.publisher == "澎湃新闻·澎湃号·政务" and a.published == "2021-03-05" for a in arts)
    assert [a.section for a in arts[1:]] == [
        "肥城市",
        "东营市河口区",
        "东营市垦利区",
        "德州市德城区",
        "禹城市",
        "武城县",
    ]


def test_article_ranges_cover_their_text_and_do_not_overlap():
    for f in sorted(SEEDS.iterdir()):
        arts = articles_of(f.name)
        original = f.read_text("utf-8")
        for a, b in itertools.pairwise(arts):
            assert a.char_end <= b.char_start
        for a in arts:
            assert a.char_start <= a.body.offsets[0] and a.body.offsets[-1] < a.char_end <= len(original)


def test_text_without_structure_is_one_article_titled_by_its_first_line():
    text = (
        "今天天气很好，我们去公园散步，看到了很多花，也遇到了老朋友，聊了很久才回家，晚上还做了一顿丰盛的晚饭。\n"
        "第二段继续写散步的见闻，公园里人很多，孩子们在草地上奔跑。"
    )
    arts = segment(Document(id="x.txt", text=text, path="x.txt", format="txt"))
    assert len(arts) == 1
    title = arts[0].title
    assert text.startswith(title.rstrip("…")) and title.endswith("…") and len(title) == 40
    assert arts[0].char_start == 0 and arts[0].char_end == len(text)


def test_jsonl_record_is_exactly_one_article_with_its_metadata():
    doc = Document(
        id="r1",
        text="标题样子的一行\n正文第一句。正文第二句。",
        path="f.jsonl",
        format="jsonl",
        title="记录标题",
        published="2021-05-01",
        publisher="某报",
    )
    arts = segment(doc)
    assert len(arts) == 1
    assert (arts[0].title, arts[0].published, arts[0].publisher) == ("记录标题", "2021-05-01", "某报")


def test_empty_and_whitespace_documents_have_no_articles():
    for text in ("", "   \n\n  \t", "\n\n△\n"):
        arts = segment(Document(id="e", text=text, path="e", format="txt"))
        assert all(a.body.text for a in arts)


def test_a_source_line_gives_the_publisher_without_its_label_or_date():
    body = "本报讯 3月5日，区里召开政法队伍教育整顿动员部署会议，全面部署教育整顿工作，各单位负责人参加会议。"
    lines = ("来源：洛溪湾区融媒体中心", "来源：洛溪湾区融媒体中心 2021-03-05", "来源: 洛溪湾区融媒体中心 2021年3月5日")
    for line in lines:
        text = f"区里召开政法队伍教育整顿动员部署会议\n{line}\n{body}"
        (art,) = segment(Document(id="x.txt", text=text, path="x.txt", format="txt"))
        assert art.publisher == "洛溪湾区融媒体中心", line
        assert art.published == (None if line.endswith("中心") else "2021-03-05"), line
