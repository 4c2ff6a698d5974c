"""Render benchmarks/.data/results.json as benchmarks/RESULTS.md (``run.py`` calls this after every stage).

python benchmarks/report.py [results.json] [RESULTS.md]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import updates  # noqa: E402

NAMES = {"ours": "**qa_service BM25**", "rank-bm25": "rank-bm25", "bm25s": "bm25s", "tantivy": "tantivy"}


def f(x: Any, digits: int = 2) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        if x >= 100:
            return f"{x:,.0f}"
        return f"{x:.{digits}f}"
    return str(x)


def mb(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def ratio(ours: float | None, peer: float | None) -> str:
    if not ours or not peer:
        return "—"
    r = ours / peer
    return f"{r:.2f}×" if r >= 0.1 else f"1/{peer / ours:,.0f}"


def ok(flag: bool | None) -> str:
    return "—" if flag is None else ("met" if flag else "**missed**")


def targets(rep: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    by = {s["label"]: s for s in rep["sizes"]}
    for s in rep["sizes"]:
        o, t = s["engines"].get("ours", {}), s["engines"].get("tantivy", {})
        if "p50_ms" in o and "p50_ms" in t:
            r = o["p50_ms"] / t["p50_ms"]
            rows.append(
                (
                    f"retrieval p50 ≤ 1.2× tantivy at {s['label']}",
                    f"{o['p50_ms']:.3f} ms vs {t['p50_ms']:.3f} ms = {r:.2f}×",
                    ok(r <= 1.2),
                )
            )
    s = by.get("100k")
    if s:
        o, rb = s["engines"].get("ours", {}), s["engines"].get("rank-bm25", {})
        if "p50_ms" in o and "p50_ms" in rb:
            r = rb["p50_ms"] / o["p50_ms"]
            rows.append(("≥ 100× faster than rank-bm25 at 100k (p50)", f"{r:,.0f}×", ok(r >= 100)))
        t = s["engines"].get("tantivy", {})
        ft = s.get("ours_from_text", {})
        if "build_s" in t and "build_s" in ft:
            theirs = s["tokenize_s"] + t["build_s"]
            rows.append(
                (
                    "build at 100k (tokenization included) ≤ tantivy's",
                    f"{ft['build_s']:.0f} s vs {s['tokenize_s']:.0f} + {t['build_s']:.0f} = {theirs:.0f} s",
                    ok(ft["build_s"] <= theirs),
                )
            )
    for s in rep["sizes"]:
        cli, t = s.get("ours_cli", {}), s["engines"].get("tantivy", {})
        if "wall_s" in cli and "build_s" in t:
            theirs = s["tokenize_s"] + t["build_s"]
            rows.append(
                (
                    f"`qa_service index` at {s['label']} ≤ tokenization + tantivy (wall)",
                    f"{cli['wall_s']:,.0f} s vs {s['tokenize_s']:,.0f} + {t['build_s']:,.0f} = {theirs:,.0f} s",
                    ok(cli["wall_s"] <= theirs),
                )
            )
        if "peak_pss_mb" in cli and s["label"] == "1m":
            pss = cli["peak_pss_mb"]
            rows.append(("`qa_service index` at 1M: peak PSS ≤ 3 GB", f"{pss:,} MB", ok(pss <= 3072)))
    s = by.get("1m")
    if s and "serve_peak_rss_mb" in s["engines"].get("ours", {}):
        v = s["engines"]["ours"]["serve_peak_rss_mb"]
        rows.append(("serving RSS at 1M ≤ 1 GB", f"{v:,.0f} MB", ok(v <= 1024)))
    h = rep.get("http")
    if h and h.get("label") == "100k":
        ld = h.get("load", {})
        if "load_s" in ld:
            rows.append(
                ("index loads ≤ 2 s at 100k (EmbeddedIndex.load)", f"{ld['load_s']:.2f} s", ok(ld["load_s"] <= 2))
            )
        runs = {r["connections"]: r for r in h.get("runs", [])}
        if 1 in runs:
            rows.append(("/api/ask p50 ≤ 15 ms, 1 client", f"{runs[1]['p50_ms']:.1f} ms", ok(runs[1]["p50_ms"] <= 15)))
        if 8 in runs:
            r8 = runs[8]
            rows.append(
                (
                    "/api/ask ≥ 150 req/s, 8 clients, 0 errors",
                    f"{r8['rps']:.0f} req/s, {r8['errors']} errors",
                    ok(r8["rps"] >= 150 and r8["errors"] == 0),
                )
            )
    st = rep.get("startup")
    if st and "index present" in st:
        v = st["index present"]
        rows.append(("`serve` answers ≤ 3 s after start (seed corpus, index built)", f"{v:.2f} s", ok(v <= 3)))
    return rows + updates.targets(rep)


def cli_builds(rep: dict[str, Any]) -> list[str]:
    """The real CLI's builds beside tokenization + tantivy's build, size by size, from the same run."""
    sizes = [s for s in rep["sizes"] if "wall_s" in s.get("ours_cli", {})]
    if not sizes:
        return []
    out = [
        "## Building through the real CLI, beside tokenization + tantivy",
        "",
        "`python -m qa_service index CORPUS --index-dir DIR --no-progress` (the corpus as JSONL files of 10,000 "
        "passages: reading, cleaning, articles, chunks, the learned dictionary, tokens, the index, its record "
        "tables) against the shared tokenization pass plus tantivy's build from its tokens, both in this run. "
        "Memory is the whole process tree's, sampled every 0.2 s.",
        "",
        "| passages | ours wall (s) | ours CPU (s) | ours peak PSS (MB) | ours peak RSS summed (MB) | index (MB) "
        "| tokenization (s) | tantivy build (s) | tokenization + tantivy (s) | ours ÷ theirs (wall) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in sizes:
        c, t = s["ours_cli"], s["engines"].get("tantivy", {})
        theirs = s["tokenize_s"] + t["build_s"] if "build_s" in t else None
        out.append(
            f"| {s['label']} | {c['wall_s']:,.1f} | {c['cpu_s']:,.1f} | {c['peak_pss_mb']:,} | "
            f"{c['peak_rss_summed_mb']:,} | {c['index_mb']:,} | {s['tokenize_s']:,.1f} | "
            + (f"{t['build_s']:,.1f} | {theirs:,.1f} | {c['wall_s'] / theirs:.2f}× |" if theirs else "— | — | — |")
        )
    return [*out, ""]


def render(rep: dict[str, Any]) -> str:
    m = rep["machine"]
    out = [
        "# Performance benchmarks",
        "",
        "Produced by one command (from the repository root, in the project's venv):",
        "",
        "```",
        rep["command"],
        "```",
        "",
        f"Run {rep['started']}"
        + (f", {rep['minutes']:.0f} min" if "minutes" in rep else " (in progress)")
        + f". Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + f". Load average before: {', '.join(f'{x:.1f}' for x in m['load_before'])}"
        + (f"; after: {', '.join(f'{x:.1f}' for x in m['load_after'])}" if "load_after" in m else "")
        + ". The machine is shared: compare the ratios within one run, not absolute times across runs.",
        "",
        "Corpus: `benchmarks/corpus.py` (sentences of seeds/ and the CMRC2018 trial recombined, nouns and numbers "
        "refilled, 150–400 characters a passage); tokens: `qa_service.core.tokenizer.Tokenizer` "
        f"({rep.get('tokenizer', 'jieba+bigrams')}), "
        f"the same tokens for every engine. Queries: the first {rep.get('queries', '?')} CMRC2018 trial questions, "
        "top 10, timed one by one in process after 20 warm-up queries.",
        "",
    ]
    rows = targets(rep)
    if rows:
        out += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
        out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
        out.append("")
        if any(a.startswith("build at 100k") and c != "met" for a, _, c in rows):
            out += [
                "Build: both sides spend most of the time in the same jieba tokenization on 2 cores. "
                "On top of it, ours from raw text parses the JSONL in the parent process (sharing the 2 cores "
                "with the workers), counts terms in the workers, waits for the last 2,048-passage block (one "
                "worker idle), then merges in one process (term hashing and the scatter of all postings); "
                "tantivy's figure is the shared tokenization pass plus a build from the token file on 2 Rust "
                "threads. See docs/performance.md, Limits.",
                "",
            ]
    out += cli_builds(rep)
    out += updates.render(rep)
    out += ["## In-process retrieval, side by side", ""]
    for s in rep["sizes"]:
        out += [
            f"### {s['label']} passages",
            "",
            f"Tokenization (shared by all engines, 2 processes): {s['tokenize_s']:.1f} s"
            + (" (measured when the tokens were made; reused)" if s.get("tokenize_reused") else "")
            + f"; {s.get('tokens_per_passage', 0):.0f} tokens per passage.",
            "",
            "| engine | build from tokens (s) | p50 (ms) | p95 (ms) | peak RSS building (MB) | "
            "peak RSS serving (MB) | load (s) | index on disk (MB) | ours ÷ peer p50 | ours ÷ peer build |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        ours = s["engines"].get("ours", {})
        for name, r in s["engines"].items():
            if "skipped" in r or "error" in r:
                out.append(f"| {NAMES[name]} | skipped: {r.get('skipped') or r.get('error')} ||||||||| ")
                continue
            out.append(
                "| "
                + " | ".join(
                    [
                        NAMES[name],
                        f(r.get("build_s"), 1),
                        f(r.get("p50_ms"), 3),
                        f(r.get("p95_ms"), 3),
                        mb(r.get("build_peak_rss_mb")),
                        mb(r.get("serve_peak_rss_mb")),
                        f(r.get("load_s"), 2),
                        mb(r.get("index_bytes", 0) / 2**20),
                        "" if name == "ours" else ratio(ours.get("p50_ms"), r.get("p50_ms")),
                        "" if name == "ours" else ratio(ours.get("build_s"), r.get("build_s")),
                    ]
                )
                + " |"
            )
            if r.get("skipped"):
                out[-1] += f" {r['skipped']}"
        ft = s.get("ours_from_text")
        if ft and "build_s" in ft:
            t = s["engines"].get("tantivy", {})
            theirs = s["tokenize_s"] + t["build_s"] if "build_s" in t else None
            out += [
                "",
                f"Build from raw text, tokenization included: qa_service `BM25.build_from_texts` "
                f"({ft['workers']} worker processes tokenize and count, the parent merges) "
                f"**{ft['build_s']:.1f} s** (peak RSS {ft['build_peak_rss_mb']:,.0f} MB parent; "
                f"{ft.get('tree_peak_rss_mb', 0):,.0f} MB parent + workers, sampled)"
                + (
                    f"; tantivy: tokenization {s['tokenize_s']:.1f} s + build {t['build_s']:.1f} s = "
                    f"**{theirs:.1f} s** (ours ÷ tantivy {ft['build_s'] / theirs:.2f}×)."
                    if theirs
                    else "."
                ),
            ]
        out.append("")
    h = rep.get("http")
    if h:
        out += [f"## End to end over HTTP at {h['label']} passages", ""]
        if "error" in h:
            out += [f"Failed: {h['error']}", ""]
        else:
            ld = h.get("load", {})
            mem = h.get("memory", {})
            out += [
                f"`{h['index_cmd']}`: {h['index_s']:.0f} s, peak RSS {h['index_peak_rss_mb']:,.0f} MB "
                "(the process and its workers together, sampled), "
                f"index {h.get('index_bytes', 0) / 2**20:,.0f} MB on disk (BM25 files: {h.get('bm25_files', '?')}). "
                f"`EmbeddedIndex.load` in a fresh process: {f(ld.get('load_s'))} s "
                f"(+ {f(ld.get('tokenizer_ready_s'))} s jieba), RSS {mb(ld.get('rss_mb'))} MB. "
                f"`python -m qa_service serve --workers 2` answered its first question "
                f"{h['first_answer_s']:.1f} s after start. Server memory after the runs "
                f"({mem.get('processes', '?')} processes): RSS {mb(mem.get('rss_mb'))} MB, "
                f"PSS {mb(mem.get('pss_mb'))} MB.",
                "",
                "Load: `benchmarks/run.py`'s client threads on 127.0.0.1, each POSTing /api/ask back to back "
                "(the CMRC questions in turn, a new connection per request), "
                f"{h['runs'][0]['seconds']:.0f} s per level after a 5 s warm-up; the client shares the 2 cores "
                "with the server.",
                "",
                "| clients | requests | req/s | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | errors |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for r in h["runs"]:
                out.append(
                    f"| {r['connections']} | {r['requests']:,} | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
                    f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.0f} | {r['errors']} |"
                )
            out.append("")
    st = rep.get("startup")
    if st:
        out += [
            "## Start-up on the seed corpus",
            "",
            "Seconds from `python -m qa_service serve --workers 2` to its first answered /api/ask:",
            "",
        ]
        out += [f"- {k}: {v:.2f} s" for k, v in st.items()]
        out.append("")
    pr = rep.get("profile")
    if pr and "hot_self_time" in pr:
        out += [
            f"## Where /api/ask spends its time ({h['label'] if h else ''}, pyinstrument)",
            "",
            f"`QAService.ask` in process over {pr['questions']} questions: p50 {pr['ask_p50_ms']:.1f} ms, "
            f"p95 {pr['ask_p95_ms']:.1f} ms; retrieval (tokenize the question + BM25 top 30 + passages) is "
            f"{pr['retrieval_share'] * 100:.0f}% of it. Self time of the hottest functions:",
            "",
            "| share | function |",
            "|---:|---|",
        ]
        out += [f"| {x['share'] * 100:.1f}% | `{x['where']}` |" for x in pr["hot_self_time"][:12]]
        out.append("")
    return "\n".join(out)


# Sections other benchmarks wrote (e.g. tokenizers.py's) start with this line and are kept on re-rendering.
KEPT = "<!-- kept by report.py: from another benchmark's run -->"


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / ".data" / "results.json"
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "RESULTS.md"
    old = dst.read_text("utf-8") if dst.exists() else ""
    kept = old[old.index(KEPT) :] if KEPT in old else ""
    dst.write_text(render(json.loads(src.read_text("utf-8"))) + ("\n" + kept if kept else ""), encoding="utf-8")


if __name__ == "__main__":
    main()
