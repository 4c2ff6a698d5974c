import re

import pytest

from qa_service.ingest.cleaning import clean_document, is_boilerplate, squeeze_spaces
from tests.conftest import SEEDS

SEED_FILES = sorted(p.name for p in SEEDS.iterdir())


def cleaned(name: str):
    text = (SEEDS / name).read_text("utf-8")
    return text, squeeze_spaces(clean_document(text))


@pytest.mark.parametrize("name", SEED_FILES)
def test_every_cleaned_character_maps_to_the_same_original_character(name):
    original, ct = cleaned(name)
    assert len(ct.offsets) == len(ct.text)
    assert list(ct.offsets) == sorted(ct.offsets)  # order is kept
    for ch, off in zip(ct.text, ct.offsets, strict=True):
        if not ch.isspace():
            assert original[off] == ch


@pytest.mark.parametrize("name", SEED_FILES)
def test_only_whitespace_and_whole_boilerplate_lines_are_removed(name):
    original, ct = cleaned(name)
    kept = set(ct.offsets)
    dropped = "".join(ch for i, ch in enumerate(original) if i not in kept and not ch.isspace())
    dropped_lines = {ln.strip() for ln in original.splitlines() if ln.strip() and is_boilerplate(ln)}
    assert re.sub(r"\s", "", dropped) == re.sub(
        r"\s", "", "".join(ln for ln in original.splitlines() if ln.strip() in dropped_lines)
    )


def test_words_broken_by_pdf_line_breaks_are_joined():
    _, ct = cleaned("000_297aa0e12c4718b1.txt")
    assert "第二次全体会议" in ct.text
    assert "赵晨阳" in ct.text and "扎实成效" in ct.text and "“侨胞之家”揭牌仪式。（区侨联）" in ct.text
    _, ct = cleaned("002_0ff75a2f1f87531d.txt")
    assert "真正形成警示和震慑" in ct.text and "民心工程" in ct.text


@pytest.mark.parametrize("name", ["000_297aa0e12c4718b1.txt", "001_ca14ccf12a6e3ca9.txt", "003_b99e143dc6111c5b.txt"])
def test_no_line_break_is_left_inside_a_sentence_of_a_pdf_bulletin(name):
    _, ct = cleaned(name)
    for para in ct.text.split("\n")[:-1]:
        # A paragraph ends a sentence, an attribution, or is a short heading.
        assert para[-1] in "。！？）”" or len(para) <= 45, para


def test_stray_spaces_between_cjk_are_dropped_but_paragraphs_kept():
    _, ct = cleaned("003_b99e143dc6111c5b.txt")
    assert "3月3日召开区委常委会" in ct.text and "3 月" not in ct.text
    assert ct.text.count("\n") >= 6  # headings and numbered parts stay separate


def test_web_boilerplate_is_gone():
    _, ct = cleaned("004_9122cf0f75c063ff.txt")
    for junk in (
        "澎湃Logo",
        "下载客户端",
        "登录",
        "ICP备",
        "公网安备",
        "©",
        "扫码下载",
        "我要举报",
        "仅代表该作者",
        "阅读原文",
        "原标题",
    ):
        assert junk not in ct.text, junk
    assert "肥城市召开政法队伍教育整顿动员部署会议" in ct.text


def test_boilerplate_classifier_leaves_sentences_alone():
    assert is_boilerplate("沪ICP备14003370号")
    assert is_boilerplate("    +1")
    assert not is_boilerplate("区委要求各单位做好版权保护和下载管理工作，确保信息安全。")
    # Prompts to follow an account, and reprint notices, are not news.
    assert is_boilerplate("温馨提示：微信搜索公众号“金水发布”，关注获取更多资讯")
    assert is_boilerplate("长按识别二维码，关注我们")
    assert is_boilerplate("本文转载自人民网，版权归原作者所有。")
    assert is_boilerplate("海外网版权作品，未经授权不得转载。")
    assert not is_boilerplate("据“常州日报”微信公众号消息，目前常州市商业银行还没出台统一的指导文件。")
    assert not is_boilerplate("温馨提示：雨天路滑，请市民注意出行安全。")
    assert not is_boilerplate("区政务服务中心推出微信预约服务，群众可关注办理进度。")


def test_latin_words_broken_across_lines_keep_a_space():
    ct = clean_document("The quick brown fox jumps over the lazy dog and keeps running far away from the\nhunter.")
    assert "from the hunter." in ct.text


def test_a_long_paragraph_mentioning_a_disclaimer_is_kept():
    para = "会议指出，" + "各单位要加强宣传工作，" * 30 + "本文仅代表作者观点的说法不适用于正式文件。"
    assert para in clean_document(para).text
