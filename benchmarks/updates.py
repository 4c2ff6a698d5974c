"""The parts of the one-command benchmark (run.py) that run other benchmark scripts: incremental
updates on a live server (incremental.py) on the index ``qa_service index`` just built, and /api/ask
throughput beside a baseline checkout (ask_load.py).  Each runs as its own process, as it does on
its own; its JSON becomes part of run.py's report, and report.py renders it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PY = sys.executable


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def incremental(label: str, index_dir: Path, data_dir: Path, timeout: float) -> dict[str, Any]:
    """incremental.py at ``label`` on ``index_dir`` (a build of that corpus): an upload and a delete
    on a live server under background load; its JSON (the error if it failed)."""
    cmd = [PY, str(HERE / "incremental.py"), "--size", label, "--reuse", "--data-dir", str(data_dir),
           "--index-from", str(index_dir)]  # fmt: skip
    _log("$ " + " ".join(cmd))
    out = data_dir / f"incremental-{label}.json"
    out.unlink(missing_ok=True)
    try:
        p = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    res = json.loads(out.read_text("utf-8")) if out.is_file() else {}
    if p.returncode != 0:
        res["error"] = res.get("error") or f"exit {p.returncode}: {p.stderr.strip()[-500:]}"
    return res


def ask_against(baseline: Path, label: str, data_dir: Path, rounds: int, timeout: float) -> dict[str, Any]:
    """ask_load.py: /api/ask with 1, 8 and 32 clients, this checkout beside ``baseline``."""
    cmd = [PY, str(HERE / "ask_load.py"), "--baseline", str(baseline), "--size", label, "--rounds", str(rounds),
           "--data-dir", str(data_dir)]  # fmt: skip
    _log("$ " + " ".join(cmd))
    try:
        p = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: {p.stderr.strip()[-500:]}"}
    return json.loads(p.stdout[p.stdout.index("{") :])


# -- report (report.py renders these beside its own) -----------------------------------------------


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f} s"


def targets(rep: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Target rows: an upload or a delete returns ≤ 2 s and is searchable ≤ 2 s after; /api/ask ≥ 2×
    the baseline's requests/s with 8 clients."""
    rows = []
    for s in rep["sizes"]:
        inc = s.get("incremental") or {}
        for name in ("upload", "delete"):
            r = inc.get(name)
            if not r:
                continue
            call, after = r.get("request_s"), r.get("after_return_s")
            met = call is not None and after is not None and call <= 2 and after <= 2 and not r.get("error")
            rows.append(
                (
                    f"{name} at {s['label']}: returns ≤ 2 s, searchable ≤ 2 s after",
                    f"{_s(call)} + {_s(after)}" + (f" ({r['error']})" if r.get("error") else ""),
                    "met" if met else "**missed**",
                )
            )
    ab = rep.get("ask_ab") or {}
    c8 = ab.get("clients_8")
    if c8:
        rows.append(
            (
                f"/api/ask at {ab['size']}, 8 clients: ≥ 2× the baseline ({ab['commits']['baseline']})",
                f"{c8['this']['rps']:.1f} vs {c8['baseline']['rps']:.1f} req/s = {c8['rps_ratio']:.2f}×",
                "met" if c8["rps_ratio"] >= 2 else "**missed**",
            )
        )
    return rows


def render(rep: dict[str, Any]) -> list[str]:
    """The sections of incremental.py's and ask_load.py's runs."""
    out: list[str] = []
    runs = [s for s in rep["sizes"] if s.get("incremental")]
    if runs:
        out += [
            "## Uploads and deletions on a live server",
            "",
            "`benchmarks/incremental.py` on the index `qa_service index` built above: `serve --workers 2`, 4 client "
            "threads asking back to back, then `POST /api/documents` (one ~2,000-character article), polling "
            "`/api/ask` with a question only it answers until a passage cites it; then `DELETE`, polling until "
            "none does. p50/p99: the other clients' requests during the change beside a quiet window as long.",
            "",
            "| size | update | HTTP call | searchable after return | total | p50 quiet / during (ms) "
            "| p99 quiet / during (ms) | errors |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for s in runs:
            inc = s["incremental"]
            if "error" in inc and not inc.get("upload"):
                out.append(f"| {s['label']} | failed: {inc['error']} |||||||")
                continue
            for name in ("upload", "delete"):
                r = inc.get(name) or {}
                q, d = r.get("quiet", {}), r.get("during", {})
                out.append(
                    f"| {s['label']} | {name} (HTTP {r.get('status')}) | {_s(r.get('request_s'))} "
                    f"| {_s(r.get('after_return_s'))} | {_s(r.get('total_s'))} "
                    f"| {q.get('p50_ms', 0):.0f} / {d.get('p50_ms', 0):.0f} "
                    f"| {q.get('p99_ms', 0):.0f} / {d.get('p99_ms', 0):.0f} | {d.get('errors', '—')} |"
                )
        out.append("")
    ab = rep.get("ask_ab")
    if ab:
        out += _ask_ab(ab)
    return out


def _ask_ab(ab: dict[str, Any]) -> list[str]:
    if "error" in ab:
        return ["## /api/ask beside the baseline", "", f"failed: {ab['error']}", ""]
    commits = ab["commits"]
    out = [
        f"## /api/ask at {ab['size']} beside the baseline ({commits['baseline']})",
        "",
        f"`benchmarks/ask_load.py`: each side builds its own index of the same corpus with its own code, then, "
        f"round after round, serves it (`serve --workers 2`) under 1, 8 and 32 clients; medians over rounds. "
        f"This checkout: {commits['this']}.",
        "",
        "| `qa_service index` | wall (s) | CPU (s) | peak PSS (MB) |",
        "|---|---:|---:|---:|",
    ]
    for side in ("baseline", "this"):
        b = ab.get(f"{side}_build")
        if b:
            out.append(f"| {side} | {b['wall_s']:.1f} | {b['cpu_s']:.1f} | {b['peak_pss_mb']:,} |")
    out += [
        "",
        "| clients | baseline req/s | this req/s | this ÷ baseline | p50 / p99 ms, baseline | p50 / p99 ms, this |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for c in (1, 8, 32):
        r = ab.get(f"clients_{c}")
        if r:
            base, this = r["baseline"], r["this"]
            latency = f"{base['p50_ms']:.0f} / {base['p99_ms']:.0f} | {this['p50_ms']:.0f} / {this['p99_ms']:.0f}"
            out.append(f"| {c} | {base['rps']:.1f} | {this['rps']:.1f} | {r['rps_ratio']:.2f}× | {latency} |")
    return [*out, ""]
