"""The documents and articles of an index as record tables read in place, beside the JSON lists they were.

    python benchmarks/records.py --index-dir benchmarks/.data/index-build-this-100k [--lookups 2000]

The baseline is what an index held before format 5 (commit bd1f258): ``documents.json`` and
``articles.json`` loaded as lists of dicts, and a dict from document id to position.  The same rows,
read from the index's record tables (index/records.py), are written as those two JSON files in a
temporary folder; then each side runs in a fresh process, one after the other, and reports:

* load: seconds, and how much the process's RSS and USS grew (USS: pages no other process shares;
  a second serving worker mapping the same table files shares their pages);
* documents found by id (``lookups`` distinct random ids: the first time, and again, when the tables
  remember the rows of the last 4,096 ids looked up), the articles of one document (as
  ``GET /api/documents/<id>`` lists them), and the three question filters over every article
  (publisher, a date range, two documents), each timed in milliseconds (median of 5).

Prints one JSON object with both sides and the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

SIDE = r"""
import json, os, random, statistics, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, ROOT)
from qa_service.index.base import Filters
from qa_service.index.records import RecordTable


def memory():
    rss = uss = 0
    with open(f"/proc/{os.getpid()}/smaps_rollup") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k == "Rss":
                rss = int(v.split()[0])
            elif k in ("Private_Clean", "Private_Dirty"):
                uss += int(v.split()[0])
    return rss / 1024, uss / 1024


def median_ms(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


rss0, uss0 = memory()
t0 = time.perf_counter()
if SIDE == "json":
    documents = json.loads(Path(FOLDER, "documents.json").read_text("utf-8"))
    articles = json.loads(Path(FOLDER, "articles.json").read_text("utf-8"))
    pos = {d["id"]: i for i, d in enumerate(documents)}
    find = pos.get
    ids = [d["id"] for d in documents]
    def articles_of(doc_id):
        return [a for a in articles if a["document"] == doc_id]
else:
    documents = RecordTable.load(Path(FOLDER), "documents")
    articles = RecordTable.load(Path(FOLDER), "articles")
    find = documents.position
    def articles_of(doc_id):
        return [articles[i] for i in np.flatnonzero(articles.equal_any("document", [doc_id])).tolist()]
load_s = time.perf_counter() - t0
rss1, uss1 = memory()
if SIDE != "json":
    ids = documents.column("id")
rng = random.Random(7)
sample = rng.sample(ids, min(LOOKUPS, len(ids)))
publisher = next((p for p in (articles[i]["publisher"] for i in range(min(len(articles), 1000))) if p), "x")
filters = {
    "publisher": Filters(publisher=publisher),
    "date range": Filters(published_from="2021-03-01", published_to="2021-06-30"),
    "two documents": Filters(documents=(ids[0], ids[-1])),
}
out = {
    "documents": len(documents),
    "articles": len(articles),
    "load_s": round(load_s, 3),
    "rss_growth_mb": round(rss1 - rss0),
    "uss_growth_mb": round(uss1 - uss0),
    f"{len(sample)} ids looked up, first time (ms)": median_ms(lambda: [find(i) for i in sample], repeat=1),
    f"{len(sample)} ids looked up again (ms)": median_ms(lambda: [find(i) for i in sample]),
    "articles of one document (ms)": median_ms(lambda: articles_of(sample[0])),
}
assert all(find(i) is not None for i in sample)
for name, f in filters.items():
    out[f"filter: {name} (ms)"] = median_ms(lambda f=f: f.article_mask(articles))
    out[f"filter: {name} (passages kept)"] = int(f.article_mask(articles).sum())
print(json.dumps(out))
"""


def run_side(side: str, folder: Path, lookups: int) -> dict:
    code = f"ROOT = {str(ROOT)!r}\nSIDE = {side!r}\nFOLDER = {str(folder)!r}\nLOOKUPS = {lookups}\n" + SIDE
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--index-dir", required=True, help="an index built by this checkout (format 5)")
    p.add_argument("--lookups", type=int, default=2000)
    a = p.parse_args()
    from qa_service.index.publish import current_version_dir, json_bytes
    from qa_service.index.records import RecordTable

    vdir = current_version_dir(Path(a.index_dir))
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("documents", "articles"):
            rows = list(RecordTable.load(vdir, name))
            (Path(tmp) / f"{name}.json").write_bytes(json_bytes(rows))
            del rows
        baseline = run_side("json", Path(tmp), a.lookups)
    this = run_side("tables", vdir, a.lookups)
    ratios = {k: round(this[k] / baseline[k], 3) for k in this if baseline.get(k) and "kept" not in k}
    report = {"index": str(vdir), "baseline (JSON lists, bd1f258)": baseline, "record tables": this, "ratios": ratios}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
