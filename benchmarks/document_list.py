"""GET /api/documents on a large index: a page searched and filtered on the server beside the whole
list that 07e673f's endpoint returned (every document as a dict, then one JSON body).

In process, on an index already built (e.g. benchmarks/.data/incremental-index-1m, which
``benchmarks/incremental.py --size 1m`` leaves): the index is opened as the service opens it, then

* the page requests the library panel makes, each timed once in the order a user meets them (the
  first request of a version sorts the list; later ones reuse that order);
* the baseline, last (it grows the process most): ``[{k: d.get(k) ...} for d in index.documents]``
  and ``json.dumps`` of it, the body of 07e673f's ``list_documents``.

Prints a markdown table: wall time and response bytes of each, and the process's peak RSS after
the pages and after the baseline.

    .venv/bin/python benchmarks/document_list.py --index-dir benchmarks/.data/incremental-index-1m
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def pages(catalog, DocumentQuery) -> list[tuple[str, float, int]]:
    """(what, seconds, JSON bytes) of the page requests the library panel makes."""
    n = len(catalog)
    asked = [
        ("first page, newest first (sorts the list)", DocumentQuery()),
        ("first page again", DocumentQuery()),
        (f"page at offset {n // 2:,}", DocumentQuery(offset=n // 2)),
        ("first page, oldest first (the other order)", DocumentQuery(order="asc")),
        ("search 上街 (title or file name)", DocumentQuery(search="上街")),
        ("search n00 (ASCII, either case)", DocumentQuery(search="N00")),
        ("date range 2021-04-01 to 2021-04-20", DocumentQuery(published_from="2021-04-01", published_to="2021-04-20")),
    ]
    rows = []
    for what, query in asked:
        seconds, page = timed(lambda q=query: catalog.page(q))
        body = json.dumps({"documents": page.documents, "total": page.total}, ensure_ascii=False)
        rows.append((what, seconds, len(body.encode())))
    seconds, publishers = timed(catalog.publishers)
    top = publishers[0][0] if publishers else None
    rows.append(("GET /api/publishers (counts them)", seconds, len(json.dumps(publishers, ensure_ascii=False))))
    if top is not None:
        seconds, page = timed(lambda: catalog.page(DocumentQuery(publisher=top)))
        rows.append(("first page of the largest publisher", seconds, len(json.dumps(page.documents).encode())))
    return rows


def whole_list(index) -> tuple[float, int]:
    """07e673f's GET /api/documents: every document's dict, then the JSON body."""

    def build() -> str:
        docs = [
            {k: d.get(k) for k in ("id", "title", "publisher", "published", "format", "articles")}
            for d in index.documents
        ]
        return json.dumps({"documents": docs}, ensure_ascii=False)

    seconds, body = timed(build)
    return seconds, len(body.encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index-dir", required=True, help="an index folder (QA_INDEX_DIR) to list")
    args = ap.parse_args()
    os.environ["QA_INDEX_DIR"] = str(Path(args.index_dir).resolve())

    from qa_service.core.settings import from_env
    from qa_service.index import open_backend
    from qa_service.index.catalog import DocumentCatalog, DocumentQuery

    index = open_backend(from_env())
    opened = peak_rss_mb()
    catalog = DocumentCatalog(index.documents)
    rows = pages(catalog, DocumentQuery)
    after_pages = peak_rss_mb()
    base_s, base_bytes = whole_list(index)
    after_whole = peak_rss_mb()

    print(f"{len(catalog):,} documents in {args.index_dir}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| request | wall (s) | response (bytes) |\n|---|---:|---:|")
    print(f"| baseline (07e673f): the whole list | {base_s:.2f} | {base_bytes:,} |")
    for what, seconds, size in rows:
        print(f"| {what} | {seconds:.3f} | {size:,} |")
    print(f"\npeak RSS: {opened:.0f} MB opened, {after_pages:.0f} MB after the pages, ", end="")
    print(f"{after_whole:.0f} MB after the whole list")


if __name__ == "__main__":
    main()
