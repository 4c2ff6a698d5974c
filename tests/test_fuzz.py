"""Schemathesis fuzzes the published OpenAPI schema against the real server on 127.0.0.1."""

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEEDS, running_server

TOKEN = "fuzz-token-0123456789"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not SCHEMATHESIS.exists():
        pytest.fail("schemathesis is not installed: pip install -e '.[dev]'")
    tmp = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(SEEDS, tmp / "corpus")
    env = {"QA_ADMIN_TOKEN": TOKEN, "QA_CORPUS": str(tmp / "corpus"), "QA_UPLOAD_DIR": str(tmp / "uploads")}
    with running_server(tmp / "index", env=env) as base:
        yield base, tmp / f"server-{base.rsplit(':', 1)[1]}.log"


def fuzz(base, *extra):
    cmd = [str(SCHEMATHESIS), "run", f"{base}/api/openapi.json", "--checks", "all", "--workers", "1"]
    cmd += ["--seed", "20261121", "--suppress-health-check", "all", *extra]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    return r.stdout


def test_schema_is_served_and_valid_json(server):
    with urllib.request.urlopen(server[0] + "/api/openapi.json", timeout=5) as r:
        spec = json.load(r)
    assert spec["openapi"].startswith("3.") and "/api/ask" in spec["paths"]


def test_fuzz_every_operation_without_credentials(server):
    # Reads are open; writes must answer 401 without the token. No 5xx, every response matches the schema.
    out = fuzz(server[0], "--max-examples", "60")
    assert "Tested: 9" in out  # 7, and the PDF page and boxes routes (web/pages.py)


def test_fuzz_writes_with_the_admin_token(server):
    base, log = server
    out = fuzz(
        base,
        "--include-path-regex",
        "^/api/documents",
        # The read-only page routes of PDFs are fuzzed above; here the examples go to the writes.
        "--exclude-path-regex",
        "/(pages|boxes)",
        "--max-examples",
        "40",
        "-H",
        f"Authorization: Bearer {TOKEN}",
        # Whether a well-formed upload is accepted depends on state and content (a second
        # upload of a name is 409; text that is all boilerplate is 400), not on the schema.
        "--exclude-checks",
        "positive_data_acceptance",
    )
    assert "Tested: 0" not in out and "generated" in out
    added = len(re.findall(r"POST /api/documents 201 ", log.read_text("utf-8")))
    deleted = len(re.findall(r"DELETE /api/documents/\S+ 200 ", log.read_text("utf-8")))
    print(f"\nschemathesis with the token: {added} uploads and {deleted} deletions succeeded")
    assert added >= 10  # the writes were exercised for real, not only refused
