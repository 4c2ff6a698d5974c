"""Adding and removing documents: auth, validation, atomic swap, serialised writes."""

import io
import json
import logging
import shutil
import threading
import time
from dataclasses import replace

import pytest

from qa_service.core.settings import Settings
from qa_service.index.embedded.store import EmbeddedIndex
from qa_service.index.publish import current_version_dir
from qa_service.ops.live import sanitise_filename
from qa_service.ops.lock import write_lock
from qa_service.web.app import create_app
from tests.conftest import SEEDS

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW_DOC = (
    "测试街道召开垃圾分类推进会 近日，测试街道召开垃圾分类推进会，部署全年垃圾分类工作，共设置回收点87个。（测试街道）"
)


@pytest.fixture()
def env(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    settings = Settings(
        index_dir=str(tmp_path / "index"),
        corpus=[str(corpus)],
        upload_dir=str(tmp_path / "uploads"),
        admin_token=TOKEN,
        max_upload_bytes=200_000,
    )
    app = create_app(settings)
    return app, app.test_client(), tmp_path


def ask(client, q):
    return client.post("/api/ask", json={"question": q}).get_json()


def upload_json(client, filename, text, headers=AUTH):
    return client.post("/api/documents", json={"filename": filename, "text": text}, headers=headers)


def test_writes_are_disabled_without_a_configured_token(tmp_path):
    app = create_app(Settings(index_dir=str(tmp_path / "i"), corpus=[str(SEEDS)], upload_dir=str(tmp_path / "u")))
    c = app.test_client()
    r = upload_json(c, "a.txt", NEW_DOC, headers=AUTH)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "writes_disabled"
    assert c.delete("/api/documents/000_297aa0e12c4718b1.txt", headers=AUTH).status_code == 403
    assert not (tmp_path / "u").exists()


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}]
)
def test_writes_need_the_right_bearer_token(env, headers):
    _, c, tmp = env
    r = upload_json(c, "a.txt", NEW_DOC, headers=headers)
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    assert c.delete("/api/documents/000_297aa0e12c4718b1.txt", headers=headers).status_code == 401
    assert not (tmp / "uploads").exists()


def test_json_upload_is_indexed_and_answerable(env):
    _, c, tmp = env
    before = c.get("/healthz").get_json()["passages"]
    r = upload_json(c, "garbage.txt", NEW_DOC)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["document"]["id"] == "garbage.txt"
    assert (tmp / "uploads" / "garbage.txt").read_text("utf-8") == NEW_DOC
    assert c.get("/healthz").get_json()["passages"] > before
    body = ask(c, "测试街道设置了多少个回收点？")
    assert body["passages"][0]["source"]["document"] == "garbage.txt"
    assert "87个" in body["answer"]["text"]


def test_multipart_upload_in_gb18030(env):
    _, c, _ = env
    data = {"file": (io.BytesIO(NEW_DOC.encode("gb18030")), "上传.txt")}
    r = c.post("/api/documents", data=data, headers=AUTH, content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    assert c.get("/api/documents/上传.txt").get_json()["text"] == NEW_DOC


def test_path_traversal_names_stay_in_the_upload_folder(env):
    _, c, tmp = env
    r = upload_json(c, "../../../etc/evil.txt", NEW_DOC)
    assert r.status_code == 201 and r.get_json()["document"]["id"] == "evil.txt"
    assert (tmp / "uploads" / "evil.txt").exists()
    assert not (tmp / "etc").exists()


@pytest.mark.parametrize(
    ("filename", "text", "status", "code"),
    [
        ("a.exe", NEW_DOC, 415, "unsupported_type"),
        ("noext", NEW_DOC, 400, "invalid_filename"),
        ("..", NEW_DOC, 400, "invalid_filename"),
        ("a.txt", "   \n ", 400, "empty_document"),
        ("a.txt", "字" * 100_000, 413, "payload_too_large"),
        ("000_297aa0e12c4718b1.txt", NEW_DOC, 409, "conflict"),
    ],
)
def test_bad_uploads_are_rejected_and_change_nothing(env, filename, text, status, code):
    _, c, tmp = env
    version = current_version_dir(tmp / "index")
    r = upload_json(c, filename, text)
    assert r.status_code == status and r.get_json()["error"]["code"] == code
    assert current_version_dir(tmp / "index") == version
    assert not list((tmp / "uploads").glob("*")) if (tmp / "uploads").exists() else True


def test_undecodable_upload_is_400(env):
    _, c, _ = env
    data = {"file": (io.BytesIO(b"\xff\xfe\xfa\x81\x30\xff"), "bad.txt")}
    r = c.post("/api/documents", data=data, headers=AUTH, content_type="multipart/form-data")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_encoding"


def test_upload_fields_are_validated(env):
    _, c, _ = env
    assert c.post("/api/documents", json={"filename": "a.txt"}, headers=AUTH).status_code == 400
    r = c.post("/api/documents", data={"nofile": "x"}, headers=AUTH, content_type="multipart/form-data")
    assert r.status_code == 400
    assert c.post("/api/documents", data="x", headers=AUTH, content_type="text/plain").status_code == 415


def test_delete_moves_the_file_to_trash_and_unindexes_it(env):
    _, c, tmp = env
    upload_json(c, "garbage.txt", NEW_DOC)
    r = c.delete("/api/documents/garbage.txt", headers=AUTH)
    assert r.status_code == 200 and r.get_json()["deleted"] == "garbage.txt"
    assert not (tmp / "uploads" / "garbage.txt").exists()
    kept = list((tmp / "uploads" / ".trash").iterdir())
    assert len(kept) == 1 and kept[0].read_text("utf-8") == NEW_DOC
    assert c.get("/api/documents/garbage.txt").status_code == 404
    assert all(p["source"]["document"] != "garbage.txt" for p in ask(c, "测试街道回收点")["passages"])
    # A corpus document can be removed too, and is kept in its folder's trash.
    assert c.delete("/api/documents/004_9122cf0f75c063ff.txt", headers=AUTH).status_code == 200
    assert len(list((tmp / "corpus" / ".trash").iterdir())) == 1
    # The list leaves both out (the deleted rows of the index's segments), in its pages and its counts.
    listed = c.get("/api/documents?limit=2").get_json()
    ids = [d["id"] for d in listed["documents"]]
    while listed["next_offset"] is not None:
        listed = c.get(f"/api/documents?limit=2&offset={listed['next_offset']}").get_json()
        ids += [d["id"] for d in listed["documents"]]
    assert sorted(ids) == sorted(p.name for p in (tmp / "corpus").iterdir() if p.is_file())
    assert listed["total"] == listed["indexed"] == len(ids) == 4
    assert c.delete("/api/documents/nope.txt", headers=AUTH).status_code == 404


def test_queries_are_answered_from_the_old_index_while_a_rebuild_runs(env, monkeypatch):
    app, c, _ = env
    started, release = threading.Event(), threading.Event()
    real_build = EmbeddedIndex.build

    def slow_build(*a, **k):
        started.set()
        assert release.wait(30)
        return real_build(*a, **k)

    monkeypatch.setattr(EmbeddedIndex, "build", staticmethod(slow_build))  # a slow disk
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", upload_json(app.test_client(), "g.txt", NEW_DOC)))
    t.start()
    assert started.wait(30)
    body = ask(c, "谁陪同宋洁督导爱国卫生工作？")  # answered while the build is blocked
    assert body["passages"][0]["source"]["document"] == "001_ca14ccf12a6e3ca9.txt"
    assert c.get("/api/documents/g.txt").status_code == 404
    release.set()
    t.join(60)
    assert result["r"].status_code == 201
    assert c.get("/api/documents/g.txt").status_code == 200


def test_concurrent_writes_are_serialised_and_both_land(env):
    app, _, tmp = env
    statuses = []

    def up(i):
        statuses.append(
            upload_json(app.test_client(), f"doc{i}.txt", NEW_DOC.replace("测试街道", f"第{i}街道")).status_code
        )

    threads = [threading.Thread(target=up, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert statuses == [201, 201, 201]
    ids = {d["id"] for d in app.test_client().get("/api/documents").get_json()["documents"]}
    assert {"doc0.txt", "doc1.txt", "doc2.txt"} <= ids
    assert json.loads((current_version_dir(tmp / "index") / "manifest.json").read_text())["counts"]["documents"] == 8


def test_a_failed_rebuild_rolls_the_upload_back(env, monkeypatch):
    _, c, tmp = env
    version = current_version_dir(tmp / "index")

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(EmbeddedIndex, "build", staticmethod(broken))  # a failing disk
    r = upload_json(c, "g.txt", NEW_DOC)
    assert r.status_code == 500 and "disk" not in r.get_data(as_text=True)
    assert not (tmp / "uploads" / "g.txt").exists()
    assert current_version_dir(tmp / "index") == version
    assert ask(c, "峡窝镇")["passages"]


def test_other_processes_pick_up_a_new_index(env):
    app, c, _tmp = env
    settings = replace(app.config["QA_SETTINGS"], reload_check_seconds=0.0)
    other = create_app(settings)  # a second worker over the same index folder
    upload_json(c, "g.txt", NEW_DOC)
    time.sleep(0.01)
    assert other.test_client().get("/api/documents/g.txt").status_code == 200


def test_the_admin_token_never_reaches_the_logs(env, caplog):
    _, c, _ = env
    with caplog.at_level(logging.DEBUG):
        upload_json(c, "g.txt", NEW_DOC)
        upload_json(c, "h.txt", NEW_DOC, headers={"Authorization": "Bearer wrong-one"})
    assert caplog.records
    assert all(TOKEN not in r.getMessage() and "wrong-one" not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("新闻.TXT", "新闻.txt"),
        ("a/b/c.md", "c.md"),
        ("C:\\x\\y.html", "y.html"),
        ("a\x00b.txt", "ab.txt"),
        ("a b&c.txt", "a_b_c.txt"),
    ],
)
def test_sanitise_filename(raw, safe):
    assert sanitise_filename(raw) == safe


def test_a_write_waits_a_bounded_time_for_another_then_says_the_index_is_busy(env):
    # Another process's rebuild or catch-up holds the write lock (here: this test, for longer than
    # the upload will wait): the upload and the delete are refused at once with 503 index_busy, and
    # nothing is written; once the lock is free they go through.
    app, _, tmp = env
    live = app.extensions["qa_live"]
    live.settings = replace(live.settings, write_wait_seconds=0.3)
    c = app.test_client()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with write_lock(tmp / "index"):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        t0 = time.monotonic()
        r = upload_json(c, "busy.txt", NEW_DOC)
        assert r.status_code == 503 and r.get_json()["error"]["code"] == "index_busy"
        assert r.headers["Retry-After"] and 0.3 <= time.monotonic() - t0 < 5
        assert not (tmp / "uploads" / "busy.txt").exists()
        r = c.delete("/api/documents/000_297aa0e12c4718b1.txt", headers=AUTH)
        assert r.status_code == 503 and r.get_json()["error"]["code"] == "index_busy"
        assert (tmp / "corpus" / "000_297aa0e12c4718b1.txt").exists()
    finally:
        release.set()
        holder.join(10)
    assert upload_json(c, "busy.txt", NEW_DOC).status_code == 201
    assert c.delete("/api/documents/000_297aa0e12c4718b1.txt", headers=AUTH).status_code == 200
