"""`/api/ask` latency on loopback with gunicorn's stock gthread worker and with the worker
`qa-service serve` runs (qa_service/web/server.py), alone, under 8 concurrent clients, and beside
8 and 200 slow clients (one header line every 3 s, never the end of the headers).

    .venv/bin/python benchmarks/slow_clients.py            # ~4 minutes on 2 cores
    .venv/bin/python benchmarks/slow_clients.py --quick    # fewer requests, shorter phases

Both servers are started exactly as `qa-service serve` starts gunicorn (2 workers x 4 threads,
--preload), over an index of the seed corpus; only the worker class differs.  Loopback only, every
phase bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa_service.core.settings import Settings, worker_environment  # noqa: E402
from qa_service.index import ServePlan  # noqa: E402
from qa_service.web.server import gunicorn_command  # noqa: E402

QUESTIONS = [
    "谁陪同宋洁督导爱国卫生工作？",
    "哪些街道开展了爱国卫生或创卫工作？",
    "上街区一季度一般公共预算收入是多少？",
    "肥城市什么时候召开了政法队伍教育整顿动员部署会议？",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(port: int, question: str, timeout: float = 5.0) -> float | None:
    body = json.dumps({"question": question}, ensure_ascii=False).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/ask", data=body, headers={"Content-Type": "application/json"}
    )
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
    except OSError:
        return None
    return time.perf_counter() - t0


def summary(lat: list[float | None], seconds: float) -> dict:
    ok = sorted(x for x in lat if x is not None)
    p = (lambda q: round(ok[min(len(ok) - 1, int(len(ok) * q))] * 1000, 1)) if ok else (lambda q: None)
    return {
        "answered": len(ok),
        "failed": len(lat) - len(ok),
        "p50_ms": p(0.5),
        "p95_ms": p(0.95),
        "req_s": round(len(ok) / seconds, 1),
    }


def sequential(port: int, n: int) -> dict:
    t0 = time.perf_counter()
    lat = [ask(port, QUESTIONS[i % len(QUESTIONS)]) for i in range(n)]
    return summary(lat, time.perf_counter() - t0)


def concurrent(port: int, clients: int, seconds: float) -> dict:
    lat: list[float | None] = []
    end = time.monotonic() + seconds

    def client(i: int) -> None:
        while time.monotonic() < end:
            lat.append(ask(port, QUESTIONS[i % len(QUESTIONS)]))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    return summary(lat, seconds)


def beside_slow_clients(port: int, n_slow: int, seconds: float) -> dict:
    socks = []
    for _ in range(n_slow):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        socks.append(s)
    stop = threading.Event()

    def dribble() -> None:
        while not stop.wait(3.0):
            for i, s in enumerate(socks):
                try:
                    s.send(b"X-Dribble: 1\r\n")
                except OSError:  # closed by the server (header timeout): open another
                    s.close()
                    socks[i] = socket.create_connection(("127.0.0.1", port), timeout=5)
                    socks[i].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    socks[i].setblocking(False)

    t = threading.Thread(target=dribble)
    t.start()
    time.sleep(1.0)
    lat: list[float | None] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        lat.append(ask(port, QUESTIONS[len(lat) % len(QUESTIONS)]))
        time.sleep(0.05)
    stop.set()
    t.join(10)
    for s in socks:
        s.close()
    return summary(lat, seconds)


def serve(worker: str, index_dir: Path, port: int) -> subprocess.Popen:
    s = Settings(index_dir=str(index_dir), corpus=[str(ROOT / "seeds")], port=port, log_level="WARNING")
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    cmd = gunicorn_command(gunicorn, s, ServePlan(preload=True, workers=2))
    if worker == "gthread":
        i = cmd.index("--worker-class")
        cmd[i + 1] = "gthread"
    proc = subprocess.Popen(cmd, env=worker_environment(s, {}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{worker}: the server did not start")


def merge(parts: list[dict]) -> dict:
    """Rounds of one phase added up (counts and rates); latencies as the median of the rounds'."""

    def med(key: str) -> float | None:
        values = sorted(p[key] for p in parts if p[key] is not None)
        return values[len(values) // 2] if values else None

    return {
        "answered": sum(p["answered"] for p in parts),
        "failed": sum(p["failed"] for p in parts),
        "p50_ms": med("p50_ms"),
        "p95_ms": med("p95_ms"),
        "req_s": round(sum(p["req_s"] for p in parts) / len(parts), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    # Both servers run side by side and take each phase in turn, round after round, so a machine
    # shared with other work slows both alike.
    rounds, n, secs = (1, 100, 5.0) if args.quick else (3, 200, 8.0)
    phases = {
        "1 client": lambda port: sequential(port, n),
        "8 clients": lambda port: concurrent(port, 8, secs),
        "1 client beside 8 slow": lambda port: beside_slow_clients(port, 8, secs),
        "1 client beside 200 slow": lambda port: beside_slow_clients(port, 200, secs),
    }
    tmp = Path(tempfile.mkdtemp(prefix="qa-slow-bench-"))
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        index_dir = tmp / "index"
        cmd = [sys.executable, "-m", "qa_service", "index", str(ROOT / "seeds"), "--index-dir", str(index_dir)]
        subprocess.run([*cmd, "--no-progress"], check=True, cwd=ROOT, capture_output=True)
        for worker in ("gthread", "buffered"):
            port = free_port()
            servers[worker] = (serve(worker, index_dir, port), port)
        results: dict[tuple[str, str], list[dict]] = {}
        for name, run in phases.items():
            for _ in range(rounds):
                for worker, (_, port) in servers.items():
                    results.setdefault((worker, name), []).append(run(port))
                    print(worker, name, results[(worker, name)][-1], flush=True)
        print("\n| worker | load | answered | failed (5 s timeout) | p50 ms | p95 ms | req/s |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for worker in servers:
            for name in phases:
                r = merge(results[(worker, name)])
                cells = (r["answered"], r["failed"], r["p50_ms"], r["p95_ms"], r["req_s"])
                print(f"| {worker} | {name} | " + " | ".join("—" if c is None else str(c) for c in cells) + " |")
        flag = " --quick" if args.quick else ""
        command = f"`.venv/bin/python benchmarks/slow_clients.py{flag}`"
        print(f"\n{os.cpu_count()} cores, {rounds} round(s) per phase; {command}")
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
