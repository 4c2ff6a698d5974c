"""The command line, run as a user would: real subprocesses."""

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request

from tests.conftest import ROOT, SEEDS, free_port


def run(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "qa_service", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, **kw
    )


def test_help_teaches_every_command():
    r = run("--help")
    assert r.returncode == 0
    for word in ("index", "serve", "ask", "eval", "examples:", "QA_INDEX_DIR"):
        assert word in r.stdout
    for cmd in ("index", "serve", "ask", "eval"):
        assert run(cmd, "--help").returncode == 0


def test_index_then_ask(tmp_path):
    idx = tmp_path / "idx"
    r = run("index", str(SEEDS), "--index-dir", str(idx), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "indexed 5 documents" in r.stdout
    r = run("ask", "谁陪同宋洁督导爱国卫生工作？", "--index-dir", str(idx), "--json")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["passages"][0]["source"]["document"] == "001_ca14ccf12a6e3ca9.txt"
    r = run("ask", "谁陪同宋洁督导爱国卫生工作？", "--index-dir", str(idx), "--passages", "2")
    assert r.returncode == 0 and "答：" in r.stdout and "001_ca14ccf12a6e3ca9.txt" in r.stdout


def test_ask_prints_the_answer_its_sentence_and_compact_citations(tmp_path):
    idx = tmp_path / "idx"
    assert run("index", str(SEEDS), "--index-dir", str(idx), "--no-progress").returncode == 0
    r = run("ask", "宋洁是哪天实地督导上街区爱国卫生工作的？", "--index-dir", str(idx))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("答：4月14日")
    assert "4月14日，区委书记宋洁实地督导爱国卫生工作" in lines[1]  # the evidence sentence
    cites = [line for line in lines if line.startswith("[")]
    assert 1 <= len(cites) <= 3, r.stdout
    assert "宋洁督导上街区爱国卫生工作" in cites[0] and "2021-04-16" in cites[0] and "中共上街区委办公室" in cites[0]
    assert len(lines) <= 3 + 3 * 2 + 1, r.stdout  # compact: no whole passages
    assert all(len(line) <= 60 for line in lines[2:]), r.stdout  # one-line snippets
    assert "001_ca14ccf12a6e3ca9.txt" not in r.stdout  # file names only with --passages
    assert "INFO" not in r.stderr, r.stderr
    r = run("ask", "谁陪同宋洁督导爱国卫生工作？", "--index-dir", str(idx), "-v")
    assert "INFO" in r.stderr

    # --passages N: N whole passages, wrapped without a line starting with punctuation.
    r = run("ask", "哪些街道开展了爱国卫生运动？", "--index-dir", str(idx), "--passages", "4")
    assert r.returncode == 0, r.stderr
    assert sum(line.startswith("[") for line in r.stdout.splitlines()) == 4
    assert not [line for line in r.stdout.splitlines() if line.strip()[:1] in tuple("，。、；：")], r.stdout
    assert run("ask", "问题", "--index-dir", str(idx), "--passages", "0").returncode == 2


def test_index_summary_names_skipped_files_and_progress_is_asked_for(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02 not text")
    (corpus / "blank.txt").write_text("   \n\n", "utf-8")
    idx = tmp_path / "idx"
    r = run("index", str(corpus), "--index-dir", str(idx), "--no-progress")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "indexed 5 documents, 32 articles, 50 passages" in out
    assert "skipped 2 files:" in out and "binary.txt: binary data" in out and "blank.txt: no text left" in out
    assert re.search(r"^took \d+\.\ds$", out, re.M), out
    assert "segmenting" not in r.stderr
    r = run("index", str(SEEDS), "--index-dir", str(idx), "--progress")
    assert r.returncode == 0 and "skipped no files" in r.stdout
    assert "segmenting" in r.stderr  # the bar, though stderr is a pipe here


def test_serve_says_serving_once_the_server_answers(tmp_path):
    port = free_port()
    cmd = [sys.executable, "-m", "qa_service", "serve", "--port", str(port), "--index-dir", str(tmp_path / "idx")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "serve exited:\n" + "".join(lines)
            lines.append(line)
            if "serving on" in line:
                # At once: the first worker has loaded the index and accepts.
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
                    assert resp.status == 200
                break
        else:
            raise AssertionError("no 'serving on' line:\n" + "".join(lines))
        time.sleep(3)  # the other worker boots: it does not say it again
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=30)
    log = "".join(lines) + rest
    assert log.count("serving on") == 1, log
    assert f"serving on http://127.0.0.1:{port}/ with 2 workers" in log
    assert "there is no index in" in log and "index in index" not in log
    assert "pkg_resources" not in log


def test_index_errors_are_clear(tmp_path):
    r = run("index", str(tmp_path / "nope"), "--index-dir", str(tmp_path / "idx"))
    assert r.returncode == 2 and "no such file" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run("index", str(empty), "--index-dir", str(tmp_path / "idx"))
    assert r.returncode == 1 and "no readable text" in r.stderr
    assert not (tmp_path / "idx" / "CURRENT").exists()


def test_ask_rejects_bad_arguments(tmp_path):
    assert run("ask", "问题", "--top-k", "0", "--index-dir", str(tmp_path)).returncode == 2
    assert run("ask", "   ", "--index-dir", str(tmp_path)).returncode == 2


def test_ask_without_an_index_and_building_disabled_fails_cleanly(tmp_path):
    r = run("ask", "问题", "--index-dir", str(tmp_path / "none"), env={"QA_BUILD_IF_MISSING": "0", "PATH": ""})
    assert r.returncode == 1 and "qa-service index" in r.stderr and "Traceback" not in r.stderr


def test_eval_prints_figures_as_json(tmp_path):
    r = run("eval", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["seed"]["offset errors"] == "0"
    assert float(out["seed"]["Hit@1 (answerable)"]) > 0.5
