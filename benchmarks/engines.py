"""One retrieval engine, one phase, in its own process (so its peak RSS is its own).

    python benchmarks/engines.py build ENGINE TOKENS INDEX_DIR
    python benchmarks/engines.py serve ENGINE INDEX_DIR QUERIES [--k 10] [--budget 600]
    python benchmarks/engines.py build-texts JSONL INDEX_DIR [--workers 2]   # ours, from raw text
    python benchmarks/engines.py load-index QA_INDEX_DIR                     # qa_service's EmbeddedIndex.load

ENGINE is ours, rank-bm25, bm25s or tantivy.  TOKENS has one passage per line,
its tokens separated by single spaces (qa_service.core.tokenizer.Tokenizer tokens);
QUERIES is a JSON list of token lists.  Each phase prints one JSON object.

Every engine gets the same tokens: ours (qa_service.index.embedded.bm25.BM25), rank-bm25's
BM25Okapi, bm25s (numpy backend) and tantivy (whitespace tokenizer over the
space-joined tokens; a query is a Should-clause per token, so repeated tokens
count twice as in BM25Okapi).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ENGINES = ("ours", "rank-bm25", "bm25s", "tantivy")


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not inherit the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def read_tokens(path: str) -> Iterator[list[str]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield line.split()


# -- build ---------------------------------------------------------------------


def build_ours(tokens: str, out: Path) -> None:
    from qa_service.index.embedded.bm25 import BM25

    BM25.build(read_tokens(tokens)).save(out)


def build_rank_bm25(tokens: str, out: Path) -> None:
    from rank_bm25 import BM25Okapi

    bm = BM25Okapi(read_tokens(tokens))  # it reads the corpus once and keeps per-passage counts
    with open(out / "bm25okapi.pkl", "wb") as f:
        pickle.dump(bm, f, protocol=pickle.HIGHEST_PROTOCOL)


def build_bm25s(tokens: str, out: Path) -> None:
    import bm25s

    corpus = list(read_tokens(tokens))  # bm25s needs the whole list
    bm = bm25s.BM25()
    bm.index(corpus, show_progress=False)
    del corpus
    bm.save(str(out))


def build_tantivy(tokens: str, out: Path) -> None:
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("text", stored=False, tokenizer_name="whitespace", index_option="freq")
    sb.add_unsigned_field("id", stored=False, fast=True, indexed=False)
    index = tantivy.Index(sb.build(), path=str(out))
    writer = index.writer(heap_size=1_000_000_000, num_threads=os.cpu_count() or 2)
    for i, toks in enumerate(read_tokens(tokens)):
        doc = tantivy.Document()
        doc.add_text("text", " ".join(toks))
        doc.add_unsigned("id", i)
        writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()


BUILDERS: dict[str, Callable[[str, Path], None]] = {
    "ours": build_ours,
    "rank-bm25": build_rank_bm25,
    "bm25s": build_bm25s,
    "tantivy": build_tantivy,
}


# -- serve ---------------------------------------------------------------------


def open_ours(d: Path) -> Callable[[list[str], int], object]:
    from qa_service.index.embedded.bm25 import BM25

    bm = BM25.load(d, mmap=True)
    return lambda q, k: bm.top_k(q, k)[0]


def open_rank_bm25(d: Path) -> Callable[[list[str], int], object]:
    with open(d / "bm25okapi.pkl", "rb") as f:
        bm = pickle.load(f)

    def search(q: list[str], k: int) -> object:
        s = bm.get_scores(q)
        top = np.argpartition(-s, k - 1)[:k] if k < len(s) else np.arange(len(s))
        return top[np.argsort(-s[top], kind="stable")]

    return search


def open_bm25s(d: Path) -> Callable[[list[str], int], object]:
    import bm25s

    bm = bm25s.BM25.load(str(d), mmap=True)
    vocab = bm.vocab_dict

    def search(q: list[str], k: int) -> object:
        q = [t for t in q if t in vocab]
        if not q:
            return []
        return bm.retrieve([q], k=k, show_progress=False, n_threads=1)

    return search


def open_tantivy(d: Path) -> Callable[[list[str], int], object]:
    import tantivy

    index = tantivy.Index.open(str(d))
    schema = index.schema
    searcher = index.searcher()
    should = tantivy.Occur.Should
    term = tantivy.Query.term_query

    def search(q: list[str], k: int) -> object:
        query = tantivy.Query.boolean_query([(should, term(schema, "text", t)) for t in q])
        return searcher.search(query, k).hits

    return search


OPENERS = {"ours": open_ours, "rank-bm25": open_rank_bm25, "bm25s": open_bm25s, "tantivy": open_tantivy}


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="phase", required=True)
    b = sub.add_parser("build")
    b.add_argument("engine", choices=ENGINES)
    b.add_argument("tokens")
    b.add_argument("index_dir")
    s = sub.add_parser("serve")
    s.add_argument("engine", choices=ENGINES)
    s.add_argument("index_dir")
    s.add_argument("queries")
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--budget", type=float, default=600, help="stop timing queries after this many seconds")
    s.add_argument("--max-query-s", type=float, default=2.0, help="skip the engine if one query takes longer")
    bt = sub.add_parser("build-texts")
    bt.add_argument("jsonl")
    bt.add_argument("index_dir")
    bt.add_argument("--workers", type=int, default=2)
    li = sub.add_parser("load-index")
    li.add_argument("index_dir")
    a = p.parse_args()
    out: dict[str, object] = {"engine": getattr(a, "engine", "ours"), "phase": a.phase}
    if a.phase == "build-texts":
        out.update(build_texts(a.jsonl, Path(a.index_dir), a.workers))
    elif a.phase == "load-index":
        from qa_service.index.embedded.store import EmbeddedIndex

        t0 = time.perf_counter()
        index = EmbeddedIndex.load(a.index_dir)
        out["load_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        index.tokenizer.tokens("预热")
        out["tokenizer_ready_s"] = time.perf_counter() - t0
        out["passages"] = len(index)
        out["rss_mb"] = _current_rss_mb()
        out["peak_rss_mb"] = peak_rss_mb()
    elif a.phase == "build":
        d = Path(a.index_dir)
        d.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        BUILDERS[a.engine](a.tokens, d)
        out["build_s"] = time.perf_counter() - t0
        out["build_peak_rss_mb"] = peak_rss_mb()
        out["index_bytes"] = dir_bytes(d)
    else:
        queries = json.loads(Path(a.queries).read_text("utf-8"))
        t0 = time.perf_counter()
        search = OPENERS[a.engine](Path(a.index_dir))
        out["load_s"] = time.perf_counter() - t0
        out["rss_after_load_mb"] = _current_rss_mb()
        t = time.perf_counter()
        search(queries[0], a.k)
        first = time.perf_counter() - t
        if first > a.max_query_s:
            out.update(skipped=f"one query took {first:.1f} s (> {a.max_query_s:g} s)", first_query_s=first)
        else:
            for q in queries[:20]:  # warm up
                search(q, a.k)
            times = []
            started = time.perf_counter()
            for q in queries:
                t = time.perf_counter()
                search(q, a.k)
                times.append(time.perf_counter() - t)
                if time.perf_counter() - started > a.budget:
                    break
            ms = np.array(times) * 1000
            out.update(
                queries=len(times),
                p50_ms=float(np.percentile(ms, 50)),
                p95_ms=float(np.percentile(ms, 95)),
                mean_ms=float(ms.mean()),
            )
        out["serve_peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def build_texts(jsonl: str, out: Path, workers: int) -> dict[str, object]:
    """This project's own build path: raw text -> tokens and counts in worker processes -> index."""
    from qa_service.core.tokenizer import Tokenizer
    from qa_service.index.embedded.bm25 import BM25

    with open(jsonl, encoding="utf-8") as f:
        total = sum(1 for _ in f)

    def texts() -> Iterator[str]:
        with open(jsonl, encoding="utf-8") as f:
            for r in map(json.loads, f):
                yield f"{r.get('title') or ''}  {r['text']}"

    t0 = time.perf_counter()
    tok = Tokenizer()
    tok.tokens("预热")  # load jieba here once: forked workers inherit it
    bm = BM25.build_from_texts(texts(), tok.tokens, workers=workers, total=total)
    built = time.perf_counter() - t0
    bm.save(out)
    return {
        "workers": workers,
        "build_s": built,
        "build_and_save_s": time.perf_counter() - t0,
        "build_peak_rss_mb": peak_rss_mb(),
        "index_bytes": dir_bytes(out),
    }


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


if __name__ == "__main__":
    main()
