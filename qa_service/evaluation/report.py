"""The human-readable eval report: every mode side by side, McNemar tests against BM25, the weight sweep."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from qa_service.evaluation.modes import Mode
from qa_service.evaluation.seed import CHAT_FORMS, SeedReport

_Table = Callable[[list[tuple[str, list[str]]]], None]


def _fmt_test(t: dict[str, Any]) -> str:
    return f"+{t['gained']} -{t['lost']} p={t['p']:.2g}"


def print_report(out: dict[str, Any], modes: list[Mode], seed: dict[str, SeedReport], seed_path: Path) -> None:
    _print_header(out)
    names = [m.name for m in modes]
    table = partial(_print_table, names, max(14, *(len(n) for n in names)))
    if "seed" in out:
        _print_seed(out, names, seed, seed_path, table)
    if "cmrc2018_trial" in out:
        _print_cmrc(out, names, table)
    if out.get("sweep"):
        print("\nweight sweep (weighted fusion; top-1 hits gained/lost against bm25, exact McNemar p)")
        for w, cells in out["sweep"].items():
            parts = [f"{k} {v['value']:.4f} ({_fmt_test(v)})" for k, v in cells.items()]
            print(f"  w={w:<5} " + "   ".join(parts))


def _print_header(out: dict[str, Any]) -> None:
    print(f"tokenizer: {out['tokenizer']}")
    if out.get("milvus"):
        print(f"milvus: {out['milvus']['uri']}, throw-away collections (dropped after the run)")
    emb = out.get("embedding")
    if emb:
        rates = ", ".join(
            f"{k}: {v['passages']} passages in {v['seconds']}s ({v['passages_per_s']}/s)"
            for k, v in emb.items()
            if isinstance(v, dict)
        )
        print(f"embedding model: {emb['model_id']} ({emb['dim']} dimensions); {rates}")


def _print_table(names: list[str], width: int, rows: list[tuple[str, list[str]]]) -> None:
    print(f"  {'':<31}" + "".join(f"{n:>{width + 2}}" for n in names))
    for label, cells in rows:
        print(f"  {label:<31}" + "".join(f"{c:>{width + 2}}" for c in cells))


def _print_seed(
    out: dict[str, Any], names: list[str], seed: dict[str, SeedReport], seed_path: Path, table: _Table
) -> None:
    figures = out.get("modes")
    print(
        f"\nseed set ({seed_path.name}; {sum(out['seed']['questions'].values())} questions: "
        + ", ".join(f"{v} {k}" for k, v in out["seed"]["questions"].items())
        + ")"
    )
    if figures:
        rows = [(label, [dict(seed[n].rows())[label] for n in names]) for label, _ in seed["bm25"].rows()]
        rows.append(
            ("Hit@1 vs bm25 (McNemar)", ["-", *(_fmt_test(figures[n]["seed Hit@1 vs bm25"]) for n in names[1:])])
        )
        table(rows)
    else:
        for k, v in out["seed"].items():
            if k != "questions":
                print(f"  {k:<31}{v}")
    for n in names[:2]:
        if seed[n].failures:
            print(f"  misses ({n}):")
            for f in seed[n].failures:
                print(f"    - {f}")
    chat = out.get("seed_chat")
    if chat:
        print(
            f"\nseed set asked as chat users type it ({CHAT_FORMS.name}: {chat['forms']} forms, one a question in turn)"
        )
        for k, v in chat.items():
            if k != "forms":
                print(f"  {k:<31}{v}")


def _print_cmrc(out: dict[str, Any], names: list[str], table: _Table) -> None:
    figures = out.get("modes")
    c = out["cmrc2018_trial"]
    print(f"\nCMRC2018 trial ({c['paragraphs']} paragraphs, {c['questions']} questions)")
    keys = ("R@1", "R@5", "MRR@10", "answer-hit@5")
    if figures:
        rows = [(k, [f"{figures[n]['cmrc2018_trial'][k]:.4f}" for n in names]) for k in keys]
        rows.append(("R@1 vs bm25 (McNemar)", ["-", *(_fmt_test(figures[n]["CMRC R@1 vs bm25"]) for n in names[1:])]))
        table(rows)
    else:
        for k in keys:
            print(f"  {k:<31}{c[k]:.4f}")
    lists = out.get("cmrc2018_trial_lists")
    if lists:
        print("  list questions (see evaluation/lists.py and docs/answers.md#lists):")
        for k, v in lists.items():
            print(f"    {k:<42}{v}")
    two = out.get("cmrc2018_trial_two_part")
    if two:
        print(f"  two questions asked as one ({two['joined questions']}; evaluation/slots.py)   in parts  whole")
        for k in two["parts"]:
            print(f"    {k:<42}{two['parts'][k]:<10}{two['whole'][k]}")
