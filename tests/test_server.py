"""The real server: `qa-service serve` (gunicorn) answering over 127.0.0.1."""

import json
import urllib.error
import urllib.request

import pytest

from tests.conftest import running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("server") / "index") as base:
        yield base


def post(url, payload):
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_real_server_answers_the_readme_question(server):
    status, body = post(server + "/api/ask", {"question": "谁陪同宋洁督导爱国卫生工作？"})
    assert status == 200
    top = body["passages"][0]
    assert top["source"]["document"] == "001_ca14ccf12a6e3ca9.txt" and "房玉雯" in top["text"]


def test_real_server_errors_are_json(server):
    status, body = post(server + "/api/ask", {"question": ""})
    assert status == 400 and body["error"]["code"] == "empty_question"


def test_real_server_serves_the_chat_page(server):
    with urllib.request.urlopen(server + "/", timeout=5) as r:
        html = r.read().decode()
        assert r.status == 200 and "<html" in html.lower()
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
