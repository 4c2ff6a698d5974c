"""The chat page for people who are not developers, in a real headless Chromium (issue 14).

A server of its own (``qa-service serve`` on a free port) with an admin token and a copy of the
seeds, so that uploads and deletions from the page change nothing else.  The browser is
test_browser.py's ``driver``.  Screenshots of each state go to ``test-output/screenshots/``; the
library and source-view ones are copied to ``docs/screenshots/`` with ``UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import SEEDS, running_server
from tests.test_browser import (  # noqa: F401 - driver is a fixture
    DEMO_QUESTION,
    DOC_SHOTS,
    SHOTS,
    ask,
    driver,
    emulate,
    replies,
    settle,
    squash,
    text_of,
    wait_idle,
)

try:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - test_browser.py's driver fixture skips or fails first
    pass

pytestmark = pytest.mark.browser

TOKEN = "browser-admin-token-0123456789"
SHANGJIE = "中共上街区委办公室"
LIST_QUESTION = "哪些街道开展了爱国卫生运动？"
FOLLOW_UP = "那工业路街道呢？"
ABSTAINED = "肥城市的面积是多少平方公里？"
UPLOAD_NAME = "萤火虫音乐节.txt"
UPLOAD_TEXT = (
    "青石镇举办首届萤火虫音乐节\n"
    "2021年5月20日，青石镇在滨河公园举办首届萤火虫音乐节，镇长欧阳晓峰致辞，三千余名群众参加。"
    "音乐节共安排十二个节目，由青石镇文化站组织。\n"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("library")
    shutil.copytree(SEEDS, tmp / "corpus")
    env = {"QA_ADMIN_TOKEN": TOKEN, "QA_CORPUS": str(tmp / "corpus"), "QA_UPLOAD_DIR": str(tmp / "uploads")}
    with running_server(tmp / "index", env=env) as base:
        yield base


@pytest.fixture
def page(driver, site):  # noqa: F811 - driver is test_browser's fixture
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.set_window_size(1280, 900)
    driver.get(site + "/")
    driver.execute_script("window.localStorage.clear(); window.sessionStorage.clear();")
    driver.get(site + "/")
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#examples .example"))
    driver.get_log("browser")
    yield driver
    problems = [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and not re.search(r"status of (4|5)\d\d", e["message"])
    ]
    assert not problems, "browser console errors:\n" + "\n".join(problems)


def shot(drv, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    settle(drv)
    path = SHOTS / name
    drv.save_screenshot(str(path))
    assert path.stat().st_size > 5_000, name
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" and name.startswith(("library", "source")):
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SHOTS / name)
    return path


def phone_shot(drv, name: str) -> None:
    """The same state at 375 CSS px: nothing wider than the screen."""
    try:
        emulate(drv, 375, 812, 2, True)
        assert drv.execute_script("return document.documentElement.scrollWidth;") <= 375
        shot(drv, name)
    finally:
        drv.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        WebDriverWait(drv, 10).until(lambda d: d.execute_script("return window.innerWidth;") > 375)


def click(drv, elem) -> None:
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", elem)
    elem.click()


def set_value(drv, elem_id: str, value: str) -> None:
    """Date inputs and selects as the page sees a user's change (typing dates is locale-dependent)."""
    drv.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event('change', {bubbles: true}));",
        elem_id,
        value,
    )


def open_library(drv) -> list:
    drv.find_element(By.ID, "library-open").click()
    WebDriverWait(drv, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#lib-list .doc-item"))
    return drv.find_elements(By.CSS_SELECTOR, "#lib-list .doc-item")


def wait_docs(drv, expected: list[str], ordered: bool = True) -> None:
    """Wait for the list to show ``expected`` (the server answers each change of the criteria)."""
    want = expected if ordered else sorted(expected)
    try:
        WebDriverWait(drv, 20).until(lambda d: (shown_docs(d) if ordered else sorted(shown_docs(d))) == want)
    except TimeoutException:
        raise AssertionError(f"the library shows {shown_docs(drv)}, not {expected}") from None


def shown_docs(drv) -> list[str]:
    # Read in one script: the list is re-rendered as soon as a write returns (in well under a second now
    # that writes go by document), and an element found first may be gone by the time it is asked.
    return drv.execute_script(
        "return Array.from(document.querySelectorAll('#lib-list .doc-item'), e => e.getAttribute('data-doc'));"
    )


# --------------------------------------------------------------------- source view


def check_source_view(drv, reply) -> None:
    """Open the answer's citation: readable text, the passage and the answer marked exactly, the
    answer visible inside the scrolling body (not under the dialog's header)."""
    answer = text_of(reply.find_element(By.CSS_SELECTOR, ".answer-value"))
    chip = reply.find_element(By.CSS_SELECTOR, ".answer .cite-chip")
    cited = int(chip.get_attribute("data-passage"))
    passage = text_of(reply.find_element(By.CSS_SELECTOR, f'.passage-card[data-passage="{cited}"] .passage-text'))
    click(drv, chip)
    dialog = drv.find_element(By.ID, "source-view")
    WebDriverWait(drv, 30).until(lambda d: dialog.get_attribute("data-state") in ("ready", "error"))
    assert dialog.get_attribute("data-state") == "ready"

    cites = drv.find_elements(By.CSS_SELECTOR, "#source-text mark.cite")
    assert squash("".join(text_of(c) for c in cites)) == squash(passage)
    strong = drv.find_elements(By.CSS_SELECTOR, "#source-text mark.answer")
    assert squash("".join(text_of(m) for m in strong)) == squash(answer)
    # Paragraphs, not the extracted lines with a blank line after each.
    paras = drv.find_elements(By.CSS_SELECTOR, "#source-text .source-para")
    assert len(paras) >= 3 and "\n" not in text_of(paras[0])

    assert text_of(drv.find_element(By.ID, "source-title")) == "宋洁督导上街区爱国卫生工作"
    assert text_of(drv.find_element(By.ID, "source-meta")) == f"2021年4月16日 · {SHANGJIE}"
    assert "001_ca14ccf12a6e3ca9.txt" in text_of(drv.find_element(By.ID, "source-file"))
    assert "001_ca14ccf12a6e3ca9.txt" not in text_of(drv.find_element(By.ID, "source-title"))

    # The answer is in view, below whatever is fixed above the scrolling text, and on top there.
    def placed(d):
        return d.execute_script(
            "const m = document.querySelector('#source-text mark.answer').getBoundingClientRect();"
            "const b = document.getElementById('source-body').getBoundingClientRect();"
            "const h = document.querySelector('.source-head').getBoundingClientRect();"
            "const r = document.querySelector('#source-text mark.answer').getClientRects()[0];"
            "const hit = document.elementFromPoint(r.left + 2, r.top + r.height / 2);"
            "return {ok: m.top >= b.top && m.bottom <= b.bottom && m.top >= h.bottom"
            "  && hit !== null && hit.closest('mark.answer') !== null,"
            " mark: [m.top, m.bottom, m.left], body: [b.top, b.bottom], head: h.bottom,"
            " hit: hit && hit.outerHTML.slice(0, 80)};"
        )

    try:
        WebDriverWait(drv, 10).until(lambda d: placed(d)["ok"])
    except Exception:
        raise AssertionError(f"the answer is not in view: {placed(drv)}") from None


def test_source_view_marks_the_passage_and_the_answer_on_desktop_and_phone(page):
    reply = ask(page, DEMO_QUESTION)
    check_source_view(page, reply)
    shot(page, "source-view-desktop.png")
    page.find_element(By.ID, "source-close").click()
    try:
        emulate(page, 375, 812, 2, True)
        check_source_view(page, reply)
        assert page.execute_script("return document.documentElement.scrollWidth;") <= 375
        shot(page, "source-view-phone.png")
        page.find_element(By.ID, "source-close").click()
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


# --------------------------------------------------------------------- answer card


def test_copy_puts_the_answer_with_its_citation_on_the_clipboard(page, site):
    page.execute_cdp_cmd(
        "Browser.grantPermissions", {"origin": site, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}
    )
    reply = ask(page, DEMO_QUESTION)
    assert not re.search(r"\d+\s*%", text_of(reply)), "a bare percentage is shown"
    assert reply.find_elements(By.CSS_SELECTOR, ".confidence")
    assert text_of(reply.find_element(By.CSS_SELECTOR, ".confidence")) in ("较确定", "仅供参考")
    button = reply.find_element(By.CSS_SELECTOR, ".copy-btn")
    click(page, button)
    WebDriverWait(page, 10).until(lambda d: text_of(button) == "已复制")
    copied = page.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.clipboard.readText().then(done, e => done('ERROR ' + e));"
    )
    assert copied.startswith("4月14日"), copied
    assert "4月14日，区委书记宋洁实地督导爱国卫生工作" in copied  # the evidence sentence
    assert f"——《宋洁督导上街区爱国卫生工作》，2021年4月16日，{SHANGJIE}" in copied
    shot(page, "answer-card-desktop.png")
    phone_shot(page, "answer-card-phone.png")


def test_follow_up_shows_how_it_was_understood(page):
    first = ask(page, LIST_QUESTION)
    assert not first.find_elements(By.CSS_SELECTOR, ".rewritten")
    reply = ask(page, FOLLOW_UP)
    understood = text_of(reply.find_element(By.CSS_SELECTOR, ".rewritten"))
    assert understood.startswith("理解为：") and "工业路街道" in understood, understood
    shot(page, "follow-up-understood.png")


def test_abstaining_shows_the_best_passage_open_and_english_gets_the_notice(page):
    reply = ask(page, ABSTAINED)
    assert not reply.find_elements(By.CSS_SELECTOR, ".answer-value"), text_of(reply)
    section = reply.find_element(By.CSS_SELECTOR, ".passages-closest")
    assert text_of(section.find_element(By.CSS_SELECTOR, ".passages-title")) == "最相关原文"
    best = section.find_element(By.CSS_SELECTOR, ".passage-card")
    assert best.is_displayed() and text_of(best.find_element(By.CSS_SELECTOR, ".passage-text")).strip()
    shot(page, "answer-closest-passage.png")

    reply = ask(page, "What is the capital of France?")
    assert "中文" in text_of(reply.find_element(By.CSS_SELECTOR, ".no-answer-hint"))


# --------------------------------------------------------------------- library and filters


def test_library_lists_filters_sorts_and_opens_documents(page):
    items = open_library(page)
    assert len(items) == 5
    assert "共 5 份文档" in text_of(page.find_element(By.ID, "lib-count"))
    first = text_of(items[0])
    assert "2021年4月30日" in first and SHANGJIE in first and "5 篇文章" in first  # newest first
    assert not page.find_element(By.ID, "lib-more").is_displayed()  # every document is shown
    shot(page, "library-desktop.png")

    Select(page.find_element(By.ID, "lib-sort")).select_by_value("asc")
    WebDriverWait(page, 20).until(lambda d: shown_docs(d)[:1] == ["004_9122cf0f75c063ff.txt"])  # the oldest

    search = page.find_element(By.ID, "lib-search")
    search.send_keys("爱国卫生")
    wait_docs(page, ["001_ca14ccf12a6e3ca9.txt"])
    search.clear()
    search.send_keys("9122CF")  # the file name, in either case
    wait_docs(page, ["004_9122cf0f75c063ff.txt"])
    search.clear()
    page.execute_script("document.getElementById('lib-search').dispatchEvent(new Event('input'));")
    WebDriverWait(page, 20).until(lambda d: len(shown_docs(d)) == 5)

    set_value(page, "lib-publisher", SHANGJIE)
    wait_docs(page, ["000_297aa0e12c4718b1.txt", "001_ca14ccf12a6e3ca9.txt"], ordered=False)
    set_value(page, "lib-from", "2021-04-01")
    set_value(page, "lib-to", "2021-04-20")
    wait_docs(page, ["001_ca14ccf12a6e3ca9.txt"])
    assert "符合条件 1 份" in text_of(page.find_element(By.ID, "lib-count"))

    item = page.find_element(By.CSS_SELECTOR, '#lib-list .doc-item[data-doc="001_ca14ccf12a6e3ca9.txt"]')
    click(page, item.find_element(By.CSS_SELECTOR, ".doc-open"))
    WebDriverWait(page, 20).until(lambda d: len(item.find_elements(By.CSS_SELECTOR, ".doc-article")) == 9)
    titles = [text_of(a) for a in item.find_elements(By.CSS_SELECTOR, ".doc-article-title")]
    assert "宋洁督导上街区爱国卫生工作" in titles
    shot(page, "library-filtered-desktop.png")
    try:
        emulate(page, 375, 812, 2, True)
        assert page.execute_script("return document.documentElement.scrollWidth;") <= 375
        shot(page, "library-phone.png")
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_library_loads_more_documents_a_page_at_a_time(page):
    open_library(page)
    everything = shown_docs(page)
    page.execute_script("window.QALibrary.settings.pageSize = 2; window.QALibrary.reload();")
    wait_docs(page, everything[:2])
    assert "已显示 2 份" in text_of(page.find_element(By.ID, "lib-count"))
    more = page.find_element(By.ID, "lib-more")
    shot(page, "library-more-desktop.png")
    for shown in (4, 5):
        click(page, more)
        wait_docs(page, everything[:shown])
    assert not more.is_displayed() and "已显示" not in text_of(page.find_element(By.ID, "lib-count"))
    page.execute_script("window.QALibrary.settings.pageSize = 100;")
    page.find_element(By.ID, "library-close").click()


def test_a_filtered_question_only_cites_matching_documents(page):
    open_library(page)
    set_value(page, "lib-publisher", SHANGJIE)
    set_value(page, "lib-from", "2021-04-01")
    set_value(page, "lib-to", "2021-04-30")
    page.find_element(By.ID, "library-close").click()
    bar = page.find_element(By.ID, "filter-bar")
    assert bar.is_displayed()
    assert SHANGJIE in text_of(bar) and "2021年4月1日 至 2021年4月30日" in text_of(bar)

    reply = ask(page, "政法队伍教育整顿")  # unfiltered, the other publishers' bulletins rank too
    cards = reply.find_elements(By.CSS_SELECTOR, ".passage-card")
    assert cards
    for card in cards:
        assert text_of(card.find_element(By.CSS_SELECTOR, ".meta-publisher")) == SHANGJIE
        date = card.find_element(By.CSS_SELECTOR, ".passage-meta time").get_attribute("datetime")
        assert "2021-04-01" <= date <= "2021-04-30"
    shot(page, "filtered-answer-desktop.png")

    page.find_element(By.ID, "filter-clear").click()
    assert not page.find_element(By.ID, "filter-bar").is_displayed()
    reply = ask(page, "政法队伍教育整顿")
    publishers = {text_of(e) for e in reply.find_elements(By.CSS_SELECTOR, ".passage-card .meta-publisher")}
    assert publishers - {SHANGJIE}


# --------------------------------------------------------------------- uploads


def test_upload_from_the_page_becomes_searchable_and_a_rejected_one_says_why(page, site):
    open_library(page)
    assert not page.find_element(By.ID, "upload-area").is_displayed()
    assert not page.find_elements(By.CSS_SELECTOR, ".doc-delete")  # no token, no delete
    token_box = page.find_element(By.ID, "upload-token")
    click(page, token_box)
    token_box.send_keys(TOKEN)
    page.find_element(By.ID, "upload-token-ok").click()
    WebDriverWait(page, 10).until(lambda d: d.find_element(By.ID, "upload-area").is_displayed())
    assert not page.find_element(By.ID, "upload-login").is_displayed()  # asked once per session
    assert page.execute_script("return sessionStorage.getItem('qa.adminToken');") == TOKEN
    assert TOKEN not in page.current_url

    folder = Path(tempfile.mkdtemp(prefix="qa-upload-"))
    good, binary, alien = folder / UPLOAD_NAME, folder / "扫描件.txt", folder / "程序.exe"
    good.write_text(UPLOAD_TEXT, "utf-8")
    binary.write_bytes(b"\x00\x01\x02 not text at all")
    alien.write_bytes(b"MZ\x90\x00")
    chooser = page.find_element(By.ID, "upload-files")
    chooser.send_keys("\n".join(str(p) for p in (good, binary, alien)))
    WebDriverWait(page, 60).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#upload-list .upload-item:not([data-state='sending'])")) == 3
    )
    rows = {
        text_of(r.find_element(By.CSS_SELECTOR, ".upload-name")): r
        for r in page.find_elements(By.CSS_SELECTOR, "#upload-list .upload-item")
    }
    assert rows[UPLOAD_NAME].get_attribute("data-state") == "indexed", text_of(rows[UPLOAD_NAME])
    assert "青石镇举办首届萤火虫音乐节" in text_of(rows[UPLOAD_NAME])
    for name in ("扫描件.txt", "程序.exe"):
        assert rows[name].get_attribute("data-state") == "rejected"
        assert re.search(r"未加入：\S+", text_of(rows[name])), text_of(rows[name])
    assert "不支持这种文件类型" in text_of(rows["程序.exe"]), text_of(rows["程序.exe"])
    WebDriverWait(page, 20).until(lambda d: UPLOAD_NAME in shown_docs(d))
    page.execute_script("document.getElementById('upload-list').scrollIntoView({block: 'end'});")
    shot(page, "library-upload-desktop.png")
    page.find_element(By.ID, "library-close").click()

    reply = ask(page, "谁在萤火虫音乐节上致辞？")
    assert "欧阳晓峰" in text_of(reply)
    titles = [text_of(t) for t in reply.find_elements(By.CSS_SELECTOR, ".passage-card .passage-title")]
    assert titles[0] == "青石镇举办首届萤火虫音乐节"

    # Delete, after confirming.
    open_library(page)
    item = page.find_element(By.CSS_SELECTOR, f'#lib-list .doc-item[data-doc="{UPLOAD_NAME}"]')
    click(page, item.find_element(By.CSS_SELECTOR, ".doc-delete"))
    alert = WebDriverWait(page, 10).until(lambda d: d.switch_to.alert)
    assert "确定要删除" in alert.text
    alert.accept()
    WebDriverWait(page, 30).until(lambda d: UPLOAD_NAME not in shown_docs(d))
    assert len(shown_docs(page)) == 5
    shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------- conversations


def test_the_conversation_survives_a_reload_and_past_ones_are_listed(page, site):
    ask(page, DEMO_QUESTION)
    ask(page, FOLLOW_UP)
    page.get(site + "/")
    WebDriverWait(page, 20).until(lambda d: len(replies(d)) == 2)
    users = [text_of(u) for u in page.find_elements(By.CSS_SELECTOR, "#thread .msg-user .user-bubble")]
    assert users == [DEMO_QUESTION, FOLLOW_UP]
    assert "4月14日" in text_of(replies(page)[0].find_element(By.CSS_SELECTOR, ".answer-value"))

    # It continues: the next question carries the restored history.
    page.execute_script(
        "window.__bodies = []; const f = window.fetch; window.fetch = function (u, o) {"
        " if (String(u).indexOf('/api/ask') >= 0) window.__bodies.push(JSON.parse(o.body));"
        " return f.apply(this, arguments); };"
    )
    ask(page, "房玉雯是什么职务？")
    history = page.execute_script("return window.__bodies[0].history;")
    assert history[0] == {"role": "user", "content": DEMO_QUESTION} and len(history) == 4

    page.find_element(By.ID, "new-chat").click()
    assert not replies(page)
    ask(page, LIST_QUESTION)
    page.find_element(By.ID, "conversations-open").click()
    items = page.find_elements(By.CSS_SELECTOR, "#conv-list .conv-item")
    assert [text_of(i.find_element(By.CSS_SELECTOR, ".conv-title")) for i in items] == [LIST_QUESTION, DEMO_QUESTION]
    shot(page, "conversations-desktop.png")
    phone_shot(page, "conversations-phone.png")
    items[1].find_element(By.CSS_SELECTOR, ".conv-open").click()
    WebDriverWait(page, 10).until(lambda d: len(replies(d)) == 3)
    time.sleep(0.2)
    page.get(site + "/")  # the reopened one is the current one after a reload
    WebDriverWait(page, 20).until(lambda d: len(replies(d)) == 3)
    wait_idle(page, 3)
