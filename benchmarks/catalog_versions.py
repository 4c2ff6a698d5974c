"""The documents list's first page after an upload, at a million documents: this checkout beside a
baseline, each in its own process.

    python benchmarks/catalog_versions.py --baseline ../base [--documents 1000000]

In process, on a generated documents table (index/documents.py's columns; Chinese titles, dates over
ten years, one document in twenty undated): version 1 of the index is that one table; version 2 keeps
it and adds a one-document table, as an upload does (its new segment, index/embedded/versions.py,
which shares the kept segments' tables with the version before).  For each side: seconds to the first
page of version 1 (newest first), to the first page of version 2, and to version 2's oldest-first
page.  The same seed gives both sides the same documents.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHARS = "上街区爱国卫生运动委员会召开工作会议督导检查中心城市建设发展改革财政税务教育医疗交通新闻报道"


def documents(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        row = {"id": f"doc{i:07d}.txt", "format": "txt", "articles": 1}
        row["title"] = "".join(rng.choice(CHARS) for _ in range(rng.randint(6, 24)))
        if rng.random() > 0.05:
            row["published"] = f"{rng.randint(2015, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        out.append(row)
    return out


def side(n: int) -> dict[str, float]:
    """Run in the checkout measured (its qa_service first on sys.path)."""
    from qa_service.index.catalog import DocumentCatalog, DocumentQuery
    from qa_service.index.documents import document_table

    class Segments:  # what a segmented index's ``documents`` gives the catalog
        def __init__(self, tables):
            self._tables = tables

        def tables(self):
            return [(t, None) for t in self._tables]

    kept = document_table(documents(n))
    added = document_table([{"id": "upload.txt", "title": "新上传的文档", "published": "2024-12-31"}])
    out = {}
    for name, tables, query in (
        ("version 1, first page", [kept], DocumentQuery()),
        ("version 2 (an upload), first page", [kept, added], DocumentQuery()),
        ("version 2, oldest first", [kept, added], DocumentQuery(order="asc")),
    ):
        catalog = DocumentCatalog(Segments(tables))
        t0 = time.perf_counter()
        page = catalog.page(query)
        out[name] = round(time.perf_counter() - t0, 3)
        if name.startswith("version 2") and query.order == "desc":
            assert page.documents[0]["id"] == "upload.txt"  # the newest document
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", required=True, help="path of the baseline checkout (e.g. a git worktree)")
    p.add_argument("--documents", type=int, default=1_000_000)
    a = p.parse_args()
    from ab import commit_of  # here: ab puts this checkout first on sys.path, which a side must not inherit

    sides = {"baseline": Path(a.baseline).resolve(), "this": ROOT}
    seconds = {}
    for name, checkout in sides.items():
        cmd = [sys.executable, "-c", _RUN, str(checkout), str(a.documents)]
        seconds[name] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    report = {
        "commits": {name: commit_of(checkout) for name, checkout in sides.items()},
        "documents": a.documents,
        "seconds": {step: {name: seconds[name][step] for name in sides} for step in seconds["this"]},
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))


# The side's process: the checkout's qa_service first on sys.path, this file's functions from here.
_RUN = f"""
import sys, json
checkout, n = sys.argv[1], int(sys.argv[2])
sys.path[:0] = [checkout, {str(Path(__file__).resolve().parent)!r}]
import catalog_versions, qa_service
assert qa_service.__file__.startswith(checkout), qa_service.__file__  # the side's own code is measured
print(json.dumps(catalog_versions.side(n)))
"""


if __name__ == "__main__":
    main()
