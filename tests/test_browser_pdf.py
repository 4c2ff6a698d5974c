"""The chat page with a PDF corpus, in a real headless Chromium: opening a citation of a PDF shows the
rendered page with the cited characters highlighted (the short answer more strongly) beside the text."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("pypdfium2")
pytest.importorskip("fpdf")

import format_fixtures as ff
from conftest import running_server
from test_browser import SHOTS, ask, driver  # noqa: F401  (driver: the shared Chromium fixture)

pytestmark = pytest.mark.browser

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the driver fixture skips (or fails under CI) first
    By = WebDriverWait = None

DEMO = "谁陪同宋洁督导爱国卫生工作？"
PDF_STEM = "001_ca14ccf12a6e3ca9"


@pytest.fixture(scope="module")
def pdf_server(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("browser-pdf-corpus")
    for p in ff.SEEDS.glob("*.txt"):
        if p.stem != PDF_STEM:
            shutil.copy(p, corpus)
    (corpus / f"{PDF_STEM}.pdf").write_bytes(ff.make_pdf(ff.seed_lines(PDF_STEM)))
    root = tmp_path_factory.mktemp("browser-pdf")
    env = {"QA_CORPUS": str(corpus), "QA_UPLOAD_DIR": str(root / "uploads")}
    with running_server(root / "index", env, workers=1) as base:
        yield base


def _rect(drv, element) -> dict:
    return drv.execute_script("return arguments[0].getBoundingClientRect().toJSON();", element)


def _inside(inner: dict, outer: dict, slack: float = 2.0) -> bool:
    return (
        inner["left"] >= outer["left"] - slack
        and inner["right"] <= outer["right"] + slack
        and inner["top"] >= outer["top"] - slack
        and inner["bottom"] <= outer["bottom"] + slack
    )


def test_a_pdf_citation_opens_its_page_with_the_cited_characters_highlighted(driver, pdf_server):  # noqa: F811
    drv = driver
    drv.set_window_size(1280, 900)
    drv.get(pdf_server + "/")
    drv.execute_script("window.localStorage.clear(); window.sessionStorage.clear();")
    drv.get(pdf_server + "/")
    WebDriverWait(drv, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#examples .example"))
    reply = ask(drv, DEMO)
    chip = reply.find_element(By.CSS_SELECTOR, ".answer .cite-chip")
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", chip)
    chip.click()
    WebDriverWait(drv, 30).until(lambda d: d.find_element(By.ID, "source-view").get_attribute("data-state") == "ready")
    assert "has-page" in drv.find_element(By.ID, "source-view").get_attribute("class")
    img = drv.find_element(By.CSS_SELECTOR, "#page-view .pageview-img")
    WebDriverWait(drv, 30).until(lambda d: d.execute_script("return arguments[0].naturalWidth > 0;", img))
    WebDriverWait(drv, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#page-view .pv-answer"))
    page_rect = _rect(drv, img)
    cites = drv.find_elements(By.CSS_SELECTOR, "#page-view .pv-cite")
    answer = drv.find_element(By.CSS_SELECTOR, "#page-view .pv-answer")
    assert cites and all(_inside(_rect(drv, c), page_rect) for c in cites)
    answer_rect = _rect(drv, answer)
    assert answer_rect["width"] > 10 and answer_rect["height"] > 5
    assert any(_inside(answer_rect, _rect(drv, c), slack=3) for c in cites)  # the answer sits in a cited line
    # The readable text beside the page still marks the citation.
    assert drv.find_elements(By.CSS_SELECTOR, "#source-text mark.cite")
    text_rect = _rect(drv, drv.find_element(By.ID, "source-body"))
    assert text_rect["left"] >= page_rect["right"] - 2  # beside the page, not under it
    SHOTS.mkdir(parents=True, exist_ok=True)
    drv.save_screenshot(str(SHOTS / "pdf-citation.png"))
    # On a phone the page sits above the text, as wide as the screen.
    drv.set_window_size(390, 844)
    WebDriverWait(drv, 10).until(lambda d: _rect(d, img)["width"] < 390)
    phone_page, phone_text = _rect(drv, img), _rect(drv, drv.find_element(By.ID, "source-body"))
    assert phone_page["width"] > 250 and phone_text["top"] >= phone_page["top"]
    drv.save_screenshot(str(SHOTS / "pdf-citation-phone.png"))
    drv.set_window_size(1280, 900)
    problems = [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE"]
    assert not problems, problems
