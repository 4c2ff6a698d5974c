"""Regression tests for issue 15 (reliability round 2), in process: every worker answers every write
correctly, a rejected upload leaves nothing behind, start-up reconciles the corpus with the index,
byte-aware names, hostile JSON, and the smaller defects.  The slow-client and real-server probes are in
tests/test_slow_clients.py and tests/test_stateful.py."""

import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace

import pytest

from qa_service.core.errors import ConfigError
from qa_service.core.settings import Settings, from_env
from qa_service.index.publish import current_version_dir
from qa_service.ingest.cleaning import clean_document
from qa_service.ingest.pipeline import build_corpus
from qa_service.ops import build
from qa_service.ops.build import catch_up, open_for_serving
from qa_service.ops.lock import write_lock
from qa_service.web.app import create_app
from tests.conftest import ROOT, SEEDS, running_server

TOKEN = "s3cret-token-of-16+chars"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW_DOC = (
    "测试街道召开垃圾分类推进会 近日，测试街道召开垃圾分类推进会，部署全年垃圾分类工作，共设置回收点87个。（测试街道）"
)
SEED_DOC = "004_9122cf0f75c063ff.txt"


@pytest.fixture()
def settings(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    return Settings(
        index_dir=str(tmp_path / "index"),
        corpus=[str(corpus)],
        upload_dir=str(tmp_path / "uploads"),
        admin_token=TOKEN,
        max_upload_bytes=200_000,
    )


def two_workers(settings):
    """Two apps over the same folders, like two gunicorn workers; neither reloads on reads (a worker
    that no read has reached since the other one wrote)."""
    quiet = replace(settings, reload_check_seconds=3600.0)
    return create_app(quiet).test_client(), create_app(quiet).test_client()


def upload(client, name, text=NEW_DOC):
    return client.post("/api/documents", json={"filename": name, "text": text}, headers=AUTH)


def delete(client, name):
    return client.delete(f"/api/documents/{name}", headers=AUTH)


def code_of(resp):
    return resp.status_code, (resp.get_json() or {}).get("error", {}).get("code")


# -- 2. writes act on the shared on-disk state, whichever worker takes them ---------------------------


def test_deleting_a_document_the_other_worker_deleted_is_404_not_500(settings):
    a, b = two_workers(settings)
    assert delete(a, SEED_DOC).status_code == 200
    assert code_of(delete(b, SEED_DOC)) == (404, "not_found")


def test_reuploading_after_the_other_worker_deleted_is_not_a_false_409(settings):
    a, _ = two_workers(settings)
    assert upload(a, "g.txt").status_code == 201
    _, b = two_workers(settings)  # b has loaded g.txt
    assert delete(a, "g.txt").status_code == 200
    r = upload(b, "g.txt")
    assert r.status_code == 201, r.get_json()


def test_deleting_what_the_other_worker_just_uploaded_is_not_a_false_404(settings):
    a, b = two_workers(settings)
    assert upload(a, "g.txt").status_code == 201
    r = delete(b, "g.txt")
    assert r.status_code == 200, r.get_json()
    assert code_of(upload(b, "g.txt")) == (201, None)
    assert code_of(upload(a, "g.txt")) == (409, "conflict")


def test_a_write_while_a_corpus_folder_is_unmounted_drops_none_of_its_documents(settings, tmp_path):
    """Writes go by document (a new segment, a deletion mark), so a folder that is missing while
    serving costs nothing: its documents stay indexed and answered."""
    c = create_app(settings).test_client()
    (tmp_path / "corpus").rename(tmp_path / "elsewhere")  # unmounted while serving
    assert code_of(upload(c, "g.txt")) == (201, None)
    docs = c.get("/api/documents").get_json()["documents"]
    assert len(docs) == 6 and "001_ca14ccf12a6e3ca9.txt" in {d["id"] for d in docs}
    body = c.post("/api/ask", json={"question": "谁陪同宋洁督导爱国卫生工作？"}).get_json()
    assert body["passages"][0]["source"]["document"] == "001_ca14ccf12a6e3ca9.txt"


# -- 3. no orphans: a rejected upload leaves nothing; start-up reconciles ------------------------------


def test_an_upload_with_no_text_after_cleaning_leaves_no_file(settings, tmp_path):
    c = create_app(settings).test_client()
    version = current_version_dir(tmp_path / "index")
    assert code_of(upload(c, "x.html", "<script>x</script>")) == (400, "no_text")
    assert not list((tmp_path / "uploads").glob("*")) if (tmp_path / "uploads").exists() else True
    assert current_version_dir(tmp_path / "index") == version  # nothing was rebuilt either
    assert upload(c, "x.html", f"<p>{NEW_DOC}</p>").status_code == 201
    assert delete(c, "x.html").status_code == 200


def test_an_unindexed_file_left_in_the_upload_folder_can_be_deleted(settings, tmp_path):
    c = create_app(settings).test_client()
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "orphan.html").write_text("<script>x</script>", "utf-8")  # left by an older version
    r = delete(c, "orphan.html")
    assert r.status_code == 200, r.get_json()
    assert not (tmp_path / "uploads" / "orphan.html").exists()
    assert upload(c, "orphan.html", f"<p>{NEW_DOC}</p>").status_code == 201


def test_a_file_uploaded_but_never_indexed_is_indexed_at_start(settings, tmp_path):
    """kill -9 during the very first upload: the upload folder appeared, the index never saw it."""
    open_for_serving(settings).backend.close()
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "late.txt").write_text(NEW_DOC, "utf-8")
    start = open_for_serving(settings)
    start.backend.close()
    assert start.stale and "changed" in start.stale
    assert catch_up(start.settings)
    docs = create_app(settings).test_client().get("/api/documents").get_json()["documents"]
    assert "late.txt" in {d["id"] for d in docs}


def test_a_changed_corpus_setting_is_noticed_at_start(settings, tmp_path):
    open_for_serving(settings).backend.close()
    other = tmp_path / "other"
    other.mkdir()
    (other / "only.txt").write_text(NEW_DOC, "utf-8")
    start = open_for_serving(replace(settings, corpus=[str(other)]))
    start.backend.close()
    assert start.stale and "QA_CORPUS" in start.stale
    assert catch_up(start.settings)
    docs = create_app(start.settings).test_client().get("/api/documents").get_json()["documents"]
    assert {d["id"] for d in docs} == {"only.txt"}


def test_an_index_built_from_explicit_paths_keeps_serving_them(tmp_path):
    """`qa-service index /data` then `serve` with QA_CORPUS unchanged (the Docker recipe): no rebuild."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "mine.txt").write_text(NEW_DOC, "utf-8")
    index_dir = tmp_path / "index"
    env = {"QA_CORPUS": str(SEEDS), "PATH": ""}
    cmd = [sys.executable, "-m", "qa_service", "index", str(data), "--index-dir", str(index_dir), "--no-progress"]
    assert subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=120).returncode == 0
    s = Settings(index_dir=str(index_dir), corpus=[str(SEEDS)], upload_dir=str(tmp_path / "uploads"))
    start = open_for_serving(s)
    start.backend.close()
    assert start.stale is None and start.settings.corpus == [str(data)]
    (data / "mine.txt").unlink()  # the folder is gone at serve time (not mounted): serve the index as built
    start = open_for_serving(s)
    start.backend.close()
    assert start.stale is None


# -- 4. no rebuild at every start when cleaning empties a record; notices cut, articles kept --------------


def test_serve_does_not_rebuild_when_cleaning_empties_a_record(tmp_path):
    corpus = tmp_path / "f.jsonl"
    lines = [
        {"id": "a", "title": "测试", "text": NEW_DOC},
        {"id": "b", "title": "页脚", "text": "版权所有：测试网 备案序号：京ICP备12345678号"},
    ]
    corpus.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), "utf-8")
    s = Settings(index_dir=str(tmp_path / "index"), corpus=[str(corpus)], upload_dir=str(tmp_path / "up"))
    open_for_serving(s).backend.close()
    start = open_for_serving(s)
    start.backend.close()
    assert start.stale is None


REPRINT = "转载内容仅代表作者观点，不代表本网立场。如有侵权请联系删除。投稿请戳这里。"
ONE_LINE = (
    "9月20日，青禾镇第三届稻田音乐节在万亩稻田开幕，本届音乐节由镇文化站站长欧阳知秋策划，"
    "邀请了十二支乡村乐队演出，吸引游客两万余人次，带动周边农家乐和民宿收入明显增长。"
)


def test_a_reprint_notice_is_cut_from_a_one_line_article_not_the_article():
    text = ONE_LINE + REPRINT
    cleaned = clean_document(text)
    assert ONE_LINE in cleaned.text and "转载" not in cleaned.text and "投稿" not in cleaned.text
    assert all(text[o] == ch for ch, o in zip(cleaned.text, cleaned.offsets, strict=True) if not ch.isspace())


def test_a_one_line_article_ending_in_a_reprint_notice_is_indexed(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "news.txt").write_text("青禾镇举办稻田音乐节 " + ONE_LINE + REPRINT, "utf-8")
    corpus = build_corpus([tmp_path / "c"])
    assert [d.id for d in corpus.documents] == ["news.txt"]
    assert all("投稿" not in c.text for c in corpus.chunks)


# -- 5. file names are limited in bytes ---------------------------------------------------------------


@pytest.mark.parametrize("chars", [80, 84, 200])
def test_long_cjk_names_upload_and_can_be_deleted(settings, tmp_path, chars):
    c = create_app(settings).test_client()
    r = upload(c, "新" * chars + ".txt")
    assert r.status_code == 201, r.get_json()
    doc_id = r.get_json()["document"]["id"]
    assert len(doc_id.encode()) <= 200 and doc_id.endswith(".txt")
    r = delete(c, doc_id)
    assert r.status_code == 200, r.get_json()
    assert all(len(p.name.encode()) <= 255 for p in (tmp_path / "uploads" / ".trash").iterdir())


# -- 6. lone surrogates and deep nesting are 400s ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/ask", '{"question": "\\ud800"}'),
        ("/api/ask", '{"question": "谁？", "history": [{"role": "user", "content": "\\udfff"}]}'),
        ("/api/ask", '{"question": "谁？", "\\ud800": 1}'),
        ("/api/documents", '{"filename": "a.txt", "text": "正文\\ud800"}'),
        ("/api/ask", "[" * 1000),
        ("/api/documents", "[" * 1000),
        ("/api/ask", '{"question": "谁？", "history": ' + "[" * 100 + "]" * 100 + "}"),
        ("/api/documents", '{"filename": "a.txt", "text": "x", "y": ' + '{"a":' * 500 + "1" + "}" * 501),
    ],
)
def test_lone_surrogates_and_deep_nesting_are_400(settings, path, body):
    c = create_app(settings).test_client()
    r = c.post(path, data=body.encode(), content_type="application/json", headers=AUTH)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.get_json()["error"]["code"] in {"invalid_json", "invalid_text"}


# -- 7. the smaller ones --------------------------------------------------------------------------------


def test_a_stale_but_valid_index_is_served_at_once_and_caught_up_beside_it(settings, tmp_path):
    """After a crash mid-upload the previous version is valid: serve it now, rebuild beside it."""
    open_for_serving(settings).backend.close()
    version = current_version_dir(tmp_path / "index")
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "late.txt").write_text(NEW_DOC, "utf-8")
    t0 = time.monotonic()
    start = open_for_serving(settings)
    assert start.stale and current_version_dir(tmp_path / "index") == version  # not rebuilt before serving
    assert start.backend.document("late.txt") is None
    start.backend.close()
    assert time.monotonic() - t0 < 5
    assert catch_up(start.settings) and current_version_dir(tmp_path / "index") != version
    assert not catch_up(start.settings)  # caught up: nothing more to do


def test_serving_without_reading_the_corpus_and_a_catch_up_that_finds_nothing_takes_no_lock(
    settings, tmp_path, monkeypatch
):
    """`serve` opens the index without reading the corpus files; the catch-up beside it reads them
    without the write lock, so uploads are not held up while a large corpus is read."""
    open_for_serving(settings).backend.close()  # built
    start = open_for_serving(settings, read_corpus=False)
    assert not start.checked and start.stale is None
    start.backend.close()
    result: list[bool] = []
    with write_lock(settings.index_dir):  # held as an upload would hold it
        t = threading.Thread(target=lambda: result.append(catch_up(start.settings)))
        t.start()
        t.join(timeout=30)
        assert result == [False]  # up to date: returned without waiting for the lock
    (tmp_path / "uploads").mkdir(exist_ok=True)
    (tmp_path / "uploads" / "late.txt").write_text(NEW_DOC, "utf-8")
    reads: list[object] = []
    loader = build.load_paths
    monkeypatch.setattr(build, "load_paths", lambda paths: reads.append(paths) or loader(paths))
    assert catch_up(start.settings) and open_for_serving(settings).backend.document("late.txt") is not None
    assert len(reads) == 2  # the catch-up read the corpus once (nothing was published meanwhile), then the check


@pytest.mark.parametrize("data", [b"\x00" * 100, "正文\x00\x00".encode() * 50, "正文".encode("utf-16")])
def test_binary_uploads_are_refused(settings, data):
    c = create_app(settings).test_client()
    r = c.post(
        "/api/documents",
        data={"file": (__import__("io").BytesIO(data), "nul.txt")},
        headers=AUTH,
        content_type="multipart/form-data",
    )
    assert code_of(r) == (400, "bad_encoding")


@pytest.mark.parametrize("token", ["x", " ", "          a     ", "short-token-15ch"[:15]])
def test_a_short_or_blank_admin_token_is_refused(token):
    with pytest.raises(ConfigError, match="QA_ADMIN_TOKEN"):
        from_env({"QA_ADMIN_TOKEN": token})
    assert from_env({"QA_ADMIN_TOKEN": "a" * 16}).admin_token == "a" * 16


def test_serve_refuses_to_start_with_a_short_token(tmp_path):
    env = {"QA_ADMIN_TOKEN": "x", "QA_INDEX_DIR": str(tmp_path / "i"), "PATH": ""}
    r = subprocess.run(
        [sys.executable, "-m", "qa_service", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "QA_ADMIN_TOKEN" in r.stderr and "16" in r.stderr
    assert not (tmp_path / "i").exists()


def test_401_says_how_to_authenticate(settings):
    c = create_app(settings).test_client()
    r = c.post("/api/documents", json={"filename": "a.txt", "text": NEW_DOC})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("path", "status"), [("//healthz", 200), ("//api/documents", 200), ("/api//ask", 404), ("/healthz/", 404)]
)
def test_double_slash_paths_are_not_redirected_and_answer_json(settings, path, status):
    """Extra slashes are matched as one (werkzeug) instead of answered with an HTML 308 redirect."""
    c = create_app(settings).test_client()
    r = c.get("/", environ_overrides={"PATH_INFO": path})  # as a server passes it ("//x" is a URL's host here)
    assert r.status_code == status and r.mimetype == "application/json", (r.status_code, r.get_data(as_text=True))


def test_serve_answers_at_once_from_a_stale_index_and_catches_up_beside_it(tmp_path):
    """The real `qa-service serve`: a file that appeared while it was down (a crash mid-upload) is
    indexed by the background catch-up, while the previous version answers meanwhile."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    env = {"QA_CORPUS": str(corpus), "QA_UPLOAD_DIR": str(tmp_path / "uploads")}
    with running_server(tmp_path / "index", env=env, workers=1):
        pass
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "late.txt").write_text(NEW_DOC, "utf-8")
    with running_server(tmp_path / "index", env=env, workers=1) as base:
        deadline = time.monotonic() + 60
        ids: set[str] = set()
        while "late.txt" not in ids and time.monotonic() < deadline:
            with urllib.request.urlopen(base + "/api/documents", timeout=10) as r:
                ids = {d["id"] for d in json.load(r)["documents"]}
            time.sleep(0.2)
        assert "late.txt" in ids
    log = "".join(p.read_text() for p in tmp_path.glob("server-*.log"))
    # serve did not read the corpus before serving: the catch-up beside it found the new file
    assert "was stale: added 1 new or changed documents and deleted 0 beside the live one" in log
