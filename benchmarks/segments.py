"""Adding and deleting documents in a built index, in process: the segments of the embedded backend.

    python benchmarks/segments.py --size 100k --adds 40      # ~5 min on 2 cores (the build is most of it)

Builds the generated corpus (benchmarks/corpus.py) as a full build, then adds ``--adds`` documents of
about 2,000 characters one at a time (``SegmentedIndex.apply``: one new segment each, the merge policy
run after each as the live service does), then deletes as many.  Prints, side by side:

* the time of one add and one delete (p50 and max), and of the merges the policy ran;
* retrieval p50 over 300 CMRC2018 questions (top 10) on the full build, and on the index after the
  adds (several segments, idf summed across them) -- the cost of searching segments;
* how far the segmented index's top 10 is from a full build of the same documents before and after
  merging every segment (the same passages, in order), i.e. the bounded difference segments.py states.

The HTTP side (upload to searchable, other questions meanwhile) is benchmarks/incremental.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.corpus import generate, parse_size, size_label  # noqa: E402
from qa_service.core.models import Document  # noqa: E402
from qa_service.core.settings import Settings  # noqa: E402
from qa_service.index.embedded.store import EmbeddedIndex  # noqa: E402
from qa_service.index.embedded.versions import SegmentedIndex  # noqa: E402
from qa_service.ingest.loaders import load_paths  # noqa: E402
from qa_service.ingest.pipeline import corpus_from_documents  # noqa: E402


def change(index, added=(), removed=()):
    """``index.apply`` with documents, as the service calls it (cleaned, segmented and chunked first)."""
    return index.apply(corpus_from_documents(list(added)), list(removed))


def questions(n: int) -> list[str]:
    from qa_service.evaluation import DEFAULT_CMRC, cmrc_documents

    _, qs = cmrc_documents(DEFAULT_CMRC)
    return [q for q, _, _ in qs if q.strip()][:n]


def new_documents(n: int, data: Path) -> list[Document]:
    """``n`` documents of about 2,000 characters, from a corpus generated with another seed."""
    src = data / "news-adds.jsonl"
    if not src.exists():
        generate(max(60, 8 * n), src, seed=99, quiet=True)
    records = [json.loads(line) for line in src.read_text("utf-8").splitlines()]
    docs = []
    for i in range(n):
        part = records[8 * i : 8 * i + 8]
        text = part[0]["title"] + "\n" + "\n".join(r["text"] for r in part)
        docs.append(Document(id=f"added-{i:03d}.txt", text=text[:2200], path="-", format="txt"))
    return docs


def p50_ms(index, token_lists: list[list[str]]) -> float:
    times = []
    for tokens in token_lists[:20]:
        index.search(tokens, 10)
    for tokens in token_lists:
        t0 = time.perf_counter()
        index.search(tokens, 10)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def top10(index, token_lists: list[list[str]]) -> list[list[tuple[str, int]]]:
    out = []
    for tokens in token_lists:
        hits = index.search(tokens, 10)
        out.append([(c.doc_id, c.char_start) for c in (index.chunk(i) for i, _ in hits)])
    return out


def agreement(a: list[list[tuple[str, int]]], b: list[list[tuple[str, int]]]) -> tuple[float, float]:
    """Share of questions with the same top 1, and with the same top 10 in the same order."""
    same1 = sum(x[:1] == y[:1] for x, y in zip(a, b, strict=True)) / len(a)
    same10 = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
    return same1, same10


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="20k", help="passages of the full build: 20k, 100k, 1m ...")
    p.add_argument("--adds", type=int, default=40, help="documents added one at a time, then deleted")
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args()
    n = parse_size(a.size)
    data = HERE / ".data"
    corpus_file = data / f"news-{size_label(n)}.jsonl"
    if not corpus_file.exists():
        generate(n, corpus_file)
    qs = questions(300)
    out: dict[str, object] = {"size": n, "adds": a.adds}
    with tempfile.TemporaryDirectory(dir=data) as tmp:
        settings = Settings(index_dir=str(Path(tmp) / "index"))
        docs = list(load_paths([str(corpus_file)]))
        t0 = time.perf_counter()
        index = SegmentedIndex.create(corpus_from_documents(docs), settings)
        out["full_build_s"] = round(time.perf_counter() - t0, 1)
        tokens = [index.tokenizer.tokens(q) for q in qs]
        out["p50_full_build_ms"] = round(p50_ms(index, tokens), 3)

        added = new_documents(a.adds, data)
        add_s, merge_s, merges = [], [], 0
        for d in added:
            t0 = time.perf_counter()
            index = change(index, added=[d])
            add_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            while (merged := index.merge_step()) is not None:
                index, merges = merged, merges + 1
            if merges:
                merge_s.append(time.perf_counter() - t0)
        out["add_p50_s"], out["add_max_s"] = round(statistics.median(add_s), 3), round(max(add_s), 3)
        out["merges"], out["merge_total_s"] = merges, round(sum(merge_s), 2)
        out["segments_after_adds"] = len(index.segments)
        out["p50_segmented_ms"] = round(p50_ms(index, tokens), 3)

        full = EmbeddedIndex.build(corpus_from_documents(docs + added), tokenizer=index.tokenizer)
        out["p50_same_docs_full_build_ms"] = round(p50_ms(full, tokens), 3)
        reference = top10(full, tokens)
        out["same_top1_before_merge"], out["same_top10_before_merge"] = agreement(top10(index, tokens), reference)
        names = [s.name for s in index.segments]
        t0 = time.perf_counter()
        whole = index.replace(names, index.merge(names), index)
        out["merge_all_s"] = round(time.perf_counter() - t0, 1)
        assert whole is not None
        out["same_top1_after_merge"], out["same_top10_after_merge"] = agreement(top10(whole, tokens), reference)

        delete_s = []
        for d in added:
            t0 = time.perf_counter()
            whole = change(whole, removed=[d.id])
            delete_s.append(time.perf_counter() - t0)
        out["delete_p50_s"], out["delete_max_s"] = round(statistics.median(delete_s), 3), round(max(delete_s), 3)
        out["p50_after_deletes_ms"] = round(p50_ms(whole, tokens), 3)
    print(f"\n### Segments in process, {size_label(n)} passages, {a.adds} documents added then deleted\n")
    print("| figure | value |\n|---|---:|")
    for k, v in out.items():
        print(f"| {k} | {v} |")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
