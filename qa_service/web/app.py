"""Flask application factory: the JSON API, the chat page, JSON errors, security headers."""

from __future__ import annotations

import hmac
import logging
import time

from flask import Blueprint, Flask, current_app, g, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map

from qa_service.core.errors import IndexError_, QAError, RequestError
from qa_service.core.settings import PACKAGE_DIR, Settings, from_env
from qa_service.index.fusion import FusionSettings
from qa_service.ops.build import configured_embedder, ensure_backend
from qa_service.ops.live import LiveIndex
from qa_service.qa.neural import load_reader
from qa_service.qa.reader import load_model
from qa_service.qa.service import QAService
from qa_service.web.errors import error_response, status_of
from qa_service.web.openapi import openapi_spec
from qa_service.web.pages import pages
from qa_service.web.readable import readable
from qa_service.web.validation import json_body, parse_ask, parse_document_query, parse_filters

log = logging.getLogger("qa_service.http")

api = Blueprint("api", __name__)

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _live() -> LiveIndex:
    return current_app.extensions["qa_live"]


def _service() -> QAService:
    svc = _live().service
    if svc is None:
        reason = _live().error or "the index is not loaded"
        raise RequestError(code="index_not_ready", message=f"The index is not ready: {reason}")
    return svc


def _require_admin() -> None:
    """Writes need ``Authorization: Bearer <QA_ADMIN_TOKEN>``; with no token configured they are off."""
    token = _settings().admin_token
    if not token:
        raise RequestError(
            code="writes_disabled", message="Adding and deleting documents is disabled: no QA_ADMIN_TOKEN is set."
        )
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise RequestError(code="unauthorized", message="Send the admin token as 'Authorization: Bearer <token>'.")


def _settings() -> Settings:
    return current_app.config["QA_SETTINGS"]


@api.post("/api/ask")
def ask():
    data = json_body(request)
    question, history, top_k, explain = parse_ask(data, _settings())
    filters = parse_filters(data)
    return jsonify(_service().ask(question, history, top_k, explain, filters=filters))


@api.get("/api/documents")
def list_documents():
    query = parse_document_query(request.args)
    catalog = _service().catalog
    page = catalog.page(query)
    return jsonify(
        {
            "documents": page.documents,
            "total": page.total,
            "offset": page.offset,
            "limit": page.limit,
            "next_offset": page.next_offset,
            "indexed": len(catalog),
        }
    )


@api.get("/api/publishers")
def list_publishers():
    publishers = _service().catalog.publishers()
    return jsonify({"publishers": [{"name": name, "documents": n} for name, n in publishers]})


@api.get("/api/documents/<path:doc_id>")
def get_document(doc_id: str):
    doc = _service().index.document(doc_id)
    if doc is None:
        raise RequestError(code="not_found", message=f"No document with id {doc_id!r}.")
    return jsonify(
        {
            "id": doc["id"],
            "title": doc["title"],
            "publisher": doc["publisher"],
            "published": doc["published"],
            "format": doc["format"],
            "url": doc.get("url"),
            "text": doc["text"],
            "readable": readable(doc["text"], doc["articles_list"]),
            "articles": doc["articles_list"],
            # A PDF: its page count, page sizes (points) and pages without a text layer (web/pages.py).
            **{k: doc[k] for k in ("pages", "page_sizes", "scanned_pages", "ocr_pages") if k in doc},
        }
    )


@api.post("/api/documents")
def add_document():
    _require_admin()
    if request.mimetype == "multipart/form-data":
        f = request.files.get("file")
        if f is None or not f.filename:
            raise RequestError(code="invalid_field", message="Send the document as the multipart field 'file'.")
        filename, data = f.filename, f.read(_settings().max_upload_bytes + 1)
    else:
        body = json_body(request)
        filename, text = body.get("filename"), body.get("text")
        if not isinstance(filename, str) or not isinstance(text, str):
            raise RequestError(code="invalid_field", message="'filename' and 'text' are required strings.")
        data = text.encode("utf-8")
    doc = _live().add_document(filename, data)
    resp = jsonify({"document": doc, "passages": len(_service().index)})
    resp.status_code = 201
    return resp


@api.delete("/api/documents/<path:doc_id>")
def delete_document(doc_id: str):
    _require_admin()
    return jsonify(_live().delete_document(doc_id))


@api.get("/api/openapi.json")
def openapi():
    return jsonify(openapi_spec(_settings()))


@api.get("/healthz")
def healthz():
    svc = _live().service
    if svc is None:
        return error_response(503, "index_not_ready", _live().error or "index not loaded")
    svc.index.health()  # an external engine (Milvus) must answer too
    return jsonify(
        {"status": "ok", "mode": svc.mode, "passages": len(svc.index), "documents": len(svc.index.documents)}
    )


@api.get("/")
def chat_page():
    return send_from_directory(current_app.static_folder, "index.html")


class _Routes(Map):
    """No slash redirects: ``//healthz`` is answered as ``/healthz`` (JSON), not with an HTML 308 to it."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["merge_slashes"] = False
        super().__init__(*args, **kwargs)


class _App(Flask):
    url_map_class = _Routes


def create_app(settings: Settings | None = None, service: QAService | None = None) -> Flask:
    """Build the app from ``settings`` (default: the environment, read here once).  Pass ``service``
    to serve an index already in memory (tests)."""
    settings = settings or from_env()
    app = _App(__name__, static_folder=str(PACKAGE_DIR / "web" / "static"), static_url_path="/static")
    app.config["QA_SETTINGS"] = settings
    # The app-wide cap admits an upload; other endpoints are held to max_body_bytes below.
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_body_bytes, settings.max_upload_bytes + 64 * 1024)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    embedder = configured_embedder(settings)
    fusion = FusionSettings.from_settings(settings)
    model = load_model()  # once: every index version the app loads is answered by the same model
    proposer = load_reader(settings.reader_model)

    def make_service(backend):
        return QAService(backend, embedder, fusion, model, proposer)

    error = None
    if service is None:
        try:
            service = make_service(ensure_backend(settings, embedder=embedder))
        except (IndexError_, OSError) as exc:
            log.error("index not loaded: %s", exc)
            error = str(exc)
    live = LiveIndex(settings, service, make_service)
    live.error = error
    if service is not None:
        service.index.tokenizer.tokens("预热")  # load jieba's dictionary now, not on the first request
    app.extensions["qa_live"] = live
    app.register_blueprint(api)
    app.register_blueprint(pages)
    _install_handlers(app)
    return app


def _install_handlers(app: Flask) -> None:
    @app.errorhandler(QAError)
    def _qa_error(e: QAError):
        if isinstance(e, IndexError_):
            # The search engine (Milvus) became unreachable or its collection changed under us.
            log.error("search backend error on %s %s: %s", request.method, request.path, e)
            return error_response(503, "backend_unavailable", f"The search backend is unavailable: {e}")
        return error_response(status_of(e), e.code, e.message)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        codes = {
            404: ("not_found", "No such endpoint."),
            405: ("method_not_allowed", f"Method {request.method} is not allowed here."),
            413: ("payload_too_large", "The request body is too large."),
            415: ("unsupported_media_type", "Unsupported media type."),
        }
        code, message = codes.get(e.code or 500, ("http_error", e.description or "HTTP error"))
        resp = error_response(e.code or 500, code, message)
        if isinstance(e, MethodNotAllowed) and e.valid_methods:
            resp.headers["Allow"] = ", ".join(sorted(e.valid_methods))
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "The server hit an unexpected error; it has been logged.")

    @app.before_request
    def _start_timer():
        g.t0 = time.perf_counter()
        limit = app.config["QA_SETTINGS"].max_body_bytes
        if request.path != "/api/documents" and (request.content_length or 0) > limit:
            return error_response(413, "payload_too_large", f"The request body is larger than {limit} bytes.")
        return None

    @app.after_request
    def _headers(resp):
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        ms = (time.perf_counter() - g.get("t0", time.perf_counter())) * 1000
        log.info("%s %s %d %.1fms", request.method, request.path, resp.status_code, ms)
        return resp
