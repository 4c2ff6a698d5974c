"""The real server: `qa-service serve` (gunicorn) answering over 127.0.0.1."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import ROOT, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    idx = tmp_path_factory.mktemp("server-index")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qa_service",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--index-dir",
            str(idx),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited early:\n{proc.stdout.read()}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("server did not become healthy")
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


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
