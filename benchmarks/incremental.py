"""Incremental updates on a live server: how long an uploaded document takes to become searchable
(and a deleted one to disappear), and what the update does to other clients' latency meanwhile.

Everything goes through the real command line and HTTP API on 127.0.0.1 (nothing is imported
from qa_service), so the same script measures any version of the service:

1. a synthetic corpus of --size passages (benchmarks/corpus.py, run as a script; kept in
   --data-dir, reused with --reuse), indexed with ``python -m qa_service index``;
2. ``python -m qa_service serve --workers 2`` with QA_CORPUS, QA_INDEX_DIR, QA_UPLOAD_DIR and
   QA_ADMIN_TOKEN set, waited on until GET /healthz answers 200;
3. --clients threads POSTing /api/ask back to back with the CMRC2018 trial questions, recording
   every latency, from start-up to the end;
4. after a quiet period, POST /api/documents (multipart, one made-up ~2,000-character news
   article about 洛溪湾区); then /api/ask is polled every --poll seconds with a question only that
   article answers, until a returned passage's source document is the uploaded one;
5. DELETE /api/documents/<id>, then polled until no returned passage comes from it.

For the upload and the delete it reports: the HTTP call's time; "after return" (from the call's
response to the first poll that sees the change) and "total" (from sending the call to that poll);
"all polls agree" (after the first, until --confirm polls in a row agree: with several workers,
each loads a new index version on its own); and the background clients' p50/p99 over the
requests started from the call to the first poll that sees the change, against those started in the quiet
window of the same length just before the call (shorter if less quiet time was available; both
lengths are in the JSON).  Results: a markdown table on stdout, JSON in
--data-dir/incremental-SIZE.json, the server's log in --data-dir/incremental-serve-SIZE.log.

Example (from the repository root, in the project's venv):

    .venv/bin/python benchmarks/incremental.py --size 10k --reuse

Against another checkout of the project (e.g. a git worktree of a base commit):

    .venv/bin/python benchmarks/incremental.py --size 10k --reuse --project /tmp/qa-base

With an index of the same corpus already built (e.g. by benchmarks/index_build.py), skip the build:

    .venv/bin/python benchmarks/incremental.py --size 1m --reuse --index-from benchmarks/.data/index-build-this-1m
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.corpus import parse_size, size_label  # plain functions: no qa_service import

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
CMRC = ROOT.parent / "shared" / "eval" / "cmrc2018_trial.json"
SHARD_LINES = 10_000  # records per corpus file, as benchmarks/run.py splits them

QUESTION = "洛溪湾区潮汐能示范电站首台机组是哪天并网发电的？"
EXPECTED_ANSWER = "11月23日"
ARTICLE = """洛溪湾区潮汐能示范电站首台机组并网发电
来源：洛溪湾区融媒体中心　2027年11月24日

本报讯（记者 柯雨桐 通讯员 夏知衡）11月23日上午10时18分，随着调度中心一声令下，洛溪湾区潮汐能示范电站首台机组\
顺利并网发电。这是洛溪湾区建设海洋清洁能源基地迈出的关键一步，也标志着该区“向海图强”三年行动计划进入全面实施阶段。\
区委书记滕望舒，区委副书记、区长季辰朗出席并网仪式。

洛溪湾区潮汐能示范电站位于白鹭礁以东的青螺水道，总投资18.6亿元，规划装机容量4.8万千瓦，共安装8台单机容量6000千瓦\
的双向贯流式水轮发电机组。项目于2025年4月开工建设，由洛溪湾区能源投资集团与省电力设计院联合建设。全部机组投产后，\
电站年均发电量预计可达1.12亿千瓦时，每年可节约标准煤约3.4万吨，减少二氧化碳排放约9.1万吨，可满足约4.5万户居民一年\
的生活用电需求。

“潮汐能最大的特点是可预测。”电站总工程师岑晓岚介绍，青螺水道平均潮差达到5.3米，是全省潮差最大的海域之一。电站采用\
单库双向发电方式，涨潮和落潮时都能发电，每天可以发电约14个小时。为了减少对海洋生态的影响，建设团队在坝体两侧预留了\
鱼类洄游通道，并在施工期间对周边海域的水质、底栖生物开展了连续监测，监测数据每月向社会公开。

并网仪式后，滕望舒一行登上电站中控平台，察看机组运行参数，详细了解电站运维、海洋生态保护和后续机组建设进度等情况。\
滕望舒指出，发展海洋清洁能源是洛溪湾区推动绿色低碳转型的重要抓手，各有关部门要坚持安全第一，倒排工期、挂图作战，\
确保剩余7台机组在明年汛期前全部投产；要同步谋划潮汐能与海上风电、海水制氢、海洋牧场融合发展，把资源优势转化为产业\
优势和发展优势；要持续做好征迁群众、养殖渔民的安置和转产就业工作，让群众共享项目建设成果。

季辰朗表示，区政府将设立2亿元海洋能源产业发展专项资金，重点支持潮汐能装备研发、运维服务和配套产业落地，力争到2030年\
全区海洋清洁能源装机规模突破50万千瓦。目前，已有3家装备制造企业与洛溪湾区签订入驻协议，计划在蓝湾产业园建设水轮机\
叶片、海工防腐材料等生产线，预计全部达产后年产值可超过30亿元，新增就业岗位1500个以上。

据了解，示范电站建设过程中攻克了海底软土地基处理、海水腐蚀防护和双向水轮机高效运行等多项技术难题，形成专利21项，\
其中发明专利6项。施工高峰期，现场有1200余名建设者同时作业。项目部负责人蔺嘉树说，为了抢抓冬季小潮窗口期，建设者们\
连续奋战了一百多个日夜，最多的时候一天要完成两次潮间带浇筑，“看到第一度电送上电网，大家都觉得值了”。

电站的运行管理同样引入了不少新技术。据电站运维中心主任莫清源介绍，电站建成了数字孪生管控平台，可以根据潮位预报提前\
48小时编制发电计划，并对每台机组的振动、温度和叶片磨损情况进行实时监测。遇到台风等极端天气，平台能够自动调整闸门\
开度，保障坝体和机组安全。运维中心目前有值班人员32名，其中一半以上是近三年从省内高校招聘的青年技术人员。

电站所在的青螺水道曾是洛溪湾区传统的紫菜养殖区。为妥善解决养殖户的后顾之忧，洛溪湾区在项目开工前组织专班逐户上门\
测量登记，共签订补偿协议417份，补偿资金全部按时足额发放到位。同时，区人社局联合电站开设了设备巡检、海上作业安全等\
培训班，已有126名转产渔民取得相关职业技能证书，其中41人被电站和配套企业正式录用。

当天，电站还与洛溪湾区第二中学、海洋职业技术学院签订了科普教育合作协议。今后每月第二个周六，电站将面向中小学生和\
市民开放参观，由技术人员现场讲解潮汐发电原理、机组构造和海洋生态保护措施。首批开放日预约通道已于11月20日开通，\
两天内名额即被约满。

附近的白鹭礁渔村村民也从项目中受益。村党支部书记邝海生介绍，电站建设期间，村里有60多名村民在项目上务工，人均月收入\
超过6000元；电站还出资修建了一条长2.6公里的滨海观光步道和一座潮汐能科普展馆。下一步，村里准备依托电站发展工业旅游和\
研学游，让游客在看潮的同时了解清洁能源知识，预计每年可接待游客8万人次以上。

省能源局有关专家在并网仪式后的座谈会上指出，我国潮汐能资源理论装机容量超过2000万千瓦，但目前开发利用规模仍然较小，\
主要受制于建设成本高、单机效率低等因素。洛溪湾区示范电站在机组国产化、生态友好型坝体设计等方面进行了有益探索，其建设\
和运行经验将为沿海地区规模化开发潮汐能提供重要参考。

洛溪湾区发展改革局相关负责人表示，下一步，该区将加快编制海洋能源综合开发规划，积极争取国家海洋可再生能源示范项目政策\
支持，推动电站二期工程尽早开工，努力把洛溪湾区打造成为全国有影响力的海洋清洁能源示范区。

（责任编辑：沈一苇）
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def cmrc_questions() -> list[str]:
    data = json.loads(CMRC.read_text("utf-8"))
    qs = [qa["question"].strip() for art in data["data"] for para in art["paragraphs"] for qa in para["qas"]]
    return [q for q in qs if q]  # two of the trial questions are empty (the API refuses them: 400)


def git_rev(project: Path) -> dict[str, Any]:
    def git(*a: str) -> str:
        r = subprocess.run(["git", "-C", str(project), *a], capture_output=True, text=True, check=False)
        return r.stdout

    # Not stripped before splitting: a porcelain line starts with its two status columns (" M path").
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "qa_service").splitlines() if line]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "dirty_qa_service": dirty}


# -- corpus and index -----------------------------------------------------------------------


def prepare_corpus(n: int, args: argparse.Namespace) -> Path:
    """The corpus as files of 10,000 JSONL records (as benchmarks/run.py makes them): news-SIZE/."""
    data = Path(args.data_dir)
    label = size_label(n)
    jsonl = data / f"news-{label}.jsonl"
    shards = data / f"news-{label}"
    if args.reuse and shards.is_dir() and any(shards.glob("*.jsonl")):
        log(f"reusing {shards}")
        return shards
    if not (args.reuse and jsonl.is_file()):
        # This checkout's generator (it reads ../shared/eval beside it), whichever --project is measured.
        cmd = [PY, str(HERE / "corpus.py"), "--size", str(n), "--out", str(jsonl), "--workers", str(args.workers)]
        log("$ " + " ".join(cmd))
        subprocess.run(cmd, cwd=ROOT, check=True, timeout=args.timeout)
    tmp = data / f".news-{label}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with open(jsonl, encoding="utf-8") as f:
        block: list[str] = []
        part = 0
        for line in f:
            block.append(line)
            if len(block) == SHARD_LINES:
                (tmp / f"part-{part:03d}.jsonl").write_text("".join(block), encoding="utf-8")
                block, part = [], part + 1
        if block:
            (tmp / f"part-{part:03d}.jsonl").write_text("".join(block), encoding="utf-8")
    shutil.rmtree(shards, ignore_errors=True)
    os.replace(tmp, shards)
    return shards


def child_env(project: Path, qa: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(project), *filter(None, [env.get("PYTHONPATH")])])
    env.update(qa)
    return env


def kill_group(proc: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM the process group ``proc`` leads (it was started in a new session), then SIGKILL it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log(f"process group {proc.pid} still running {grace:.0f} s after SIGTERM: SIGKILL")
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group (workers, helpers)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def linked_index(source: Path, index_dir: Path) -> dict[str, Any]:
    """An index already built of the same corpus (by ``qa_service index``, with --project's code),
    hard-linked file by file: a version's files are never written after it is published (a load
    adds its record of verified checksums as a new file), and the server replaces ``CURRENT`` by
    renaming a new file, so ``source`` is left as it was."""
    if not (source / "CURRENT").is_file():
        raise RuntimeError(f"{source} holds no index (no CURRENT)")
    shutil.rmtree(index_dir, ignore_errors=True)
    shutil.copytree(source, index_dir, copy_function=os.link)
    log(f"index hard-linked from {source}")
    return {"linked_from": str(source), "bytes": sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())}


def build_index(shards: Path, index_dir: Path, env: dict[str, str], project: Path, timeout: float) -> dict[str, Any]:
    shutil.rmtree(index_dir, ignore_errors=True)
    cmd = [PY, "-m", "qa_service", "index", str(shards), "--index-dir", str(index_dir), "--no-progress"]
    log("$ " + " ".join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc, grace=5)
        raise RuntimeError(f"`qa_service index` did not finish within {timeout:.0f} s") from None
    finally:
        kill_group(proc, grace=5)
    secs = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"`qa_service index` exited {proc.returncode}:\n{out[-3000:]}")
    summary = [line for line in out.splitlines() if line.startswith(("indexed", "took", "skipped"))]
    log(f"indexed in {secs:.1f} s: {' | '.join(summary)}")
    return {
        "command": " ".join(["python", *cmd[1:]]),
        "seconds": secs,
        "summary": summary,
        "bytes": sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()),
    }


# -- HTTP -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float
) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def ask(port: int, question: str, timeout: float, top_k: int = 5) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"question": question, "top_k": top_k}).encode()
    status, raw = request(port, "POST", "/api/ask", body, {"Content-Type": "application/json"}, timeout)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, {"raw": raw[:500].decode(errors="replace")}


def multipart(field_name: str, filename: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = "----qa-bench-" + secrets.token_hex(12)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Server:
    port: int
    env: dict[str, str]
    project: Path
    log_file: Path
    proc: subprocess.Popen | None = None

    def start(self, timeout: float) -> float:
        """Start ``serve``; seconds until GET /healthz answered 200."""
        cmd = [PY, "-m", "qa_service", "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(self.port)]
        log("$ " + " ".join(cmd) + f"  (server log: {self.log_file})")
        t0 = time.perf_counter()
        with open(self.log_file, "ab") as out:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.project,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: gunicorn, workers, helpers all stopped together
            )
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_file}")
            with contextlib.suppress(OSError):
                if request(self.port, "GET", "/healthz", None, {}, 5)[0] == 200:
                    return time.perf_counter() - t0
            time.sleep(0.1)
        raise RuntimeError(f"/healthz did not answer 200 within {timeout:.0f} s; see {self.log_file}")

    def stop(self) -> None:
        if self.proc is not None:
            log(f"stopping the server (process group {self.proc.pid})")
            kill_group(self.proc)


@dataclass
class Load:
    """``clients`` threads POSTing /api/ask back to back, one new connection per request (gunicorn closes
    it after each response), recording (start, seconds, status or error) of every request."""

    port: int
    clients: int
    questions: list[str]
    timeout: float
    records: list[tuple[float, float, str]] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: float = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()
        bodies = [json.dumps({"question": q}).encode() for q in self.questions]
        for i in range(self.clients):
            t = threading.Thread(target=self._client, args=(i, bodies), daemon=True)
            t.start()
            self.threads.append(t)

    def _client(self, i: int, bodies: list[bytes]) -> None:
        n = i
        while not self.stop_event.is_set():
            body = bodies[(n * 7 + i) % len(bodies)]
            n += self.clients
            t = time.perf_counter()
            try:
                status, _ = request(
                    self.port, "POST", "/api/ask", body, {"Content-Type": "application/json"}, self.timeout
                )
                outcome = "ok" if status == 200 else f"HTTP {status}"
            except OSError as exc:
                outcome = type(exc).__name__
            with self.lock:
                self.records.append((t, time.perf_counter() - t, outcome))

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=self.timeout + 5)

    def window(self, a: float, b: float) -> dict[str, Any]:
        """Requests started in [a, b): count, p50/p99/max of their latencies (ms), failures."""
        with self.lock:
            rows = [r for r in self.records if a <= r[0] < b]
        ms = [r[1] * 1000 for r in rows]
        errors: dict[str, int] = {}
        for r in rows:
            if r[2] != "ok":
                errors[r[2]] = errors.get(r[2], 0) + 1
        return {
            "seconds": b - a,
            "requests": len(rows),
            "rps": len(rows) / (b - a) if b > a else None,
            "p50_ms": percentile(ms, 50),
            "p99_ms": percentile(ms, 99),
            "max_ms": max(ms) if ms else None,
            "errors": sum(errors.values()),
            "error_kinds": errors,
        }


def holds(resp: dict[str, Any], doc_id: str) -> bool:
    return any((p.get("source") or {}).get("document") == doc_id for p in resp.get("passages") or [])


def poll(port: int, doc_id: str, present: bool, args: argparse.Namespace, since: float) -> dict[str, Any]:
    """Ask QUESTION every ``args.poll`` s until the answer's passages hold ``doc_id`` (``present``) or
    not; then until ``args.confirm`` polls in a row agree.  Times are seconds after ``since``."""
    t0 = time.perf_counter()
    first: float | None = None
    agreed_from: float | None = None
    run = polls = 0
    answer = None
    statuses: dict[str, int] = {}
    while time.perf_counter() - t0 < args.timeout:
        nxt = time.perf_counter() + args.poll
        try:
            status, resp = ask(port, QUESTION, args.request_timeout)
            kind = str(status)
        except OSError as exc:
            status, resp, kind = 0, {}, type(exc).__name__
        polls += 1
        statuses[kind] = statuses.get(kind, 0) + 1
        now = time.perf_counter()
        if status == 200 and holds(resp, doc_id) == present:
            if first is None:
                first = now
                answer = (resp.get("answer") or {}).get("text")
            if run == 0:
                agreed_from = now
            run += 1
            if run >= args.confirm:
                break
        else:
            run = 0
        time.sleep(max(0.0, nxt - time.perf_counter()))
    done = first is not None and run >= args.confirm
    return {
        "seen": first is not None,
        "first_s": None if first is None else first - since,
        "agreed_s": agreed_from - since if done and agreed_from is not None else None,
        "agreed_at": agreed_from if done else None,
        "first_at": first,
        "polls": polls,
        "poll_statuses": statuses,
        "answer": answer,
    }


def quiet_then(seconds: float, label: str) -> None:
    log(f"quiet window before the {label}: {seconds:.0f} s of background load only")
    time.sleep(seconds)


def compare(load: Load, start: float, end: float, quiet_from: float) -> dict[str, Any]:
    """The clients' latency from ``start`` to ``end``, and in the window of the same length before ``start``
    (not earlier than ``quiet_from``)."""
    length = end - start
    return {"during": load.window(start, end), "quiet": load.window(max(quiet_from, start - length), start)}


# -- the two measured updates -------------------------------------------------------------------


def upload(port: int, token: str, filename: str, args: argparse.Namespace, load: Load, quiet_from: float) -> dict:
    body, ctype = multipart("file", filename, ARTICLE.encode("utf-8"), "text/plain; charset=utf-8")
    headers = {"Content-Type": ctype, "Authorization": f"Bearer {token}"}
    log(f"POST /api/documents {filename} ({len(ARTICLE)} characters)")
    t0 = time.perf_counter()
    status, raw = request(port, "POST", "/api/documents", body, headers, args.timeout)
    t1 = time.perf_counter()
    out: dict[str, Any] = {"filename": filename, "status": status, "request_s": t1 - t0}
    try:
        resp = json.loads(raw)
    except ValueError:
        resp = {"raw": raw[:500].decode(errors="replace")}
    out["response"] = resp
    log(f"upload answered {status} after {t1 - t0:.2f} s: {json.dumps(resp, ensure_ascii=False)[:300]}")
    if status not in (200, 201):
        out["error"] = f"upload refused: HTTP {status}"
        out.update(compare(load, t0, t1, quiet_from))
        return out
    doc_id = ((resp.get("document") or {}).get("id")) or filename
    out["document"] = doc_id
    p = poll(port, doc_id, True, args, t1)
    out.update(_poll_summary(p, t0, t1))
    out.update(compare(load, t0, p["first_at"] or time.perf_counter(), quiet_from))
    return out


def delete(port: int, token: str, doc_id: str, args: argparse.Namespace, load: Load, quiet_from: float) -> dict:
    path = "/api/documents/" + urllib.parse.quote(doc_id, safe="")
    log(f"DELETE {path}")
    t0 = time.perf_counter()
    status, raw = request(port, "DELETE", path, None, {"Authorization": f"Bearer {token}"}, args.timeout)
    t1 = time.perf_counter()
    out: dict[str, Any] = {"document": doc_id, "status": status, "request_s": t1 - t0}
    try:
        out["response"] = json.loads(raw)
    except ValueError:
        out["response"] = {"raw": raw[:500].decode(errors="replace")}
    log(f"delete answered {status} after {t1 - t0:.2f} s: {json.dumps(out['response'], ensure_ascii=False)[:300]}")
    if status != 200:
        out["error"] = f"delete refused: HTTP {status}"
        out.update(compare(load, t0, t1, quiet_from))
        return out
    p = poll(port, doc_id, False, args, t1)
    out.update(_poll_summary(p, t0, t1))
    out.update(compare(load, t0, p["first_at"] or time.perf_counter(), quiet_from))
    return out


def _poll_summary(p: dict[str, Any], t0: float, t1: float) -> dict[str, Any]:
    out = {
        "changed": p["seen"],
        "after_return_s": p["first_s"],
        "total_s": None if p["first_s"] is None else p["first_s"] + (t1 - t0),
        "all_agree_after_return_s": p["agreed_s"],
        "polls": p["polls"],
        "poll_statuses": p["poll_statuses"],
        "answer": p["answer"],
    }
    if not p["seen"]:
        out["error"] = "the change was never seen within --timeout"
    elif p["agreed_s"] is None:
        out["error"] = "polls never agreed --confirm times in a row within --timeout"
    return out


# -- report -------------------------------------------------------------------------------------


def server_problems(log_file: Path, since: int) -> list[str]:
    """Lines of the server log (from byte ``since``) that look like trouble."""
    pat = re.compile(r"Traceback|ERROR|CRITICAL|WORKER TIMEOUT|Exception| 5\d\d \d+(\.\d+)?ms")
    try:
        with open(log_file, encoding="utf-8", errors="replace") as f:
            f.seek(since)
            return [line.rstrip() for line in f if pat.search(line)]
    except OSError:
        return []


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "—" if x is None else format(x, spec)


def table(res: dict[str, Any]) -> str:
    rows = [
        "| update | HTTP call (s) | seen after return (s) | total (s) | all polls agree after return (s) "
        "| window (s) | p50 quiet / during (ms) | p99 quiet / during (ms) | requests quiet / during "
        "| errors during |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("upload", "delete"):
        r = res.get(name)
        if not r:
            continue
        q, d = r.get("quiet", {}), r.get("during", {})
        rows.append(
            f"| {name} (HTTP {r.get('status')}) | {fmt(r.get('request_s'))} | {fmt(r.get('after_return_s'))} "
            f"| {fmt(r.get('total_s'))} | {fmt(r.get('all_agree_after_return_s'))} "
            f"| {fmt(q.get('seconds'), '.1f')} / {fmt(d.get('seconds'), '.1f')} "
            f"| {fmt(q.get('p50_ms'), '.1f')} / {fmt(d.get('p50_ms'), '.1f')} "
            f"| {fmt(q.get('p99_ms'), '.1f')} / {fmt(d.get('p99_ms'), '.1f')} "
            f"| {q.get('requests', '—')} / {d.get('requests', '—')} | {d.get('errors', '—')} |"
        )
    return "\n".join(rows)


# -- main ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace, res: dict[str, Any], save: Any) -> None:
    project = Path(args.project).resolve()
    data = Path(args.data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    n = parse_size(args.size)
    label = size_label(n)
    shards = prepare_corpus(n, args).resolve()
    index_dir = data / f"incremental-index-{label}"
    upload_dir = data / f"incremental-uploads-{label}"
    shutil.rmtree(upload_dir, ignore_errors=True)  # created by the first upload, as in a fresh deployment
    token = secrets.token_urlsafe(24)
    qa_env = {
        "QA_CORPUS": str(shards),
        "QA_INDEX_DIR": str(index_dir),
        "QA_UPLOAD_DIR": str(upload_dir),
        "QA_ADMIN_TOKEN": token,
    }
    env = child_env(project, qa_env)
    res["setting_names"] = sorted(qa_env)
    if args.index_from:
        res["index"] = linked_index(Path(args.index_from), index_dir)
    else:
        res["index"] = build_index(shards, index_dir, env, project, args.timeout)
    save()
    port = free_port()
    log_file = data / f"incremental-serve-{label}.log"
    log_file.write_bytes(b"")
    server = Server(port, env, project, log_file)
    load = Load(port, args.clients, cmrc_questions(), args.request_timeout)
    try:
        res["ready_s"] = server.start(args.timeout)
        log(f"/healthz answered 200 after {res['ready_s']:.1f} s")
        status, before = ask(port, QUESTION, args.request_timeout)
        res["before_upload"] = {
            "status": status,
            "top_documents": [(p.get("source") or {}).get("document") for p in before.get("passages") or []],
        }
        load.start()
        log(f"{args.clients} background clients started; warm-up {args.warmup:.0f} s")
        time.sleep(args.warmup)
        quiet_from = time.perf_counter()
        quiet_then(args.quiet, "upload")
        filename = f"luoxi-tidal-power-{time.strftime('%Y%m%d-%H%M%S')}.txt"
        res["upload"] = up = upload(port, token, filename, args, load, quiet_from)
        log(f"upload: {json.dumps({k: v for k, v in up.items() if k not in ('response',)}, ensure_ascii=False)}")
        save()
        if "document" in up:
            quiet_from = time.perf_counter()
            # A delete rebuilds as an upload does (or more): room for a quiet window as long as it.
            wait = min(max(args.quiet, 1.5 * (up.get("total_s") or 0.0)), args.max_quiet)
            quiet_then(wait, "delete")
            res["delete"] = de = delete(port, token, up["document"], args, load, quiet_from)
            log(f"delete: {json.dumps({k: v for k, v in de.items() if k not in ('response',)}, ensure_ascii=False)}")
        res["background_total"] = load.window(load.started, time.perf_counter())
    finally:
        load.stop()
        server.stop()
        res["server_log"] = str(log_file)
        problems = server_problems(log_file, 0)
        res["server_problems"] = {"lines": len(problems), "first": problems[:20]}
        if problems:
            log(f"{len(problems)} suspicious server log line(s), e.g.: {problems[0][:300]}")


def main() -> None:
    p = argparse.ArgumentParser(
        prog="benchmarks/incremental.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", default="10k", help="passages in the generated corpus: 10k, 100k, ... (default 10k)")
    p.add_argument("--reuse", action="store_true", help="reuse the corpus already in --data-dir (news-SIZE/)")
    p.add_argument("--data-dir", default=str(HERE / ".data"), help="corpus, index, uploads, log, JSON (git-ignored)")
    p.add_argument("--project", default=str(ROOT), help="checkout of the project to run (cwd of its processes)")
    p.add_argument("--clients", type=int, default=4, help="background client threads asking back to back (4)")
    p.add_argument("--warmup", type=float, default=5, help="seconds of background load before measuring (5)")
    p.add_argument(
        "--quiet", type=float, default=60, help="least seconds of background load only before an update (60)"
    )
    p.add_argument(
        "--max-quiet",
        type=float,
        default=600,
        help="most seconds waited before the delete (1.5x the upload's total, at least --quiet; 600)",
    )
    p.add_argument("--poll", type=float, default=0.05, help="seconds between polls of /api/ask (0.05)")
    p.add_argument("--confirm", type=int, default=20, help="polls in a row that must agree after a change (20)")
    p.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="seconds allowed for each slow step: indexing, start-up, the upload, the delete, each wait (1800)",
    )
    p.add_argument("--request-timeout", type=float, default=120, help="seconds per background /api/ask (120)")
    p.add_argument("--workers", type=int, default=2, help="processes generating the corpus (2)")
    p.add_argument(
        "--index-from",
        help="an index of the same corpus already built by `qa_service index` (hard-linked instead of building)",
    )
    args = p.parse_args()
    if not CMRC.is_file():
        p.error(f"the CMRC2018 trial set is not at {CMRC}")

    # A SIGTERM (or a Ctrl-C) still runs the clean-up: the server's process group is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    label = size_label(parse_size(args.size))
    out = Path(args.data_dir) / f"incremental-{label}.json"
    res: dict[str, Any] = {
        "command": "python benchmarks/incremental.py " + " ".join(sys.argv[1:]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "git": git_rev(Path(args.project)),
        "project": str(Path(args.project).resolve()),
        "size": parse_size(args.size),
        "label": label,
        "clients": args.clients,
        "question": QUESTION,
        "expected_answer": EXPECTED_ANSWER,
        "article_chars": len(ARTICLE),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": os.getloadavg(),
        },
    }

    def save() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=1, ensure_ascii=False), encoding="utf-8")

    t0 = time.time()
    try:
        run(args, res, save)
    except Exception as exc:
        res["error"] = f"{type(exc).__name__}: {exc}"
        log(f"failed: {res['error']}")
        raise
    finally:
        res["minutes"] = (time.time() - t0) / 60
        res["machine"]["load_after"] = os.getloadavg()
        save()
        print(f"\n### Incremental update at {label} passages ({res['git']['commit']}, {res['started']})\n")
        print(table(res))
        print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
