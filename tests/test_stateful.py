"""A stateful property test against the real server (`qa-service serve`, 2 workers, on 127.0.0.1).

Hypothesis drives random sequences of upload, re-upload, delete, ask, list and `kill -9` + restart
(sometimes in the middle of an upload), with every request on a new connection, so the two workers
take them in turn at random.  After every step the corpus folders, the live index on disk and the API
must agree with the model: nothing lost, nothing duplicated, and never a 5xx.  Bounded: a few runs of
a dozen steps, every wait with a deadline.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from qa_service.core.errors import IndexError_
from qa_service.index.embedded.versions import SegmentedIndex
from qa_service.ops.live import sanitise_filename
from tests.conftest import ROOT, SEEDS, free_port

TOKEN = "stateful-token-0123456789"
SEED_FILES = ["000_297aa0e12c4718b1.txt", "001_ca14ccf12a6e3ca9.txt"]  # a small corpus: quick rebuilds
NAMES = ["d0.txt", "d1.md", "d2.html", "新闻稿.txt", "长" * 84 + ".txt", *SEED_FILES]
NO_TEXT = ("junk.html", "<script>x</script>")  # no text after cleaning: refused, leaves nothing
STARTUP_SECONDS = 120
CATCH_UP_SECONDS = 120


def text_of(name: str) -> str:
    k = NAMES.index(name) + 11
    body = f"近日，第{k}号测试街道召开第{k}次垃圾分类推进会，部署全年工作，共设置回收点{k}个。（第{k}号测试街道）"
    return f"<p>第{k}号街道推进会 {body}</p>" if name.endswith(".html") else f"第{k}号街道推进会 {body}"


class Server:
    """`qa-service serve` in its own session, so `kill -9` takes the master, the workers and any
    catch-up rebuild at once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.corpus, self.uploads, self.index = root / "corpus", root / "uploads", root / "index"
        self.corpus.mkdir()
        for name in SEED_FILES:
            shutil.copy(SEEDS / name, self.corpus / name)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.server_errors: list[str] = []
        self.kills = 0

    def start(self) -> None:
        env = {
            **os.environ,
            "QA_ADMIN_TOKEN": TOKEN,
            "QA_CORPUS": str(self.corpus),
            "QA_UPLOAD_DIR": str(self.uploads),
            "QA_INDEX_DIR": str(self.index),
        }
        cmd = [sys.executable, "-m", "qa_service", "serve", "--port", str(self.port), "--workers", "2"]
        log = open(self.root / "server.log", "a")  # noqa: SIM115 - the server owns it until it is killed
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.root / "server.log").read_text()[-3000:]
            try:
                if self.request("GET", "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("the server did not start in time")

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def request(self, method, path, body=None, timeout=60.0):
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        req = urllib.request.Request(self.base + urllib.parse.quote(path), data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, payload = r.status, json.load(r)
        except urllib.error.HTTPError as e:
            status, payload = e.code, json.load(e)
        if status >= 500:
            self.server_errors.append(f"{method} {path} -> {status} {payload}")
        return status, payload

    # -- the three views that must agree -------------------------------------------------------------
    def folder_ids(self) -> set[str]:
        ids = {p.name for p in self.corpus.iterdir() if p.is_file() and not p.name.startswith(".")}
        if self.uploads.is_dir():
            ids |= {p.name for p in self.uploads.iterdir() if p.is_file() and not p.name.startswith(".")}
        return ids

    def index_ids(self) -> list[str]:
        # A background merge may publish a new version (and remove this one) while it is read: read
        # again, as a worker does on its next request.
        for _ in range(50):
            try:
                return [d["id"] for d in SegmentedIndex.load(self.index, verify=False).documents]
            except IndexError_:
                time.sleep(0.1)
        return [d["id"] for d in SegmentedIndex.load(self.index, verify=False).documents]

    def api_ids(self) -> list[str]:
        status, body = self.request("GET", "/api/documents")
        assert status == 200, body
        return [d["id"] for d in body["documents"]]


SERVER: Server | None = None
STATS: Counter = Counter()  # what the runs did, printed at the end


class ServiceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.server = SERVER
        self.docs = set(self.server.folder_ids())  # the model: what every view must hold
        self.kills = 0
        assert sorted(self.server.api_ids()) == sorted(self.docs)

    @rule(name=st.sampled_from(NAMES))
    def upload(self, name):
        doc_id = sanitise_filename(name)
        status, body = self.server.request("POST", "/api/documents", {"filename": name, "text": text_of(name)})
        if doc_id in self.docs:
            assert status == 409 and body["error"]["code"] == "conflict", body
        else:
            assert status == 201 and body["document"]["id"] == doc_id, body
            self.docs.add(doc_id)
        STATS[f"upload {status}"] += 1

    @rule()
    def upload_with_no_text(self):
        status, body = self.server.request("POST", "/api/documents", {"filename": NO_TEXT[0], "text": NO_TEXT[1]})
        assert status == 400 and body["error"]["code"] == "no_text", body

    @rule(name=st.sampled_from(NAMES))
    def delete(self, name):
        doc_id = sanitise_filename(name)
        status, body = self.server.request("DELETE", f"/api/documents/{doc_id}")
        if doc_id in self.docs and len(self.docs) == 1:
            assert status == 409 and body["error"]["code"] == "empty_corpus", body  # the last one stays
        elif doc_id in self.docs:
            assert status == 200 and body["deleted"] == doc_id, body
            self.docs.discard(doc_id)
        else:
            assert status == 404 and body["error"]["code"] == "not_found", body
        STATS[f"delete {status}"] += 1

    @rule(name=st.sampled_from(NAMES[:5]))
    def ask(self, name):
        k = NAMES.index(name) + 11
        status, body = self.server.request("POST", "/api/ask", {"question": f"第{k}号测试街道设置了多少个回收点？"})
        assert status == 200, body
        cited = [p["source"]["document"] for p in body["passages"]]
        doc_id = sanitise_filename(name)
        if doc_id in self.docs:
            assert cited and cited[0] == doc_id, (doc_id, cited)
        else:
            assert doc_id not in cited

    @rule()
    def list_documents(self):
        assert sorted(self.server.api_ids()) == sorted(self.docs)

    @precondition(lambda self: self.kills < 2)
    @rule(during_upload=st.booleans(), name=st.sampled_from(NAMES[:5]), wait=st.floats(0.0, 1.5))
    def kill_9_and_restart(self, during_upload, name, wait):
        doc_id = sanitise_filename(name)
        STATS["kill -9 during an upload" if during_upload and doc_id not in self.docs else "kill -9"] += 1
        if during_upload and doc_id not in self.docs:
            t = threading.Thread(target=self._upload_quietly, args=(name,), daemon=True)
            t.start()
            time.sleep(wait)
        self.kills += 1
        self.server.kill9()
        self.server.start()
        # The upload may or may not have landed: the folder says which; the index must catch up with it.
        self.docs = self.server.folder_ids()
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while sorted(self.server.api_ids()) != sorted(self.docs) and time.monotonic() < deadline:
            time.sleep(0.5)

    def _upload_quietly(self, name):
        with contextlib.suppress(OSError):  # the server is killed under it
            self.server.request("POST", "/api/documents", {"filename": name, "text": text_of(name)}, timeout=30)

    @invariant()
    def folders_index_and_api_agree(self):
        assert not self.server.server_errors, self.server.server_errors
        assert self.server.folder_ids() == self.docs
        index_ids = self.server.index_ids()
        assert sorted(index_ids) == sorted(self.docs) and len(set(index_ids)) == len(index_ids)
        api_ids = self.server.api_ids()
        assert sorted(api_ids) == sorted(self.docs), (api_ids, self.docs)


@pytest.mark.slow
def test_random_writes_reads_and_kills_keep_folders_index_and_api_in_step(tmp_path):
    global SERVER
    SERVER = Server(tmp_path)
    try:
        SERVER.start()
        run_state_machine_as_test(
            ServiceMachine,
            settings=settings(
                max_examples=6,
                stateful_step_count=20,
                deadline=None,
                derandomize=True,
                database=None,
                # One real server carries its state from run to run: a failure is reported as found,
                # not shrunk (a replay would start from another state).
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        SERVER.stop()
    print(f"\n{dict(sorted(STATS.items()))}; documents at the end: {len(SERVER.folder_ids())}")
