"""Command line: ``qa-service index | serve | ask | eval``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import time
import warnings
from typing import Any

from qa_service import __version__
from qa_service.core.errors import ConfigError, QAError
from qa_service.core.logging_setup import setup_logging
from qa_service.core.settings import BACKENDS, Settings, from_env, worker_environment

log = logging.getLogger("qa_service.cli")

EPILOG = textwrap.dedent(
    """\
    examples:
      qa-service index                      # index the default corpus (seeds/) into index/
      qa-service index ~/news --index-dir /srv/qa-index
      qa-service index --backend milvus     # load the corpus into Milvus (QA_MILVUS_URI, QA_MILVUS_COLLECTION)
      qa-service serve --port 8000          # JSON API + chat page on http://127.0.0.1:8000/
      qa-service ask "宋洁是哪天实地督导上街区爱国卫生工作的？"
      qa-service ask "哪些街道开展了爱国卫生或创卫工作？" --json
      qa-service eval                       # retrieval and answer figures on the eval sets
      qa-service eval --backend milvus      # the same figures through Milvus, beside the embedded index

    Every flag has an environment variable (QA_INDEX_DIR, QA_CORPUS, QA_HOST, QA_PORT,
    QA_WORKERS, QA_LOG_LEVEL, QA_BACKEND, QA_MILVUS_URI, ...): see qa_service/core/settings.py or the README.
    """
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qa-service",
        description="Chinese question answering over news articles, with exact citations.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"qa-service {__version__}")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (env QA_LOG_LEVEL; default INFO)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _index_parser(sub)
    _serve_parser(sub)
    _ask_parser(sub)
    _eval_parser(sub)
    _fit_parser(sub)
    return p


def _index_dir_arg(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--index-dir", help="index folder (env QA_INDEX_DIR; default ./index)")


def _embedding_model_arg(sp: argparse.ArgumentParser, help: str) -> None:
    sp.add_argument("--embedding-model", metavar="NAME_OR_PATH", help=help)


def _index_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "index",
        help="build the index from files or folders",
        description="Read .txt/.md/.html/.jsonl files (UTF-8 or GB18030), clean them, split them into "
        "articles and passages, and write a new index. The previous index stays live until the new one "
        "is complete.",
    )
    sp.add_argument("paths", nargs="*", help="files or folders to index (env QA_CORPUS; default seeds/)")
    _index_dir_arg(sp)
    sp.add_argument("--progress", action=argparse.BooleanOptionalAction, help="progress bars (default: on a terminal)")
    _embedding_model_arg(
        sp,
        "sentence-transformers model for hybrid retrieval (env QA_EMBEDDING_MODEL; '' for none): passages "
        "are embedded too, reusing the previous index's vectors of unchanged passages",
    )
    sp.add_argument(
        "--backend",
        choices=BACKENDS,
        help="embedded (the index folder) or milvus (the collection QA_MILVUS_URI / QA_MILVUS_COLLECTION "
        "name, plus its metadata in the index folder); env QA_BACKEND, default embedded",
    )
    sp.add_argument("--catch-up", action="store_true", help=argparse.SUPPRESS)  # serve's background catch-up
    sp.add_argument("--recreate", action="store_true", help="milvus: drop the collection and load every passage again")


def _serve_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "serve",
        help="run the HTTP API and chat page (gunicorn)",
        description="Serve POST /api/ask, GET /api/documents[/ID], GET /healthz and the chat page at /. "
        "Builds the index from the corpus first if there is none; if the corpus changed since it was built "
        "(or QA_CORPUS did), serves the index it has and brings it up to date beside it.",
    )
    _index_dir_arg(sp)
    sp.add_argument("--host", help="address to bind (env QA_HOST; default 127.0.0.1; 0.0.0.0 for all)")
    sp.add_argument("--port", type=int, help="port (env QA_PORT; default 8000)")
    sp.add_argument("--workers", type=int, help="worker processes (env QA_WORKERS; default 2)")
    sp.add_argument("--corpus", action="append", help="corpus to build from if the index is missing (repeatable)")


def _ask_parser(sub: Any) -> None:
    sp = sub.add_parser("ask", help="answer one question from the command line")
    sp.add_argument("question", help="the question, in Chinese")
    _index_dir_arg(sp)
    sp.add_argument("--top-k", type=int, default=5, help="passages to retrieve (1-20; default 5)")
    sp.add_argument("--passages", type=int, metavar="N", help="show N whole passages (default: 1-3 citations)")
    sp.add_argument("--json", action="store_true", help="print the same JSON as POST /api/ask")
    sp.add_argument("-v", "--verbose", action="store_true", help="show the INFO log lines too")


def _eval_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "eval",
        help="measure retrieval and answers on the eval sets",
        description="Seed set (eval/seed_questions.jsonl): Hit@1, Hit@5, MRR@10, answer accuracy, list-item "
        "recall, abstention on unanswerable questions. CMRC2018 trial (if ../shared/eval/cmrc2018_trial.json "
        "exists): Recall@1/5, MRR@10, answer-hit@5, every paragraph a document.",
    )
    sp.add_argument("--seed-set", help="seed question file (default eval/seed_questions.jsonl)")
    sp.add_argument("--cmrc", help="CMRC2018 SQuAD-style JSON (default ../shared/eval/cmrc2018_trial.json)")
    sp.add_argument("--no-bigrams", action="store_true", help="tokenize with jieba alone (for comparison)")
    _embedding_model_arg(
        sp,
        "also evaluate hybrid retrieval with this sentence-transformers model (env QA_EMBEDDING_MODEL), "
        "side by side with BM25 alone",
    )
    sp.add_argument("--hybrid-weight", type=float, metavar="W", help="dense share of the hybrid score")
    sp.add_argument("--weights", metavar="W,W,...", help="also sweep these hybrid weights (top-1 figures only)")
    sp.add_argument(
        "--backend",
        choices=BACKENDS,
        default="embedded",
        help="milvus: also run every figure through Milvus (QA_MILVUS_URI; a temporary Milvus Lite file if unset), "
        "with both analyzers, side by side with the embedded index",
    )
    sp.add_argument("--json", action="store_true", help="print figures as JSON")


def _fit_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "fit",
        help="re-fit the answer model on the eval sets and print its held-out figures",
        description="Fit the answer model (evidence sentence, short answer, abstention; its trees need "
        "pip install 'qa-service[fit]') on CMRC2018 trial, DRCD dev and news_dev in ../shared/eval/, print figures "
        "on the half of each set it was not fitted on (two folds), then fit on all and write qa/answer_model.json.",
    )
    sp.add_argument("--eval-dir", help="folder holding the sets (default ../shared/eval)")
    sp.add_argument("--out", help="where to write the model (default: the one the package ships)")
    sp.add_argument("--report-only", action="store_true", help="print the held-out figures, write nothing")
    sp.add_argument("--json", action="store_true", help="print figures as JSON")


def main(argv: list[str] | None = None) -> int:
    # jieba (and milvus-lite 2.5) import pkg_resources, which warns on every run where it exists
    # (the [milvus] extra pins setuptools<81 for milvus-lite): not a user's concern.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    args = build_parser().parse_args(argv)
    level = args.log_level.upper() if args.log_level else None
    if level is None and args.command == "ask" and not args.verbose:
        level = "WARNING"  # an answer on the terminal, not the loading steps behind it
    try:
        settings = from_env().with_overrides(log_level=level)
    except ConfigError as exc:
        print(f"qa-service: {exc.message}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    given = vars(args)
    settings = settings.with_overrides(index_dir=given.get("index_dir"))
    if args.command != "eval":
        settings = settings.with_overrides(backend=given.get("backend"))
    try:
        return COMMANDS[args.command](args, settings)
    except QAError as exc:
        print(f"qa-service {args.command}: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


class _Skipped(logging.Handler):
    """Collects the loaders' and the pipeline's "skipping FILE: why" warnings for the index summary
    (they are logged as they happen; the summary repeats them where the user looks last)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.files: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("skipping "):
            self.files.append(message.removeprefix("skipping "))


def cmd_index(args: argparse.Namespace, s: Settings) -> int:
    from qa_service.core.errors import DocumentError
    from qa_service.index.embeddings import get_embedder
    from qa_service.ops.build import build_from, catch_up, resolved
    from qa_service.ops.lock import write_lock

    show = s.progress if args.progress is None else ("always" if args.progress else False)
    if args.catch_up:  # started by `serve` beside a stale index it serves meanwhile
        catch_up(s, get_embedder(s.embedding_model))
        return 0
    paths = args.paths or s.corpus
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        print(f"qa-service index: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    model = s.embedding_model if args.embedding_model is None else args.embedding_model
    embedder = get_embedder(model) if model else None
    if model and embedder is None:
        print(f"qa-service index: cannot use embedding model {model!r}; indexing for BM25 only", file=sys.stderr)
    t0, skipped, ingest_log = time.perf_counter(), _Skipped(), logging.getLogger("qa_service.ingest")
    ingest_log.addHandler(skipped)
    try:
        with write_lock(s.index_dir):  # not while a running service is writing an upload
            backend = build_from(s, paths, embedder, show, recreate=args.recreate, configured=resolved(s.corpus))
    except DocumentError as exc:
        if exc.code != "empty_corpus":
            raise
        print("qa-service index: no readable text found; the index was not changed", file=sys.stderr)
        print("\n".join(_skipped_lines(skipped.files)), file=sys.stderr)
        return 1
    finally:
        ingest_log.removeHandler(skipped)
    try:
        lines = [*backend.summary(), *_skipped_lines(skipped.files), f"took {time.perf_counter() - t0:.1f}s"]
        print("\n".join(lines))
    finally:
        backend.close()
    return 0


def _skipped_lines(files: list[str]) -> list[str]:
    if not files:
        return ["skipped no files"]
    return [f"skipped {len(files)} file{'s' if len(files) > 1 else ''}:", *(f"  {f}" for f in files)]


def cmd_serve(args: argparse.Namespace, s: Settings) -> int:
    from qa_service.index import serve_plan
    from qa_service.ops.build import configured_embedder, open_for_serving
    from qa_service.web.server import gunicorn_command, run_gunicorn

    s = s.with_overrides(host=args.host, port=args.port, workers=args.workers, corpus=args.corpus)
    # Open (or, if there is none, build) before forking workers, so they all load the same index.
    embedder = configured_embedder(s)  # without one to add vectors for, the corpus is read beside serving
    start = open_for_serving(s, embedder=embedder, show_progress=s.progress, read_corpus=embedder is not None)
    start.backend.close()
    s = start.settings  # the corpus the index serves (and catches up with)
    plan = serve_plan(s)
    if plan.note:
        log.warning("%s", plan.note)
    env = worker_environment(s, plan.env)
    # As in main(): jieba's pkg_resources warning would be the server log's first line, and no user's concern.
    env.setdefault("PYTHONWARNINGS", "ignore:pkg_resources is deprecated:UserWarning")
    if start.stale or not start.checked:  # stale (a crash mid-upload, files changed), or not compared yet
        if start.stale:
            log.warning("the index is %s; serving it while it is brought up to date beside it", start.stale)
        cmd = [sys.executable, "-m", "qa_service", "index", "--catch-up", "--no-progress"]
        subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)  # gunicorn, which this process becomes, reaps it
    # "serving on http://..." is logged by the first worker that can answer (web/server.py), not here:
    # the workers still have the index to load, and an early click would fail.
    sys.stdout.flush()
    run_gunicorn(gunicorn_command("gunicorn", s, plan), env)  # this process becomes gunicorn's master


def cmd_ask(args: argparse.Namespace, s: Settings) -> int:
    from qa_service.index.fusion import FusionSettings
    from qa_service.ops.build import configured_embedder, ensure_backend
    from qa_service.qa.neural import load_reader
    from qa_service.qa.service import QAService

    if not 1 <= args.top_k <= s.max_top_k:
        print(f"qa-service ask: --top-k must be from 1 to {s.max_top_k}", file=sys.stderr)
        return 2
    if args.passages is not None and not 1 <= args.passages <= s.max_top_k:
        print(f"qa-service ask: --passages must be from 1 to {s.max_top_k}", file=sys.stderr)
        return 2
    question = args.question.strip()
    if not question or len(question) > s.max_question_chars:
        print(f"qa-service ask: the question must be 1 to {s.max_question_chars} characters", file=sys.stderr)
        return 2
    embedder, proposer = configured_embedder(s), load_reader(s.reader_model)
    svc = QAService(ensure_backend(s, embedder=embedder), embedder, FusionSettings.from_settings(s), proposer=proposer)
    result = svc.ask(question, top_k=max(args.top_k, args.passages or 0))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(format_answer(result, args.passages))
    return 0


# A line of wrapped Chinese never starts with closing punctuation: it stays at the end of the line before.
_NO_LINE_START = "，。、；：？！,.;:?!）)》」』”’…"


def wrap(text: str, width: int = 40, indent: str = "    ") -> list[str]:
    text = re.sub(r"\s*\n\s*", "", text)  # the passage's paragraphs, run together as one block
    lines, i = [], 0
    while i < len(text):
        j = min(i + width, len(text))
        while j < len(text) and text[j] in _NO_LINE_START:
            j += 1
        lines.append(indent + text[i:j].strip())
        i = j
    return lines


def snippet(text: str, focus: str | None, size: int = 36) -> str:
    """One line of ``text`` around ``focus`` (or its start), with … where it is cut."""
    text = "".join(text.split())
    at = text.find(focus) if focus else -1
    start = max(0, min(at - size // 3, len(text) - size)) if at > 0 else 0
    end = min(len(text), start + size)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _cited(result: dict) -> list[tuple[int, str | None]]:
    """The passages the answer cites (with the words to show from each), at most 3; else the best 3."""
    ans, out = result["answer"], {}
    if ans["text"] and ans["passage"] is not None:
        out[ans["passage"]] = (ans.get("evidence") or {}).get("text") or ans["text"]
    for item in ans["items"]:
        for i in item["passages"]:
            out.setdefault(i, item["text"])
    if not out:
        out = {i: None for i in range(len(result["passages"]))}
    return list(out.items())[:3]


def _source_line(n: int, p: dict) -> str:
    src = p["source"]
    meta = " · ".join(x for x in (src["title"], src.get("section"), src["published"], src["publisher"]) if x)
    return f"[{n}] {meta}"


def format_answer(result: dict, passages: int | None = None) -> str:
    """The short answer, its evidence sentence and compact citations; with ``passages``, that many
    passages in full, with their file and offsets."""
    ans, lines = result["answer"], []
    if result.get("rewritten_question"):
        lines.append(f"理解为：{result['rewritten_question']}")
    if result.get("notice"):
        lines.append(result["notice"])
    if ans["text"]:
        lines.append(f"答：{ans['text']}  [{ans['passage'] + 1}]")
        if ans.get("evidence") and ans["evidence"].get("text"):
            lines.extend(wrap(ans["evidence"]["text"], indent="  "))
    elif not ans["items"]:
        lines.append("没有找到能回答这个问题的内容。" + ("最接近的段落：" if result["passages"] else ""))
    for item in ans["items"]:
        refs = "".join(f"[{p + 1}]" for p in item["passages"])
        lines.append(f"  • {item['text']} {refs}")
    if passages is None:
        for n, (i, focus) in enumerate(_cited(result)):
            p = result["passages"][i]
            lines += [""] * (n == 0) + [_source_line(i + 1, p), "    " + snippet(p["text"], focus)]
        return "\n".join(lines)
    for i, p in enumerate(result["passages"][:passages], 1):
        src = p["source"]
        lines += ["", _source_line(i, p)]
        lines.append(f"    {src['document']} 字符 {src['char_start']}–{src['char_end']}  score {p['score']:.2f}")
        lines.extend(wrap(p["text"]))
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace, s: Settings) -> int:
    from qa_service.evaluation import run_eval

    return run_eval(args, s)


def cmd_fit(args: argparse.Namespace, s: Settings) -> int:
    from pathlib import Path

    from qa_service.evaluation.fit import EVAL_DIR, main, print_report
    from qa_service.qa.reader import MODEL_FILE

    eval_dir = Path(args.eval_dir) if args.eval_dir else EVAL_DIR
    if not (eval_dir / "cmrc2018_trial.json").is_file():
        print(f"qa-service fit: no eval sets in {eval_dir} (give --eval-dir)", file=sys.stderr)
        return 2
    report = main(Path(args.out) if args.out else MODEL_FILE, eval_dir, report_only=args.report_only)
    print_report(report, as_json=args.json)
    return 0


COMMANDS = {"index": cmd_index, "serve": cmd_serve, "ask": cmd_ask, "eval": cmd_eval, "fit": cmd_fit}
