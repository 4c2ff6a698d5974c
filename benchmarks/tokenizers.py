"""Segmenters side by side (QA_TOKENIZER): jieba (the baseline), jieba_fast, rjieba (the default).

    python benchmarks/tokenizers.py [--passages N] [--news ../shared/eval/news_dev/corpus.jsonl.gz]
                                    [--cmrc ../shared/eval/cmrc2018_trial.json] [--seed-set eval/seed_questions.jsonl]

One process, one segmenter at a time, each with the user dictionary learned from the corpus (as the
index builds them).  For each segmenter it prints:

- speed: the news_dev passages (every chunk, title + text, as the index tokenizes them), cut after a
  warm-up; CPU seconds (``time.process_time``) and passages per CPU second of the cut alone and of
  ``Tokenizer.tokens`` (the cut plus the same stopword/bigram pass for every segmenter, its word
  cache emptied first), and the set-up (dictionary load + user words) on its own;
- agreement with jieba: the share of passages cut exactly as jieba cuts them, and the share of
  jieba's words whose span (start, end) the segmenter also cuts;
- retrieval and answers: CMRC2018 trial R@1/R@5 (every paragraph a document, as ``qa-service eval``)
  and the seed set's Hit@1/Hit@5 and short-answer accuracy over seeds/ (``QAService.ask``; the
  answer model was fitted on jieba's segmentation), with exact McNemar tests of R@1 and Hit@1
  against jieba, and the CPU seconds of the seed set's questions (answer composition included).
  The answer model is read once, so every segmenter answers with the same one.

A segmenter whose package is missing is reported as such (jieba_fast: ``pip install 'qa-service[fast]'``).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

SEGMENTERS = ("jieba", "jieba_fast", "rjieba")  # jieba first: the baseline the others are compared with
DEFAULT_NEWS = HERE.parent.parent / "shared" / "eval" / "news_dev" / "corpus.jsonl.gz"


def _cpu(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def _spans(words: list[str]) -> set[tuple[int, int]]:
    out, pos = set(), 0
    for w in words:
        out.add((pos, pos + len(w)))
        pos += len(w)
    return out


def _agreement(base: list[list[str]], other: list[list[str]]) -> tuple[float, float]:
    """Share of passages cut identically; share of the baseline's words (by span) the other also cuts."""
    same = sum(a == b for a, b in zip(base, other, strict=True))
    agree = total = 0
    for a, b in zip(base, other, strict=True):
        sa = _spans(a)
        agree += len(sa & _spans(b)) if "".join(a) == "".join(b) else 0
        total += len(sa)
    return same / max(1, len(base)), agree / max(1, total)


def _passages(path: Path, limit: int) -> tuple[list[str], list[str]]:
    """The news_dev passages as the index tokenizes them, and the user words learned from them."""
    from qa_service.ingest.loaders import parse_jsonl
    from qa_service.ingest.pipeline import corpus_from_documents

    with gzip.open(path, "rt", encoding="utf-8") as f:
        docs = list(parse_jsonl(f.read(), str(path).removesuffix(".gz")))
    corpus = corpus_from_documents(docs, workers=1)
    texts = [f"{c.title} {c.section or ''} {c.text}" for c in corpus.chunks]
    return (texts[:limit] if limit else texts), corpus.user_words


def speed(name: str, texts: list[str], user_words: list[str], base: list[list[str]] | None) -> dict[str, Any]:
    from qa_service.core import tokenizer

    tokenizer._TERMS.clear()  # each segmenter starts cold, as a fresh build worker does
    tokenizer._PIECES.clear()
    tok = tokenizer.Tokenizer(user_words, segmenter=name)
    _, setup = _cpu(lambda: tok.cut("预热"))
    for t in texts[:50]:  # warm-up
        tok.cut(t)
    cuts, cut_s = _cpu(lambda: [tok.cut(t) for t in texts])
    _, post_s = _cpu(lambda: [tok._tokens(c) for c in cuts])
    row: dict[str, Any] = {"setup_s": setup, "cut_s": cut_s, "tokens_s": cut_s + post_s, "cuts": cuts}
    row["identical"], row["words_agree"] = _agreement(base, cuts) if base is not None else (1.0, 1.0)
    return row


def quality(name: str, cmrc: tuple[Any, list], seed: tuple[Any, list, dict], model: Any) -> dict[str, Any]:
    from qa_service.evaluation.cmrc import retrieve_cmrc
    from qa_service.evaluation.seed import evaluate_seed_set
    from qa_service.index.embedded.store import EmbeddedIndex, IndexSettings
    from qa_service.qa.service import QAService

    settings = IndexSettings(segmenter=name)
    corpus, qs = cmrc
    res = retrieve_cmrc(QAService(EmbeddedIndex.build(corpus, settings), model=model), qs)
    seed_corpus, questions, originals = seed
    svc = QAService(EmbeddedIndex.build(seed_corpus, settings), model=model)
    svc.ask(questions[0]["question"])  # warm-up: jieba.posseg's model, loaded on first use
    rep, seed_s = _cpu(lambda: evaluate_seed_set(svc, questions, originals))
    return {"cmrc": res, "seed": rep, "seed_s": seed_s}


def _load_sets(a: argparse.Namespace) -> tuple[tuple[Any, list], tuple[Any, list, dict]]:
    from qa_service.core.settings import Settings
    from qa_service.evaluation.cmrc import cmrc_documents
    from qa_service.evaluation.seed import load_questions
    from qa_service.ingest.pipeline import build_corpus, corpus_from_documents

    docs, qs = cmrc_documents(a.cmrc)
    seed_corpus = build_corpus(Settings().corpus, workers=1)
    originals = {d.id: d.text for d in seed_corpus.documents}
    return (corpus_from_documents(docs, workers=1), qs), (seed_corpus, load_questions(a.seed_set), originals)


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = [f"Python {platform.python_version()}"]
    for pkg in ("jieba", "jieba_fast", "rjieba"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg} (not installed)")
    return ", ".join(out)


def _report(rows: dict[str, dict[str, Any]], n: int) -> None:
    from qa_service.evaluation.cmrc import mcnemar

    base = rows["jieba"]
    print(f"\nSpeed and agreement ({n:,} news_dev passages; CPU seconds, one process)\n")
    print(
        "| segmenter | cut CPU s | passages / CPU s | speed-up (cut) | tokens() CPU s | speed-up (tokens) | set-up s "
        "| passages identical to jieba | jieba's words also cut |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        if "missing" in r:
            print(f"| {name} | {r['missing']} |" + " |" * 7)
            continue
        print(
            f"| {name} | {r['cut_s']:.1f} | {n / r['cut_s']:,.0f} | {base['cut_s'] / r['cut_s']:.1f}× "
            f"| {r['tokens_s']:.1f} | {base['tokens_s'] / r['tokens_s']:.1f}× | {r['setup_s']:.2f} "
            f"| {r['identical']:.2%} | {r['words_agree']:.3%} |"
        )
    print("\nRetrieval and answers (McNemar: questions gained/lost against jieba, exact two-sided p)\n")
    print(
        "| segmenter | CMRC R@1 | CMRC R@5 | R@1 vs jieba | seed Hit@1 | seed Hit@5 | Hit@1 vs jieba "
        "| seed short answer contains gold | seed questions CPU s |"
    )
    print("|---|---:|---:|---|---:|---:|---|---:|---:|")
    for name, r in rows.items():
        if "missing" in r:
            continue
        m, rep = r["cmrc"].metrics(), r["seed"]
        vs, hs = mcnemar(base["cmrc"].top1, r["cmrc"].top1), mcnemar(base["seed"].top1, rep.top1)
        print(
            f"| {name} | {m['R@1']:.4f} | {m['R@5']:.4f} | {vs['gained']}/{vs['lost']}, p={vs['p']:.2f} "
            f"| {rep.hit1:.3f} | {rep.hit5:.3f} | {hs['gained']}/{hs['lost']}, p={hs['p']:.2f} "
            f"| {rep.answer_accuracy:.3f} | {r['seed_s']:.1f} |"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--passages", type=int, default=0, help="first N news_dev passages (default: all)")
    p.add_argument("--news", type=Path, default=DEFAULT_NEWS)
    p.add_argument("--cmrc", type=Path, default=HERE.parent.parent / "shared" / "eval" / "cmrc2018_trial.json")
    p.add_argument("--seed-set", type=Path, default=HERE.parent / "eval" / "seed_questions.jsonl")
    a = p.parse_args()
    from qa_service.core.errors import ConfigError

    t0, started = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load0 = os.getloadavg()
    texts, user_words = _passages(a.news, a.passages)
    cmrc, seed = _load_sets(a)
    from qa_service.qa.reader import MODEL_FILE, load_model

    model = load_model()  # read once: every segmenter answers with the same fitted model
    print(f"answer model: {MODEL_FILE.name}, {hashlib.sha256(MODEL_FILE.read_bytes()).hexdigest()[:12]}")
    print(
        f"news_dev: {len(texts):,} passages, {len(user_words):,} learned user words; CMRC2018 trial: "
        f"{len(cmrc[1])} questions over {len(cmrc[0].chunks):,} passages; seed set: {len(seed[1])} questions"
    )
    rows: dict[str, dict[str, Any]] = {}
    base: list[list[str]] | None = None
    for name in SEGMENTERS:
        try:
            row = speed(name, texts, user_words, base)
        except ConfigError as exc:
            rows[name] = {"missing": str(exc)}
            continue
        base = row.pop("cuts") if name == "jieba" else base
        row.pop("cuts", None)
        rows[name] = {**row, **quality(name, cmrc, seed, model)}
        print(f"{name}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(
        f"\nRun {started}, {time.perf_counter() - t0:.0f} s wall, one process. {_versions()}. "
        f"Load average before: {', '.join(f'{x:.1f}' for x in load0)}; "
        f"after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}."
    )
    _report(rows, len(texts))


if __name__ == "__main__":
    main()
