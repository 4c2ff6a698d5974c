"""Pages of paged documents (PDFs): a page as a PNG, and where characters sit on it.

``GET /api/documents/<id>/pages/<n>.png`` renders page ``n`` (1-based) of the original the index
keeps (index/layout.py), its longer side ``size`` pixels (200-2000, default 1400: bounded, so a
request cannot ask for an arbitrarily large bitmap); rendered pages are kept in a small in-process
cache and sent with a validator, so the chat page does not render one page twice.
``GET /api/documents/<id>/boxes?start=&end=`` gives the page and per-line boxes of the document's
characters [start, end) (the chat page asks it for the short answer's characters).
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Blueprint, Response, current_app, request

from qa_service.core.errors import RequestError
from qa_service.ingest.formats import FormatError
from qa_service.ingest.formats.pdf import render_page
from qa_service.web.errors import error_response

pages = Blueprint("pages", __name__)

MIN_SIDE, MAX_SIDE, DEFAULT_SIDE = 200, 2000, 1400
CACHED_PAGES = 48  # at most ~48 x 0.3 MB of PNG per worker


def _index():
    svc = current_app.extensions["qa_live"].service
    if svc is None:
        raise RequestError(code="index_not_ready", message="The index is not ready.")
    return svc.index


def _paged(doc_id: str) -> dict:
    doc = _index().record(doc_id)
    if doc is None:
        raise RequestError(code="not_found", message=f"No document with id {doc_id!r}.")
    if "pages" not in doc:
        raise RequestError(code="not_found", message=f"Document {doc_id!r} has no pages (it is not a PDF).")
    return doc


def _int_arg(name: str, default: int | None) -> int:
    raw = request.args.get(name)
    if raw is None and default is not None:
        return default
    try:
        return int(raw or "")
    except ValueError:
        raise RequestError(code="invalid_field", message=f"'{name}' must be an integer.") from None


@functools.lru_cache(maxsize=CACHED_PAGES)
def _render(path: str, page: int, side: int) -> bytes:
    return render_page(Path(path).read_bytes(), page, side)


ALLOW = "GET, HEAD, OPTIONS"
# These paths also fit ``/api/documents/<id>`` (ids hold slashes), whose DELETE Flask would route them
# to and list in an automatic ``Allow``: these resources take every method and answer for themselves.
READ = {"methods": ["GET", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"], "provide_automatic_options": False}


@pages.before_request
def _read_only():
    if request.method == "OPTIONS":
        return Response(status=200, headers={"Allow": ALLOW})
    if request.method not in ("GET", "HEAD"):
        resp = error_response(405, "method_not_allowed", f"Method {request.method} is not allowed here.")
        resp.headers["Allow"] = ALLOW
        return resp
    return None


@pages.route("/api/documents/<path:doc_id>/pages/<int(signed=True):page>.png", **READ)
def page_png(doc_id: str, page: int):
    doc = _paged(doc_id)
    if not 1 <= page <= doc["pages"]:
        raise RequestError(code="not_found", message=f"Document {doc_id!r} has pages 1 to {doc['pages']}, not {page}.")
    original = _index().original_file(doc_id)
    if original is None:
        raise RequestError(code="not_found", message=f"The original of {doc_id!r} is not kept; index it again.")
    side = min(MAX_SIDE, max(MIN_SIDE, _int_arg("size", DEFAULT_SIDE)))
    etag = f"{original.stem[:16]}-{page}-{side}"
    if request.if_none_match.contains(etag):
        return Response(status=304)
    try:
        png = _render(str(original), page, side)
    except (OSError, FormatError) as exc:
        raise RequestError(code="not_found", message=f"Page {page} of {doc_id!r} cannot be rendered: {exc}") from exc
    resp = Response(png, mimetype="image/png")
    resp.set_etag(etag)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@pages.route("/api/documents/<path:doc_id>/boxes", **READ)
def char_boxes(doc_id: str):
    doc = _paged(doc_id)
    start, end = _int_arg("start", None), _int_arg("end", None)
    if not 0 <= start <= end <= doc["chars"]:
        raise RequestError(code="invalid_field", message=f"Need 0 <= start <= end <= {doc['chars']}.")
    return {"document": doc_id, **(_index().char_boxes(doc_id, start, end) or {})}
