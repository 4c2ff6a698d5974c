"""Command line: ``qa-service index | serve | ask | eval``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import textwrap
import warnings
from typing import TYPE_CHECKING

from qa_service import __version__
from qa_service.core.logging_setup import setup_logging
from qa_service.core.settings import BACKENDS, Settings, from_env

if TYPE_CHECKING:
    from qa_service.index.embeddings import Embedder
    from qa_service.ingest.pipeline import Corpus

log = logging.getLogger("qa_service.cli")

EPILOG = textwrap.dedent(
    """\
    examples:
      qa-service index                      # index the default corpus (seeds/) into index/
      qa-service index ~/news --index-dir /srv/qa-index
      qa-service index --backend milvus     # load the corpus into Milvus (QA_MILVUS_URI, QA_MILVUS_COLLECTION)
      qa-service serve --port 8000          # JSON API + chat page on http://127.0.0.1:8000/
      qa-service ask "谁陪同宋洁督导爱国卫生工作？"
      qa-service ask "哪些街道开展了爱国卫生或创卫工作？" --json
      qa-service eval                       # retrieval and answer figures on the eval sets
      qa-service eval --backend milvus      # the same figures through Milvus, beside the embedded index

    Every flag has an environment variable (QA_INDEX_DIR, QA_CORPUS, QA_HOST, QA_PORT,
    QA_WORKERS, QA_LOG_LEVEL, QA_BACKEND, QA_MILVUS_URI, ...): see qa_service/config.py or the README.
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

    def index_dir_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--index-dir", help="index folder (env QA_INDEX_DIR; default ./index)")

    def backend_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--backend",
            choices=BACKENDS,
            help="embedded (the index folder) or milvus (the collection QA_MILVUS_URI / QA_MILVUS_COLLECTION "
            "name, plus its metadata in the index folder); env QA_BACKEND, default embedded",
        )

    sp = sub.add_parser(
        "index",
        help="build the index from files or folders",
        description="Read .txt/.md/.html/.jsonl files (UTF-8 or GB18030), clean them, split them into "
        "articles and passages, and write a new index. The previous index stays live until the new one "
        "is complete.",
    )
    sp.add_argument("paths", nargs="*", help="files or folders to index (env QA_CORPUS; default seeds/)")
    index_dir_arg(sp)
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    sp.add_argument(
        "--embedding-model",
        metavar="NAME_OR_PATH",
        help="sentence-transformers model for hybrid retrieval (env QA_EMBEDDING_MODEL; '' for none): passages "
        "are embedded too, reusing the previous index's vectors of unchanged passages",
    )
    backend_arg(sp)
    sp.add_argument(
        "--recreate",
        action="store_true",
        help="milvus: drop the collection and load every passage again (after a schema, analyzer or model change)",
    )

    sp = sub.add_parser(
        "serve",
        help="run the HTTP API and chat page (gunicorn)",
        description="Serve POST /api/ask, GET /api/documents[/ID], GET /healthz and the chat page at /. "
        "Builds the index from the corpus first if there is none, or if the corpus changed.",
    )
    index_dir_arg(sp)
    sp.add_argument("--host", help="address to bind (env QA_HOST; default 127.0.0.1; 0.0.0.0 for all)")
    sp.add_argument("--port", type=int, help="port (env QA_PORT; default 8000)")
    sp.add_argument("--workers", type=int, help="worker processes (env QA_WORKERS; default 2)")
    sp.add_argument("--corpus", action="append", help="corpus to build from if the index is missing (repeatable)")

    sp = sub.add_parser("ask", help="answer one question from the command line")
    sp.add_argument("question", help="the question, in Chinese")
    index_dir_arg(sp)
    sp.add_argument("--top-k", type=int, default=5, help="passages to show (1-20; default 5)")
    sp.add_argument("--json", action="store_true", help="print the same JSON as POST /api/ask")

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
    sp.add_argument(
        "--embedding-model",
        metavar="NAME_OR_PATH",
        help="also evaluate hybrid retrieval with this sentence-transformers model (env QA_EMBEDDING_MODEL), "
        "side by side with BM25 alone",
    )
    sp.add_argument(
        "--hybrid-weight", type=float, metavar="W", help="dense share of the hybrid score (env QA_HYBRID_WEIGHT)"
    )
    sp.add_argument("--weights", metavar="W,W,...", help="also sweep these hybrid weights (top-1 figures only)")
    sp.add_argument(
        "--backend",
        choices=BACKENDS,
        default="embedded",
        help="milvus: also run every figure through Milvus (QA_MILVUS_URI; a temporary Milvus Lite file if unset), "
        "with both analyzers, side by side with the embedded index",
    )
    sp.add_argument("--json", action="store_true", help="print figures as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    # jieba (and milvus-lite 2.5) import pkg_resources, which warns on every run where it exists
    # (the [milvus] extra pins setuptools<81 for milvus-lite): not a user's concern.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    args = build_parser().parse_args(argv)
    settings = from_env().with_overrides(log_level=args.log_level.upper() if args.log_level else None)
    setup_logging(settings.log_level)
    if getattr(args, "index_dir", None):
        settings = settings.with_overrides(index_dir=args.index_dir)
    if args.command != "eval" and getattr(args, "backend", None):
        settings = settings.with_overrides(backend=args.backend)
    try:
        return COMMANDS[args.command](args, settings)
    except KeyboardInterrupt:
        return 130


def cmd_index(args: argparse.Namespace, s: Settings) -> int:
    from qa_service.index.embedded.store import EmbeddedIndex, load_previous_vectors
    from qa_service.index.embeddings import get_embedder
    from qa_service.ingest.pipeline import build_corpus
    from qa_service.ops.live import write_lock

    paths = args.paths or s.corpus
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        print(f"qa-service index: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    corpus = build_corpus(paths, show_progress=not args.no_progress)
    if not corpus.chunks:
        print("qa-service index: no readable text found; the index was not changed", file=sys.stderr)
        return 1
    model = s.embedding_model if args.embedding_model is None else args.embedding_model
    embedder = get_embedder(model) if model else None
    if model and embedder is None:
        print(f"qa-service index: cannot use embedding model {model!r}; indexing for BM25 only", file=sys.stderr)
    if s.backend == "milvus":
        return _index_milvus(corpus, s, embedder, args)
    previous = load_previous_vectors(s.index_dir) if embedder else None
    index = EmbeddedIndex.build(
        corpus, show_progress=not args.no_progress, embedder=embedder, previous=previous, batch_size=s.embedding_batch
    )
    with write_lock(s.index_dir):  # not while a running service is rebuilding after an upload
        where = index.save(s.index_dir)
    c = index.manifest["counts"]
    print(f"indexed {c['documents']} documents, {c['articles']} articles, {c['passages']} passages -> {where}")
    if "embeddings" in index.manifest:
        e = index.manifest["embeddings"]
        print(f"embedded {e['computed']} passages with {e['model_id']} in {e['seconds']}s ({e['reused']} reused)")
    return 0


def _index_milvus(corpus: Corpus, s: Settings, embedder: Embedder | None, args: argparse.Namespace) -> int:
    from qa_service.index.embedded.store import IndexError_
    from qa_service.index.milvus.backend import MilvusConfig, index_corpus, meta_dir
    from qa_service.ops.live import write_lock

    config = MilvusConfig.from_settings(s)
    try:
        with write_lock(s.index_dir):  # not while a running service is re-indexing after an upload
            run = index_corpus(corpus, s, embedder, recreate=args.recreate, show_progress=not args.no_progress)
    except IndexError_ as exc:
        print(f"qa-service index: {exc}", file=sys.stderr)
        return 1
    c, st = run.counts, run.stats
    print(
        f"indexed {c['documents']} documents, {c['articles']} articles, {c['passages']} passages -> collection "
        f"{config.collection!r} on {config.where()} (metadata in {meta_dir(s)})"
    )
    print(f"milvus: {st.summary()} in {st.seconds:.1f}s" + (" (collection re-created)" if st.recreated else ""))
    if embedder is not None:
        print(f"embedded {st.embedded} passages with {embedder.model_id}")
    run.index.close()
    return 0


def cmd_serve(args: argparse.Namespace, s: Settings) -> int:
    from qa_service.index.embedded.store import IndexError_
    from qa_service.qa.service import open_index

    s = s.with_overrides(host=args.host, port=args.port, workers=args.workers, corpus=args.corpus)
    milvus_file = False
    try:
        # Build (or rebuild) before forking workers, so they all load the same finished index.
        index = open_index(s, check_stale=True, show_progress=True)
    except IndexError_ as exc:
        print(f"qa-service serve: {exc}", file=sys.stderr)
        return 1
    if s.backend == "milvus":
        from qa_service.index.milvus.backend import MilvusConfig

        index.close()  # type: ignore[union-attr]  # each worker connects for itself
        milvus_file = MilvusConfig.from_settings(s).is_file
        if milvus_file and s.workers > 1:
            log.warning("a Milvus Lite file can be opened by one process only: serving with 1 worker")
            s = s.with_overrides(workers=1)
    gunicorn = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
    env = dict(os.environ)
    env.update(
        QA_INDEX_DIR=os.path.abspath(s.index_dir),
        QA_CORPUS=os.pathsep.join(os.path.abspath(p) for p in s.corpus),
        QA_LOG_LEVEL=s.log_level,
        QA_BUILD_IF_MISSING="0",
        QA_BACKEND=s.backend,
    )
    if milvus_file:
        env["QA_MILVUS_URI"] = os.path.abspath(s.milvus_uri or os.path.join(s.index_dir, "milvus.db"))
    # glibc gives every thread its own malloc arena; with gthread workers that shows up as
    # RSS that grows with concurrency but is never used again. Two arenas a process is plenty.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    cmd = [
        gunicorn,
        "--bind",
        f"[{s.host}]:{s.port}" if ":" in s.host else f"{s.host}:{s.port}",
        "--workers",
        str(s.workers),
        "--threads",
        "4",  # a worker rebuilding after an upload keeps answering from its live index
        *(["--preload"] if s.backend == "embedded" else []),  # load the index once; workers share its pages
        # (not with Milvus: a gRPC connection must not cross a fork, so each worker opens its own)
        "--timeout",
        "60",
        "--graceful-timeout",
        "10",
        "--log-level",
        s.log_level.lower(),
        "--no-control-socket",  # gunicorn's admin socket would need a writable $HOME; nothing uses it
        # No gunicorn access log: the app logs every request with its latency.
        "qa_service.web.wsgi:app",
    ]
    log.info("serving on http://%s:%d/ with %d workers", s.host, s.port, s.workers)
    sys.stdout.flush()
    os.execve(gunicorn, cmd, env)
    return 0  # not reached


def cmd_ask(args: argparse.Namespace, s: Settings) -> int:
    from qa_service.index.embedded.store import IndexError_
    from qa_service.qa.service import QAService, open_index

    if not 1 <= args.top_k <= s.max_top_k:
        print(f"qa-service ask: --top-k must be from 1 to {s.max_top_k}", file=sys.stderr)
        return 2
    question = args.question.strip()
    if not question or len(question) > s.max_question_chars:
        print(f"qa-service ask: the question must be 1 to {s.max_question_chars} characters", file=sys.stderr)
        return 2
    try:
        svc = QAService(open_index(s))
    except IndexError_ as exc:
        print(f"qa-service ask: {exc}", file=sys.stderr)
        return 1
    result = svc.ask(question, top_k=args.top_k)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(format_answer(result))
    return 0


def format_answer(result: dict) -> str:
    ans = result["answer"]
    lines = []
    if ans["text"]:
        lines.append(f"答：{ans['text']}  [{ans['passage'] + 1}]")
    elif not ans["items"]:
        lines.append("没有找到能回答这个问题的内容。最接近的段落：")
    for item in ans["items"]:
        refs = "".join(f"[{p + 1}]" for p in item["passages"])
        lines.append(f"  • {item['text']} {refs}")
    for i, p in enumerate(result["passages"], 1):
        src = p["source"]
        meta = " · ".join(x for x in (src["title"], src.get("section"), src["published"], src["publisher"]) if x)
        lines.append("")
        lines.append(f"[{i}] {meta}")
        lines.append(f"    {src['document']} 字符 {src['char_start']}–{src['char_end']}  score {p['score']:.2f}")
        lines.append(textwrap.fill(p["text"], width=40, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace, s: Settings) -> int:
    from .evaluation import run_eval

    return run_eval(args, s)


COMMANDS = {"index": cmd_index, "serve": cmd_serve, "ask": cmd_ask, "eval": cmd_eval}
