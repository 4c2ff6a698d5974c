"""The performance benchmarks in one command; writes benchmarks/RESULTS.md.

    python benchmarks/run.py --sizes 10k,100k,1m     # every engine and build (~40 min on 2 cores)
    python benchmarks/run.py --sizes 10k             # quick mode (~3 min)

    # what the ingest issue asks for, in one run (~1 h): engines and CLI builds at 100k and 1M,
    # uploads and deletes on a live server at both, /api/ask beside a checkout of the baseline
    git worktree add ../baseline 398eb9a
    python benchmarks/run.py --sizes 100k,1m --incremental 100k,1m --ask-baseline ../baseline --reuse

For each size: a synthetic corpus (benchmarks/corpus.py), tokenized once with
qa_service's Tokenizer in 2 processes; then, in separate processes on the same
tokens, build and query this project's BM25, rank-bm25, bm25s and tantivy
(benchmarks/engines.py); then this project's own build path from raw text
(tokenizing and counting in worker processes, up to 100k), and the real CLI
(``qa_service index`` of the corpus as JSONL files: wall, CPU and peak PSS of
the process tree) beside tokenization + tantivy's build, measured in the same
run at every size.  Then, at --http-size, the
real server end to end: ``qa_service index`` + ``qa_service serve --workers 2``
on 127.0.0.1 under 1, 8 and 32 concurrent clients; the server's start-up time
on the seed corpus; and a pyinstrument profile of /api/ask's work in process.
With --incremental, benchmarks/incremental.py on the index each CLI build made
(an upload and a delete under background load); with --ask-baseline,
benchmarks/ask_load.py (/api/ask at --http-size, this checkout beside the
baseline's, round after round).

Generated data lives in benchmarks/.data/ (git-ignored; --reuse keeps corpora
and tokens between runs).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import updates  # noqa: E402
from corpus import generate, parse_size, size_label  # noqa: E402

PY = sys.executable
ENGINES = ["ours", "rank-bm25", "bm25s", "tantivy"]
PEERS = ["rank-bm25", "bm25s", "tantivy"]
MAX_QUERY_S = 2.0
BUILD_BUDGET_S = 1200.0  # a peer predicted to take longer to build at a size is skipped there
BUILD_MEMORY_MB = 12_000  # ... or to need more memory than this (half the machine)
FROM_TEXT_MAX = 100_000  # ours from raw text re-tokenizes everything: done up to this size


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- data ------------------------------------------------------------------------


def passage_text(rec: dict[str, Any]) -> str:
    # What the index tokenizes for a passage: title, section (none here), text.
    return f"{rec.get('title') or ''}  {rec['text']}"


_TOK: dict[str, Any] = {}


def _tok_init(tokenizer: Any) -> None:
    _TOK["t"] = tokenizer


def _tok_lines(lines: list[str]) -> str:
    tokens = _TOK["t"].tokens
    return "".join(" ".join(tokens(passage_text(json.loads(line)))) + "\n" for line in lines)


def tokenize_file(jsonl: Path, out: Path, workers: int) -> float:
    """Tokenize every passage of ``jsonl`` into ``out`` (one line of space-separated tokens each)."""
    from qa_service.core.tokenizer import Tokenizer

    tok = Tokenizer()
    t0 = time.perf_counter()
    tok.tokens("预热")  # load jieba once; forked workers inherit it
    tmp = out.with_suffix(".part")
    with open(jsonl, encoding="utf-8") as f, open(tmp, "w", encoding="utf-8") as w:
        blocks = _line_blocks(f, 1000)
        ctx = mp.get_context("fork")
        with ctx.Pool(workers, initializer=_tok_init, initargs=(tok,)) as pool:
            for text in pool.imap(_tok_lines, blocks):
                w.write(text)
    os.replace(tmp, out)
    return time.perf_counter() - t0


def _line_blocks(f: Any, n: int):
    block = []
    for line in f:
        block.append(line)
        if len(block) == n:
            yield block
            block = []
    if block:
        yield block


def questions(n: int) -> list[str]:
    from qa_service.evaluation import DEFAULT_CMRC, cmrc_documents

    _, qs = cmrc_documents(DEFAULT_CMRC)
    return [q for q, _, _ in qs][:n]


# -- processes -------------------------------------------------------------------


def run_json(cmd: list[str], timeout: float) -> dict[str, Any]:
    log("$ " + " ".join(str(c) for c in cmd))
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    sampler = RssSampler(p.pid)
    sampler.start()
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return {"error": f"timed out after {timeout:.0f} s"}
    finally:
        sampler.done.set()
        sampler.join()
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: {stderr.strip()[-500:]}"}
    out = json.loads(stdout.strip().splitlines()[-1])
    out["tree_peak_rss_mb"] = sampler.peak
    return out


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in Path(f"/proc/{p}/task").iterdir():
                todo += [int(x) for x in (t / "children").read_text().split()]
        except OSError:
            continue
    return out


def tree_rss_mb(pid: int) -> float:
    """RSS of a process plus all its descendants (shared pages counted in each)."""
    total = 0.0
    for p in tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
                    break
        except OSError:
            continue
    return total


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(PSS, RSS) of a process tree, in MB."""
    pss = rss = 0.0
    for p in tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1]) / 1024
        except OSError:
            continue
    return pss, rss


class RssSampler(threading.Thread):
    """Peak RSS of a process tree, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.pid))
            self.done.wait(0.1)


def run_timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) of the process and its children together (sampled), exit code."""
    log("$ " + " ".join(str(c) for c in cmd))
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = RssSampler(p.pid)
    sampler.start()
    _, err = p.communicate()
    sampler.done.set()
    sampler.join()
    if p.returncode:
        log(err.decode(errors="replace")[-2000:])
    return time.perf_counter() - t0, sampler.peak, p.returncode


# -- in-process retrieval ----------------------------------------------------------


def bench_size(n: int, args: argparse.Namespace, queries_file: Path, prev: dict[str, Any] | None) -> dict[str, Any]:
    label = size_label(n)
    data = Path(args.data_dir)
    jsonl = data / f"news-{label}.jsonl"
    tokens = data / f"tokens-{label}.txt"
    res: dict[str, Any] = {"size": n, "label": label, "engines": {}}
    if not (args.reuse and jsonl.is_file()):
        generate(n, jsonl, workers=args.workers)
    meta_file = tokens.with_suffix(".json")
    segmenter = _tokenizer_name()
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    # Reused tokens keep the tokenization time measured when they were made, except at sizes
    # where it is compared with this run's builds from raw text: there it is measured again.
    compared = n <= FROM_TEXT_MAX or not args.no_cli_build
    if args.reuse and tokens.is_file() and meta.get("tokenizer") == segmenter and not compared:
        res["tokenize_s"] = meta["tokenize_s"]
        res["tokenize_reused"] = True
    else:
        log(f"tokenizing {label} with {args.workers} processes")
        res["tokenize_s"] = tokenize_file(jsonl, tokens, args.workers)
        meta_file.write_text(json.dumps({"tokenize_s": res["tokenize_s"], "tokenizer": segmenter}))
    with open(tokens, encoding="utf-8") as f:
        n_tok = sum(len(line.split()) for line in f)
    res["tokens_per_passage"] = n_tok / n
    log(f"{label}: tokenized in {res['tokenize_s']:.1f} s")
    for engine in args.engines:
        why = predicted_skip(engine, n, prev)
        if why:
            res["engines"][engine] = {"skipped": why}
            log(f"{engine} at {label}: skipped ({why})")
            continue
        idx = data / f"index-{engine}-{label}"
        shutil.rmtree(idx, ignore_errors=True)
        b = run_json([PY, str(HERE / "engines.py"), "build", engine, str(tokens), str(idx)], args.timeout)
        out = dict(b)
        if "error" not in b:
            s = run_json(
                [PY, str(HERE / "engines.py"), "serve", engine, str(idx), str(queries_file), "--budget", "600"],
                args.timeout,
            )
            out.update(s)
        res["engines"][engine] = out
        log(f"{engine} at {label}: {summ(out)}")
        shutil.rmtree(idx, ignore_errors=True)
    if "ours" in args.engines and n <= FROM_TEXT_MAX:
        idx = data / f"index-ours-texts-{label}"
        shutil.rmtree(idx, ignore_errors=True)
        out = run_json(
            [PY, str(HERE / "engines.py"), "build-texts", str(jsonl), str(idx), "--workers", str(args.workers)],
            args.timeout,
        )
        res["ours_from_text"] = out
        log(f"ours from text at {label}: {out}")
        shutil.rmtree(idx, ignore_errors=True)
    if not args.no_cli_build:
        from ab import build_index  # ab imports this module

        idx = data / f"index-ours-cli-{label}"
        res["ours_cli"] = build_index(ROOT, bench_http_corpus(n, data, args.workers), idx)
        log(f"qa_service index at {label}: {res['ours_cli']}")
        if label in args.incremental:
            res["incremental"] = updates.incremental(label, idx, data, args.timeout)
        shutil.rmtree(idx, ignore_errors=True)
    return res


def _tokenizer_name() -> str:
    from qa_service.core.tokenizer import Tokenizer

    t = Tokenizer()
    return f"{t.segmenter}+bigrams" if t.bigrams else t.segmenter


def predicted_skip(engine: str, n: int, prev: dict[str, Any] | None) -> str | None:
    if not prev or engine not in prev["engines"]:
        return None
    p = prev["engines"][engine]
    ratio = n / prev["size"]
    if "skipped" in p:
        return f"skipped at {prev['label']} already"
    if "p50_ms" in p and p["p50_ms"] / 1000 * ratio > MAX_QUERY_S:
        return (
            f"one query would take > {MAX_QUERY_S:g} s: p50 {p['p50_ms']:.0f} ms at {prev['label']}, "
            f"linear in passages -> ~{p['p50_ms'] * ratio / 1000:.0f} s"
        )
    if p.get("build_peak_rss_mb", 0) * ratio > BUILD_MEMORY_MB:
        return (
            f"build predicted to need ~{p['build_peak_rss_mb'] * ratio / 1024:.0f} GB "
            f"({p['build_peak_rss_mb'] / 1024:.1f} GB at {prev['label']}; it holds every token list in memory)"
        )
    if "build_s" in p and p["build_s"] * ratio > BUILD_BUDGET_S:
        return (
            f"build predicted ~{p['build_s'] * ratio / 60:.0f} min (> {BUILD_BUDGET_S / 60:.0f} min budget; "
            f"{p['build_s']:.0f} s at {prev['label']}) and ~{p.get('build_peak_rss_mb', 0) * ratio / 1024:.0f} GB"
        )
    return None


def summ(r: dict[str, Any]) -> str:
    if "skipped" in r or "error" in r:
        return r.get("skipped") or r["error"]
    return (
        f"build {r.get('build_s', 0):.1f} s, p50 {r.get('p50_ms', float('nan')):.3f} ms, "
        f"p95 {r.get('p95_ms', float('nan')):.3f} ms, serve RSS {r.get('serve_peak_rss_mb', 0):.0f} MB"
    )


# -- HTTP end to end -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, question: str, timeout: float = 5) -> int:
    body = json.dumps({"question": question}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/ask", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        r.read()
        return r.status


def start_server(
    index_dir: Path, port: int, log_file: Path, corpus: str | None = None, cwd: Path = ROOT
) -> tuple[subprocess.Popen, float]:
    """Start ``qa_service serve`` (the code in ``cwd``); seconds until it answered its first /api/ask."""
    env = dict(os.environ)
    cmd = [PY, "-m", "qa_service", "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--index-dir", str(index_dir)]
    if corpus:
        cmd += ["--corpus", corpus]
    log("$ " + " ".join(cmd))
    t0 = time.perf_counter()
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = t0 + 600
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log_file}")
        try:
            if post(port, "上街区召开了什么会议？") == 200:
                return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.02)
    stop_server(proc)
    raise RuntimeError("server did not answer within 600 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_memory_mb(pid: int) -> dict[str, float]:
    """RSS and PSS (shared pages split between processes) of the server and its workers."""
    pss, rss = tree_memory_mb(pid)
    return {"processes": len(tree_pids(pid)), "rss_mb": rss, "pss_mb": pss}


def load_run(port: int, clients: int, seconds: float, qs: list[str], max_requests: int = 20_000) -> dict[str, Any]:
    """``clients`` threads POSTing /api/ask back to back (CMRC questions in turn) for ``seconds``.

    Bounded in time and count; loopback only.  Each request opens its own
    connection, as gunicorn's sync workers close it after every response.
    """
    import http.client

    import numpy as np

    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    counter = iter(range(max_requests))
    bodies = [json.dumps({"question": q}).encode() for q in qs]

    def client(i: int) -> None:
        while time.perf_counter() < stop:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            body = bodies[(n * 7 + i) % len(bodies)]
            t = time.perf_counter()
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                c.request("POST", "/api/ask", body=body, headers={"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                c.close()
                ok = r.status == 200
                err = None if ok else f"HTTP {r.status}"
            except OSError as exc:
                ok, err = False, type(exc).__name__
            dt = time.perf_counter() - t
            with lock:
                lat.append(dt)
                if not ok:
                    errors.append(err or "?")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.perf_counter() - t0
    ms = np.array(lat) * 1000
    return {
        "connections": clients,
        "seconds": secs,
        "requests": len(lat),
        "rps": len(lat) / secs,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
    }


def bench_http_corpus(n: int, data: Path, workers: int = 2) -> Path:
    """The folder of JSONL files of the generated corpus of ``n`` passages (made if missing)."""
    label = size_label(n)
    jsonl = data / f"news-{label}.jsonl"
    if not jsonl.is_file():
        generate(n, jsonl, workers=workers)
    # qa_service's loader reads files of up to 64 MB: years of bulletins come as many files anyway.
    shards = data / f"news-{label}"
    if not shards.is_dir():
        tmp = data / f".news-{label}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        with open(jsonl, encoding="utf-8") as f:
            for i, block in enumerate(_line_blocks(f, 10_000)):
                (tmp / f"part-{i:03d}.jsonl").write_text("".join(block), encoding="utf-8")
        os.replace(tmp, shards)
    return shards


def bench_http(n: int, args: argparse.Namespace, qs: list[str]) -> dict[str, Any]:
    label = size_label(n)
    data = Path(args.data_dir)
    shards = bench_http_corpus(n, data, args.workers)
    index_dir = data / f"qa-index-{label}"
    shutil.rmtree(index_dir, ignore_errors=True)
    out: dict[str, Any] = {"size": n, "label": label}
    cmd = [PY, "-m", "qa_service", "index", str(shards), "--index-dir", str(index_dir), "--no-progress"]
    secs, rss, code = run_timed(cmd)
    out["index_cmd"] = " ".join(["python", *cmd[1:]]).replace(str(ROOT) + "/", "")
    out["index_s"], out["index_peak_rss_mb"] = secs, rss
    if code:
        out["error"] = f"index exited {code}"
        return out
    out["index_bytes"] = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
    out["bm25_files"] = "BM25.save" if any(index_dir.glob("v-*/bm25.json")) else "vocab.json (index.py not wired)"
    # Loading the index in a fresh process, as a server worker does.
    load = run_json([PY, str(HERE / "engines.py"), "load-index", str(index_dir)], 600)
    out["load"] = load
    port = free_port()
    log_file = data / f"serve-{label}.log"
    proc, startup = start_server(index_dir, port, log_file)
    out["first_answer_s"] = startup
    try:
        load_run(port, 2, 5, qs)  # warm up both workers
        out["runs"] = []
        for conns in (1, 8, 32):
            r = load_run(port, conns, args.http_seconds, qs)
            log(f"http {label} c={conns}: {r}")
            out["runs"].append(r)
        out["memory"] = server_memory_mb(proc.pid)
    finally:
        stop_server(proc)
    return out


def bench_startup(args: argparse.Namespace) -> dict[str, Any]:
    """Seconds from `serve` to its first answer on the seed corpus: no index yet, then with one."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp) / "index"
        for case in ("no index (builds it)", "index present"):
            port = free_port()
            proc, secs = start_server(index_dir, port, Path(tmp) / "serve.log", corpus=str(ROOT / "seeds"))
            stop_server(proc)
            out[case] = secs
            log(f"startup, {case}: {secs:.2f} s")
    return out


def profile_ask(n: int, args: argparse.Namespace, qs: list[str]) -> dict[str, Any]:
    out = run_json([PY, str(HERE / "profile_ask.py"), str(Path(args.data_dir) / f"qa-index-{size_label(n)}")], 1200)
    return out


# -- report -----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    vers = {}
    for pkg in ("numpy", "jieba", "rjieba", "rank-bm25", "bm25s", "tantivy", "gunicorn"):
        try:
            vers[pkg] = version(pkg)
        except Exception:
            vers[pkg] = "-"
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": vers,
        "load_before": os.getloadavg(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10k,100k,1m", help="passages per corpus, comma-separated (10k, 100k, 1m)")
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--queries", type=int, default=300, help="CMRC2018 questions timed per engine (>= 200)")
    p.add_argument("--http-size", help="corpus size for the HTTP run (default 100k if in --sizes, else the largest)")
    p.add_argument("--http-seconds", type=int, default=20, help="seconds per load level")
    p.add_argument("--no-http", action="store_true", help="skip the HTTP, start-up and profile runs")
    p.add_argument("--no-cli-build", action="store_true", help="skip `qa_service index` of each corpus")
    p.add_argument("--workers", type=int, default=2, help="processes for generating and tokenizing")
    p.add_argument("--timeout", type=float, default=2400, help="seconds allowed per engine process")
    p.add_argument("--reuse", action="store_true", help="reuse corpora and tokens in --data-dir")
    p.add_argument("--data-dir", default=str(HERE / ".data"))
    p.add_argument("--out", default=str(HERE / "RESULTS.md"))
    p.add_argument(
        "--incremental",
        default="",
        help="sizes (of --sizes) at which to time an upload and a delete on a live server (incremental.py) "
        "on the index the CLI just built, e.g. 100k,1m",
    )
    p.add_argument(
        "--ask-baseline",
        help="a checkout of the baseline commit (e.g. a git worktree): /api/ask beside it (ask_load.py) at the "
        "HTTP size",
    )
    p.add_argument("--ask-rounds", type=int, default=2, help="rounds of ask_load.py (each side loaded in turn)")
    args = p.parse_args()
    args.engines = [e for e in args.engines.split(",") if e]
    args.incremental = {size_label(parse_size(x)) for x in args.incremental.split(",") if x}
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    started = time.time()
    report: dict[str, Any] = {
        "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "tokenizer": _tokenizer_name(),
        "sizes": [],
    }
    qs = questions(args.queries)
    from qa_service.core.tokenizer import Tokenizer

    tok = Tokenizer()
    queries_file = Path(args.data_dir) / "queries.json"
    queries_file.write_text(json.dumps([tok.tokens(q) for q in qs], ensure_ascii=False), encoding="utf-8")
    report["queries"] = len(qs)
    prev = None
    for n in sizes:
        r = bench_size(n, args, queries_file, prev)
        report["sizes"].append(r)
        prev = r
        save(report, args)
    if not args.no_http:
        hs = parse_size(args.http_size) if args.http_size else (100_000 if 100_000 in sizes else max(sizes))
        report["http"] = bench_http(hs, args, qs)
        save(report, args)
        report["startup"] = bench_startup(args)
        save(report, args)
        report["profile"] = profile_ask(hs, args, qs)
        save(report, args)
    if args.ask_baseline:
        hs = parse_size(args.http_size) if args.http_size else (100_000 if 100_000 in sizes else max(sizes))
        report["ask_ab"] = updates.ask_against(Path(args.ask_baseline), size_label(hs), Path(args.data_dir),
                                               args.ask_rounds, args.timeout)  # fmt: skip
    report["minutes"] = (time.time() - started) / 60
    report["machine"]["load_after"] = os.getloadavg()
    save(report, args)
    log(f"done in {report['minutes']:.1f} min: {args.out}")


def save(report: dict[str, Any], args: argparse.Namespace) -> None:
    from report import KEPT, render

    Path(args.data_dir, "results.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    out = Path(args.out)
    old = out.read_text("utf-8") if out.exists() else ""
    kept = old[old.index(KEPT) :] if KEPT in old else ""  # sections other benchmarks' runs wrote
    out.write_text(render(report) + ("\n" + kept if kept else ""), encoding="utf-8")


if __name__ == "__main__":
    main()
