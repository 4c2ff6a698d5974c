"""Read-your-writes across workers: once a write has been answered, every later request, whichever
worker takes it, is answered from that version or a newer one (the race tests/test_stateful.py hit
now and then).  Two apps over the same folders stand for two gunicorn workers; each case pins down
one interleaving a worker meets while it catches up with a version another one published."""

import shutil
import threading

import pytest

from qa_service.core.settings import Settings
from qa_service.index.embedded import versions
from qa_service.web.app import create_app
from tests.conftest import SEEDS

TOKEN = "s3cret-token-of-16+chars"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW_DOC = "第9号街道推进会 近日，第9号测试街道召开垃圾分类推进会，部署全年工作，共设置回收点9个。（第9号测试街道）"
SEED_DOC = "004_9122cf0f75c063ff.txt"


@pytest.fixture()
def workers(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    settings = Settings(
        index_dir=str(tmp_path / "index"), corpus=[str(corpus)], upload_dir=str(tmp_path / "uploads"), admin_token=TOKEN
    )
    apps = [create_app(settings), create_app(settings)]
    for app in apps:  # no merge of its own publishes a version behind the case's back
        app.extensions["qa_live"].merge_in_background = False
    return apps


def upload(client, name):
    return client.post("/api/documents", json={"filename": name, "text": NEW_DOC}, headers=AUTH)


def test_a_read_waits_for_the_load_another_thread_of_its_worker_has_started(workers):
    """Worker b's merge thread, catching up under the write lock, is loading the version worker a just
    published when a request reaches b: the request must wait for that load, not be answered from the
    version b held before."""
    a, b = workers
    live = b.extensions["qa_live"]
    assert upload(a.test_client(), "g.txt").status_code == 201
    loading, release = threading.Event(), threading.Event()
    make_service = live.make_service

    def slow_load(index):
        if threading.current_thread().name == "catching-up":
            loading.set()
            release.wait(1.0)  # long enough for the request below to arrive while this load runs
        return make_service(index)

    live.make_service = slow_load

    def catch_up_under_the_write_lock():  # what b's background merge does before it publishes
        with live._writing():
            pass

    t = threading.Thread(target=catch_up_under_the_write_lock, name="catching-up")
    t.start()
    assert loading.wait(30)
    try:
        status = b.test_client().get("/api/documents/g.txt").status_code
    finally:
        release.set()
        t.join(30)
    assert status == 200


def test_a_version_superseded_while_it_is_read_is_followed_to_the_newer_one(workers, monkeypatch):
    """Worker b starts reading the version a's upload published; before it has read it, a publishes
    another (a merge or a delete) and removes it.  b must load the newer one, which holds the upload,
    not keep answering from the version it held before the upload."""
    a, b = workers
    client_a = a.test_client()
    assert upload(client_a, "g.txt").status_code == 201
    read_live_manifest = versions.read_live_manifest
    superseded = []

    def then_superseded(*args, **kwargs):
        found = read_live_manifest(*args, **kwargs)
        if not superseded:
            superseded.append(found[0].name)
            assert client_a.delete(f"/api/documents/{SEED_DOC}", headers=AUTH).status_code == 200
            assert not found[0].exists()  # a's new version removed the one b is reading
        return found

    monkeypatch.setattr(versions, "read_live_manifest", then_superseded)
    client_b = b.test_client()
    assert client_b.get("/api/documents/g.txt").status_code == 200
    assert superseded  # the interleaving did happen
    assert client_b.get(f"/api/documents/{SEED_DOC}").status_code == 404
