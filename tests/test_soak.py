"""Soak: 16 concurrent clients for 60 s against the real server (loopback only, bounded).

Questions, document listings and, with the admin token, uploads: no 5xx, memory
growth under a stated bound, and every upload searchable afterwards.
"""

import json
import os
import random
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_QUESTIONS, SEEDS, running_server

CLIENTS = 16
SECONDS = float(os.environ.get("QA_SOAK_SECONDS", "60"))
MAX_UPLOADS = 12
RSS_GROWTH_BOUND_MB = 200  # also in README "Operating"
TOKEN = "soak-token-0123456789"
FIRST = "赤橙黄绿青蓝紫金银铜铁锡松柏桃李"
SECOND = "甲乙丙丁戊己庚辛壬癸子丑"
QUESTIONS = [*SAMPLE_QUESTIONS, "峡窝镇"]


def request(method, url, body=None, headers=None, timeout=60):
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants (the gunicorn master and workers)."""
    children: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(p.name))
    total, todo = 0, [pid]
    while todo:
        q = todo.pop()
        try:
            for line in Path(f"/proc/{q}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
        todo.extend(children.get(q, []))
    return total / 1024


def server_pid(base: str) -> int:
    """The gunicorn master: ``qa-service serve`` becomes it (its workers are forks with the same
    command line, and younger)."""
    port = base.rsplit(":", 1)[1].encode()
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in cmd and port in cmd:
                found.append(int(p.name))
    if not found:
        raise RuntimeError("gunicorn master not found")
    return min(found)


@pytest.mark.slow
def test_soak(tmp_path):
    shutil.copytree(SEEDS, tmp_path / "corpus")
    env = {"QA_ADMIN_TOKEN": TOKEN, "QA_CORPUS": str(tmp_path / "corpus"), "QA_UPLOAD_DIR": str(tmp_path / "uploads")}
    with running_server(tmp_path / "index", env=env) as base:
        pid = server_pid(base)
        # Warm up before the baseline: one upload (a rebuild in one worker, a reload in the
        # other) and every kind of question in both workers, so the baseline holds what a
        # steady service holds (jieba's dictionaries, one index) and growth means a leak.
        s, _ = request(
            "POST",
            base + "/api/documents",
            {"filename": "warm.txt", "text": "预热社区召开会议 近日，预热社区召开会议。"},
            {"Authorization": f"Bearer {TOKEN}"},
            timeout=120,
        )
        assert s == 201
        time.sleep(1.5)
        for _ in range(4):
            for q in QUESTIONS:
                request("POST", base + "/api/ask", {"question": q})
        rss_start = tree_rss_mb(pid)
        stop = time.monotonic() + SECONDS
        statuses: dict[int, int] = {}
        uploaded: list[tuple[str, str]] = []  # (document id, marker) of each upload that succeeded
        errors: list[str] = []
        lock = threading.Lock()

        reserved = [0]

        def client(n: int) -> None:
            rng = random.Random(n)
            while time.monotonic() < stop:
                roll = rng.random()
                try:
                    k = None
                    if roll < 0.03:
                        with lock:
                            if reserved[0] < MAX_UPLOADS:
                                k = reserved[0]
                                reserved[0] += 1
                    if k is not None:
                        # A made-up place name whose character pair occurs nowhere else.
                        marker = f"{FIRST[n]}{SECOND[k]}湾"
                        name = f"soak{n}_{k}.txt"
                        text = (
                            f"{marker}社区召开会议 近日，{marker}社区召开环境整治推进会，"
                            f"部署下一阶段工作。（{marker}社区）"
                        )
                        s, _ = request(
                            "POST",
                            base + "/api/documents",
                            {"filename": name, "text": text},
                            {"Authorization": f"Bearer {TOKEN}"},
                            timeout=120,
                        )
                        if s == 201:
                            with lock:
                                uploaded.append((name, marker))
                        else:
                            errors.append(f"upload {name}: {s}")
                    elif roll < 0.15:
                        s, _ = request("GET", base + "/api/documents")
                    else:
                        q = {"question": rng.choice(QUESTIONS), "top_k": rng.randint(1, 10)}
                        s, _ = request("POST", base + "/api/ask", q)
                except (OSError, ValueError) as exc:
                    errors.append(repr(exc))
                    continue
                with lock:
                    statuses[s] = statuses.get(s, 0) + 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 180)
        time.sleep(1.5)  # let every worker notice the last index version
        rss_end = tree_rss_mb(pid)

        assert not errors, errors[:5]
        assert not [s for s in statuses if s >= 500], statuses
        assert sum(statuses.values()) > CLIENTS * 10, statuses
        assert uploaded, "the soak made no uploads"
        for name, marker in uploaded:
            for _ in range(4):  # each worker must have it: ask more than once
                s, body = request("POST", base + "/api/ask", {"question": f"{marker}社区召开了什么会议？"})
                assert s == 200 and body["passages"][0]["source"]["document"] == name, (name, body["passages"][:1])
        growth = rss_end - rss_start
        print(
            f"\nsoak: {sum(statuses.values())} requests {statuses}, {len(uploaded)} uploads, "
            f"RSS {rss_start:.0f} -> {rss_end:.0f} MB"
        )
        assert growth <= RSS_GROWTH_BOUND_MB, f"RSS grew {growth:.0f} MB"
