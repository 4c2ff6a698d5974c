"""What adding documents to a live index (segments) instead of rebuilding does to the eval figures.

    python benchmarks/incremental_quality.py          # ~4 min on 2 cores

Added documents are cut with the user dictionary the last full build learned (names that first
appear in them are not kept whole) and weighed with the statistics of when they were added
(docs/performance.md, "Adding and deleting documents").  This measures the effect on the project's
own figures, three ways for each set:

* **full build** of every document (what ``qa-service index`` gives);
* **incremental**: a full build of part of the documents, the rest added one at a time through
  ``SegmentedIndex.apply`` with the merge policy run after each, as the live service does;
* **incremental, all merged**: the same, every segment then merged into one (same tokenizer as the
  incremental index, so what is left is the user dictionary's effect).

Seed set (`eval/seed_questions.jsonl`): each of the five seed documents in turn is the one added to a
build of the other four; the figures are the mean over the five.  CMRC2018 trial (retrieval R@1/R@5):
a build of the first 80% of the paragraphs, the last 20% added one at a time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from qa_service.core.models import Document  # noqa: E402
from qa_service.core.settings import Settings  # noqa: E402
from qa_service.evaluation import DEFAULT_CMRC, cmrc_documents  # noqa: E402
from qa_service.evaluation.cmrc import retrieve_cmrc  # noqa: E402
from qa_service.evaluation.seed import evaluate_seed_set, load_questions  # noqa: E402
from qa_service.index.embedded.versions import SegmentedIndex  # noqa: E402
from qa_service.ingest.loaders import load_paths  # noqa: E402
from qa_service.ingest.pipeline import corpus_from_documents  # noqa: E402
from qa_service.qa.service import QAService  # noqa: E402

SEED_ROWS = ("Hit@1 (answerable)", "short answer contains gold", "evidence contains gold", "abstained (unanswerable)")


def incremental(base: list[Document], added: list[Document], where: Path) -> tuple[SegmentedIndex, SegmentedIndex]:
    """A full build of ``base`` with ``added`` added one at a time (merging as the live service does),
    and the same with every segment then merged into one."""
    index = SegmentedIndex.create(corpus_from_documents(base), Settings(index_dir=str(where)))
    for doc in added:
        index = index.apply(corpus_from_documents([doc]), [])
        while (merged := index.merge_step()) is not None:
            index = merged
    names = [s.name for s in index.segments]
    whole = index.replace(names, index.merge(names), index) if len(names) > 1 else index
    assert whole is not None
    return index, whole


def full(docs: list[Document], where: Path) -> SegmentedIndex:
    return SegmentedIndex.create(corpus_from_documents(docs), Settings(index_dir=str(where)))


def seed_figures(tmp: Path) -> dict[str, dict[str, float]]:
    docs = list(load_paths([str(ROOT / "seeds")]))
    questions = load_questions(ROOT / "eval" / "seed_questions.jsonl")
    originals = {d.id: d.text for d in docs}

    def rows(index: SegmentedIndex) -> dict[str, float]:
        got = dict(evaluate_seed_set(QAService(index), questions, originals).rows())
        return {k: float(got[k]) for k in SEED_ROWS}

    out: dict[str, list[dict[str, float]]] = {"full build": [], "incremental": [], "incremental, all merged": []}
    reference = rows(full(docs, tmp / "seed-full"))
    for i, doc in enumerate(docs):
        inc, merged = incremental([d for d in docs if d is not doc], [doc], tmp / f"seed-{i}")
        out["full build"].append(reference)
        out["incremental"].append(rows(inc))
        out["incremental, all merged"].append(rows(merged))
    return {way: {k: round(statistics.mean(r[k] for r in runs), 3) for k in SEED_ROWS} for way, runs in out.items()}


def cmrc_figures(tmp: Path) -> dict[str, dict[str, float]]:
    docs, qs = cmrc_documents(DEFAULT_CMRC)
    cut = int(len(docs) * 0.8)

    def rows(index: SegmentedIndex) -> dict[str, float]:
        m = retrieve_cmrc(QAService(index), qs).metrics()
        return {k: round(float(v), 4) for k, v in m.items() if k in ("R@1", "R@5", "MRR@10")}

    inc, merged = incremental(docs[:cut], docs[cut:], tmp / "cmrc-inc")
    return {
        "full build": rows(full(docs, tmp / "cmrc-full")),
        "incremental": {**rows(inc), "segments": len(inc.segments)},
        "incremental, all merged": rows(merged),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = {"seed (mean over the 5 documents added last)": seed_figures(Path(tmp))}
        figures["CMRC2018 trial (last 20% of paragraphs added)"] = cmrc_figures(Path(tmp))
    for name, table in figures.items():
        cols = list(dict.fromkeys(k for row in table.values() for k in row))
        print(f"\n#### {name}\n\n| index | " + " | ".join(cols) + " |\n|---|" + "---:|" * len(cols))
        for way, row in table.items():
            print(f"| {way} | " + " | ".join(str(row.get(c, "")) for c in cols) + " |")
    if a.json:
        a.json.write_text(json.dumps(figures, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
