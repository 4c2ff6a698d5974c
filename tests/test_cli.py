"""The command line, run as a user would: real subprocesses."""

import json
import subprocess
import sys

from tests.conftest import ROOT, SEEDS


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
    r = run("ask", "谁陪同宋洁督导爱国卫生工作？", "--index-dir", str(idx))
    assert r.returncode == 0 and "答：" in r.stdout and "001_ca14ccf12a6e3ca9.txt" in r.stdout


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
