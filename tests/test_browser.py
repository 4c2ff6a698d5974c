"""End-to-end tests of the chat page in a real headless Chromium.

The real server (``python -m qa_service serve``) is started once per session on
a free loopback port with a fresh index directory; selenium drives Debian's
``chromium`` + ``chromedriver`` (install them with ``scripts/install-browser``).
Without a browser the tests are skipped, or fail when ``CI=true``.

Screenshots of an answered conversation go to ``test-output/screenshots/``;
with ``UPDATE_SCREENSHOTS=1`` the README copies in ``docs/screenshots/`` are
refreshed too.  ``QA_SERVICE_URL=http://host:port`` runs the tests against an
already running server instead of starting one.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as exc:  # pragma: no cover - depends on the environment
    webdriver = None
    _SELENIUM_ERROR = str(exc)

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "test-output" / "screenshots"
DOC_SHOTS = REPO / "docs" / "screenshots"

DEMO_QUESTION = "宋洁是哪天实地督导上街区爱国卫生工作的？"
LIST_QUESTION = "哪些街道开展了爱国卫生或创卫工作？"
FOLLOW_UP = "那工业路街道呢？"
# The same asked of two things (two districts' meetings): one cited answer per district.
PARTS_QUESTION = "上街区和河口区的政法队伍教育整顿动员部署会议分别是哪天召开的？"
MAX_QUESTION = 2000

SERVER_START_TIMEOUT = 120  # seconds until /healthz must answer 200
ANSWER_TIMEOUT = 60  # seconds to wait for a reply to appear

pytestmark = pytest.mark.browser


def _unavailable(message: str) -> None:
    """Fail under CI (the browser is required there), skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: the browser tests are required; run scripts/install-browser)", pytrace=False)
    pytest.skip(message + " (run scripts/install-browser)")


def _which(name: str, *fallbacks: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for path in fallbacks:
        if os.access(path, os.X_OK):
            return path
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http_json(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode("utf-8") if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read().decode("utf-8") or "null")


# --------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    """Base URL of the real server, started as a subprocess for the session."""
    external = os.environ.get("QA_SERVICE_URL")
    if external:
        yield external.rstrip("/")
        return

    port = _free_port()
    index_dir = tmp_path_factory.mktemp("browser-index")
    log_path = tmp_path_factory.mktemp("browser-server") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "qa_service",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--index-dir",
        str(index_dir),
    ]
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )

    def log_tail() -> str:
        try:
            return log_path.read_text("utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def stop() -> None:
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers (own session)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last_error = "no answer yet"
    while True:
        if proc.poll() is not None:
            pytest.fail(
                f"server exited with code {proc.returncode} before /healthz answered:\n{' '.join(cmd)}\n{log_tail()}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
                if resp.status == 200:
                    break
                last_error = f"HTTP {resp.status}"
        except urllib.error.HTTPError as err:
            last_error = f"HTTP {err.code}"
        except (urllib.error.URLError, OSError) as err:
            last_error = str(err)
        if time.monotonic() > deadline:
            stop()
            pytest.fail(
                f"server did not answer 200 on /healthz within {SERVER_START_TIMEOUT}s "
                f"(last: {last_error}):\n{log_tail()}",
                pytrace=False,
            )
        time.sleep(0.25)

    yield url
    stop()


@pytest.fixture(scope="session")
def driver():
    if webdriver is None:
        _unavailable(f"selenium is not importable: {_SELENIUM_ERROR}")
    chromium = _which("chromium", "/usr/bin/chromium")
    chromedriver = _which("chromedriver", "/usr/bin/chromedriver")
    if not chromium or not chromedriver:
        _unavailable(
            "headless Chromium is not installed (need /usr/bin/chromium and /usr/bin/chromedriver "
            "from the Debian packages chromium and chromium-driver)"
        )

    profile = tempfile.mkdtemp(prefix="qa-chromium-")
    options = Options()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--disable-dev-shm-usage",
        "--lang=zh-CN",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        drv = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    except WebDriverException as exc:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.fail(f"could not start headless Chromium: {exc.msg}", pytrace=False)
    drv.set_window_size(1280, 900)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(driver, server_url):
    """A freshly loaded chat page at desktop size; fails on CSP violations / JS errors."""
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.set_window_size(1280, 900)
    driver.get(server_url + "/")
    # Each test starts from an empty page: no stored conversation (it would come back), no admin token.
    driver.execute_script("window.localStorage.clear(); window.sessionStorage.clear();")
    driver.get(server_url + "/")
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#examples .example"))
    driver.get_log("browser")  # drop whatever came before this test
    yield driver
    problems = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and not re.search(r"status of (4|5)\d\d", entry["message"])
    ]
    assert not problems, "browser console errors:\n" + "\n".join(problems)


# --------------------------------------------------------------------- helpers


def replies(drv):
    """Finished assistant messages (answers and errors), in order."""
    return drv.find_elements(By.CSS_SELECTOR, "#thread .msg-assistant:not(.msg-typing)")


def wait_idle(drv, count: int):
    WebDriverWait(drv, ANSWER_TIMEOUT).until(
        lambda d: len(replies(d)) >= count and d.find_element(By.ID, "send").is_enabled()
    )
    return replies(drv)[count - 1]


def ask(drv, question: str):
    """Type a question, press Enter and return the reply element."""
    before = len(replies(drv))
    box = drv.find_element(By.ID, "question")
    box.click()
    box.send_keys(question)
    assert box.get_attribute("value") == question
    box.send_keys(Keys.ENTER)
    return wait_idle(drv, before + 1)


def text_of(elem) -> str:
    return elem.get_attribute("textContent") or ""


def squash(text: str) -> str:
    return re.sub(r"\s", "", text)


def reply_passages(reply) -> list[str]:
    return [text_of(p) for p in reply.find_elements(By.CSS_SELECTOR, ".passage-card .passage-text")]


def open_source_and_check(drv, server_url, reply, click_target, passage_index: int):
    """Click a citation, wait for the source view and check the highlighted range."""
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", click_target)
    click_target.click()
    dialog = drv.find_element(By.ID, "source-view")
    WebDriverWait(drv, 30).until(lambda d: dialog.get_attribute("data-state") in ("ready", "error"))
    assert dialog.get_attribute("data-state") == "ready", text_of(drv.find_element(By.ID, "source-status"))
    assert dialog.get_attribute("open") is not None

    # The cited passage is marked (across paragraphs, in as many pieces), exactly.
    cites = drv.find_elements(By.CSS_SELECTOR, "#source-text mark.cite")
    card = reply.find_element(By.CSS_SELECTOR, f'.passage-card[data-passage="{passage_index}"]')
    passage_text = text_of(card.find_element(By.CSS_SELECTOR, ".passage-text"))
    assert squash("".join(text_of(c) for c in cites)) == squash(passage_text)
    assert squash(text_of(cites[0]))

    # The source view shows the document's readable text (line breaks repaired, one paragraph a block).
    doc_file = text_of(card.find_element(By.CSS_SELECTOR, ".passage-file"))
    status, doc = _http_json(server_url + "/api/documents/" + urllib.parse.quote(doc_file, safe=""))
    assert status == 200, doc
    shown = drv.execute_script("return document.getElementById('source-text').textContent;")
    assert shown == doc["readable"]["text"].replace("\n", "")

    # ... and the cited passage is scrolled into view.
    WebDriverWait(drv, 10).until(
        lambda d: d.execute_script(
            "const m = document.querySelector('#source-text mark.cite').getBoundingClientRect();"
            "const b = document.getElementById('source-body').getBoundingClientRect();"
            "return m.top < b.bottom && m.bottom > b.top;"
        )
    )

    drv.find_element(By.ID, "source-close").click()
    WebDriverWait(drv, 10).until(lambda d: dialog.get_attribute("open") is None)


def full_page_screenshot(drv, path: Path) -> None:
    metrics = drv.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = drv.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def emulate(drv, width: int, height: int, scale: float, mobile: bool) -> None:
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile},
    )
    WebDriverWait(drv, 10).until(lambda d: d.execute_script("return window.innerWidth;") == width)


def settle(drv) -> None:
    """Wait until no CSS animation is running (so screenshots are not half faded in)."""
    WebDriverWait(drv, 10).until(
        lambda d: d.execute_script("return document.getAnimations().every(a => a.playState !== 'running');")
    )


RECORD_ASK_BODIES = """
window.__askBodies = [];
const original = window.fetch;
window.fetch = function (url, options) {
  if (String(url).indexOf('/api/ask') >= 0 && options && options.body) {
    window.__askBodies.push(JSON.parse(options.body));
  }
  return original.apply(this, arguments);
};
"""


# --------------------------------------------------------------------- tests


def test_demo_question_answer_citations_and_source_view(page, server_url):
    reply = ask(page, DEMO_QUESTION)
    assert "msg-error" not in reply.get_attribute("class"), text_of(reply)

    user = page.find_elements(By.CSS_SELECTOR, "#thread .msg-user .user-bubble")
    assert [text_of(u) for u in user] == [DEMO_QUESTION]

    answer = text_of(reply.find_element(By.CSS_SELECTOR, ".answer-value"))
    passages = reply_passages(reply)
    assert answer.strip()
    assert passages, "no passages shown"
    assert "房玉雯" in answer or "房玉雯" in passages[0], (answer, passages[:1])

    chips = reply.find_elements(By.CSS_SELECTOR, ".answer .cite-chip")
    assert chips, "the answer has no citation chip"
    assert reply.find_elements(By.CSS_SELECTOR, "mark"), "no highlight in the reply"
    assert reply.find_elements(By.CSS_SELECTOR, ".passage-card mark.term"), "query terms not highlighted"

    # Passage cards carry their source metadata.
    first_card = reply.find_element(By.CSS_SELECTOR, ".passage-card")
    assert text_of(first_card.find_element(By.CSS_SELECTOR, ".passage-title")).strip()
    assert text_of(first_card.find_element(By.CSS_SELECTOR, ".passage-file")).endswith(".txt")

    # Citation chip of the answer -> source view of that passage.
    cited = int(chips[0].get_attribute("data-passage"))
    open_source_and_check(page, server_url, reply, chips[0], cited)

    # A passage card's own "查看原文" link works as well (lower passages are folded).
    more = reply.find_elements(By.CSS_SELECTOR, "details.passages-more > summary")
    if more:
        page.execute_script("arguments[0].scrollIntoView({block: 'center'});", more[0])
        more[0].click()
    cards = reply.find_elements(By.CSS_SELECTOR, ".passage-card")
    assert all(card.is_displayed() for card in cards)
    last = len(cards) - 1
    open_source_and_check(page, server_url, reply, cards[last].find_element(By.CSS_SELECTOR, ".link-btn"), last)


def test_list_question_shows_items_with_chips(page):
    reply = ask(page, LIST_QUESTION)
    assert "msg-error" not in reply.get_attribute("class"), text_of(reply)
    items = reply.find_elements(By.CSS_SELECTOR, ".answer-items .answer-item")
    assert len(items) >= 2, [text_of(i) for i in items]
    for item in items:
        assert text_of(item.find_element(By.CSS_SELECTOR, ".item-text")).strip()
        assert item.find_elements(By.CSS_SELECTOR, ".cite-chip"), f"item without citation: {text_of(item)}"


def test_question_asking_the_same_of_two_things_shows_one_cited_answer_each(page):
    reply = ask(page, PARTS_QUESTION)
    assert "msg-error" not in reply.get_attribute("class"), text_of(reply)
    parts = reply.find_elements(By.CSS_SELECTOR, ".answer-parted .answer-part")
    assert len(parts) == 2, text_of(reply)
    labels = [text_of(p.find_element(By.CSS_SELECTOR, ".part-question")) for p in parts]
    assert "上街区" in labels[0] and "河口区" not in labels[0], labels  # each part names its own district
    assert "河口区" in labels[1] and "上街区" not in labels[1], labels
    passages = reply_passages(reply)
    for part in parts:
        value = text_of(part.find_element(By.CSS_SELECTOR, ".answer-value")).strip()
        chip = part.find_elements(By.CSS_SELECTOR, ".cite-chip")
        if not chip:  # a part the corpus does not answer says so
            assert value == "未找到", text_of(part)
            continue
        cited = passages[int(chip[0].get_attribute("data-passage"))]
        assert squash(value) and squash(value) in squash(cited), (value, cited)  # the citation holds it
    assert any(p.find_elements(By.CSS_SELECTOR, ".cite-chip") for p in parts)


def test_follow_up_question_sends_history(page):
    page.execute_script(RECORD_ASK_BODIES)
    first = ask(page, LIST_QUESTION)
    assert "msg-error" not in first.get_attribute("class"), text_of(first)
    reply = ask(page, FOLLOW_UP)
    assert "msg-error" not in reply.get_attribute("class"), text_of(reply)

    bodies = page.execute_script("return window.__askBodies;")
    assert [b["question"] for b in bodies] == [LIST_QUESTION, FOLLOW_UP]
    assert bodies[0]["history"] == []
    history = bodies[1]["history"]
    assert history[0] == {"role": "user", "content": LIST_QUESTION}
    assert history[1]["role"] == "assistant" and history[1]["content"].strip()
    assert len(history) <= 6

    # The reply is about 工业路街道.
    answer_bits = reply.find_elements(By.CSS_SELECTOR, ".answer-value, .item-text")
    passages = reply_passages(reply)
    about = " ".join(text_of(b) for b in answer_bits) + " " + " ".join(passages[:1])
    assert "工业路" in about, about


def test_api_error_is_shown_in_thread(page, server_url):
    too_long = "问" * (MAX_QUESTION + 1)
    status, expected = _http_json(server_url + "/api/ask", {"question": too_long})
    assert status == 400 and expected["error"]["code"] == "question_too_long", expected

    box = page.find_element(By.ID, "question")
    page.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));", box, too_long
    )
    count = page.find_element(By.ID, "char-count")
    assert count.is_displayed() and "over" in count.get_attribute("class")
    box.send_keys(Keys.ENTER)
    reply = wait_idle(page, 1)

    assert "msg-error" in reply.get_attribute("class")
    assert reply.get_attribute("role") == "alert"
    assert expected["error"]["message"] in text_of(reply.find_element(By.CSS_SELECTOR, ".error-message"))
    assert page.find_element(By.ID, "send").is_enabled()


def test_network_error_is_shown_in_thread(page):
    page.execute_script("window.fetch = function () { return Promise.reject(new TypeError('Failed to fetch')); };")
    reply = ask(page, DEMO_QUESTION)
    assert "msg-error" in reply.get_attribute("class")
    assert "网络错误" in text_of(reply)


def test_shift_enter_inserts_newline_enter_sends(page):
    box = page.find_element(By.ID, "question")
    box.click()
    box.send_keys("第一行")
    box.send_keys(Keys.SHIFT, Keys.ENTER)
    box.send_keys("第二行")
    assert box.get_attribute("value") == "第一行\n第二行"
    assert not page.find_elements(By.CSS_SELECTOR, "#thread .msg-user"), "Shift+Enter sent the question"

    box.send_keys(Keys.ENTER)
    wait_idle(page, 1)
    sent = page.find_elements(By.CSS_SELECTOR, "#thread .msg-user .user-bubble")
    assert [text_of(s) for s in sent] == ["第一行\n第二行"]
    assert box.get_attribute("value") == ""


def test_no_answer_reply(page):
    reply = ask(page, "Quantum chromodynamics lattice gluon xylophone?")
    assert "msg-error" not in reply.get_attribute("class"), text_of(reply)
    assert "没有找到相关内容" in text_of(reply)
    folded = reply.find_elements(By.CSS_SELECTOR, "details.passages-fold")
    if folded:
        assert folded[0].get_attribute("open") is None


def test_screenshots_desktop_and_phone(page, server_url):
    SHOTS.mkdir(parents=True, exist_ok=True)
    emulate(page, 1280, 900, 1, False)
    settle(page)
    page.save_screenshot(str(SHOTS / "chat-empty-desktop.png"))

    # An example question is one click away on an empty thread.
    example = page.find_element(By.CSS_SELECTOR, "#examples .example")
    assert text_of(example) == DEMO_QUESTION
    example.click()
    reply = wait_idle(page, 1)
    assert "msg-error" not in reply.get_attribute("class"), text_of(reply)
    settle(page)
    page.execute_script("window.scrollTo(0, 0);")
    page.save_screenshot(str(SHOTS / "chat-desktop.png"))

    ask(page, LIST_QUESTION)
    ask(page, FOLLOW_UP)
    settle(page)
    full_page_screenshot(page, SHOTS / "chat-desktop-full.png")

    chip = reply.find_element(By.CSS_SELECTOR, ".answer .cite-chip")
    page.execute_script("arguments[0].scrollIntoView({block: 'center'});", chip)
    chip.click()
    WebDriverWait(page, 30).until(lambda d: d.find_element(By.ID, "source-view").get_attribute("data-state") == "ready")
    WebDriverWait(page, 10).until(
        lambda d: d.execute_script(
            "const m = document.querySelector('#source-text mark.cite').getBoundingClientRect();"
            "const b = document.getElementById('source-body').getBoundingClientRect();"
            "return m.top >= b.top - 1 && m.top < b.bottom;"
        )
    )
    settle(page)
    page.save_screenshot(str(SHOTS / "source-desktop.png"))
    page.find_element(By.ID, "source-close").click()

    # Phone: 375 CSS px wide; nothing may overflow horizontally.
    try:
        emulate(page, 375, 812, 2, True)
        overflow = page.execute_script("return document.documentElement.scrollWidth;")
        assert overflow <= 375, f"page is {overflow}px wide on a 375px screen"
        page.execute_script("window.scrollTo(0, 0);")
        settle(page)
        page.save_screenshot(str(SHOTS / "chat-phone.png"))
        full_page_screenshot(page, SHOTS / "chat-phone-full.png")

        chip = page.find_element(By.CSS_SELECTOR, "#thread .answer .cite-chip")
        page.execute_script("arguments[0].scrollIntoView({block: 'center'});", chip)
        chip.click()
        WebDriverWait(page, 30).until(
            lambda d: d.find_element(By.ID, "source-view").get_attribute("data-state") == "ready"
        )
        width = page.execute_script("return document.getElementById('source-view').getBoundingClientRect().width;")
        assert width <= 375
        settle(page)
        page.save_screenshot(str(SHOTS / "source-phone.png"))
        page.find_element(By.ID, "source-close").click()
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    for name in ("chat-desktop.png", "chat-phone.png", "chat-desktop-full.png", "chat-phone-full.png"):
        assert (SHOTS / name).stat().st_size > 10_000, name
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHOTS / "chat-desktop.png", DOC_SHOTS / "chat-desktop.png")
        shutil.copyfile(SHOTS / "chat-phone.png", DOC_SHOTS / "chat-phone.png")
