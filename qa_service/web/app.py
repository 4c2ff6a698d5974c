"""Flask application factory: the JSON API, the chat page, JSON errors, security headers."""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from qa_service.core.settings import PACKAGE_DIR, Settings, from_env
from qa_service.index.embedded.store import IndexError_
from qa_service.ops.live import LiveIndex, WriteError
from qa_service.qa.service import QAService, open_index
from qa_service.web.openapi import openapi_spec

log = logging.getLogger("qa_service.http")

api = Blueprint("api", __name__)

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str):
    resp = jsonify({"error": {"code": code, "message": message}})
    resp.status_code = status
    return resp


def _live() -> LiveIndex:
    return current_app.extensions["qa_live"]


def _service() -> QAService:
    svc = _live().service
    if svc is None:
        reason = _live().error or "the index is not loaded"
        raise ApiError(503, "index_not_ready", f"The index is not ready: {reason}")
    return svc


def _require_admin() -> None:
    """Writes need ``Authorization: Bearer <QA_ADMIN_TOKEN>``; with no token configured they are off."""
    token = _settings().admin_token
    if not token:
        raise ApiError(403, "writes_disabled", "Adding and deleting documents is disabled: no QA_ADMIN_TOKEN is set.")
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise ApiError(401, "unauthorized", "Send the admin token as 'Authorization: Bearer <token>'.")


def _settings() -> Settings:
    return current_app.config["QA_SETTINGS"]


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the request body as JSON (Content-Type: application/json).")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return data


def parse_ask(data: dict[str, Any], s: Settings) -> tuple[str, list[dict[str, str]], int, bool]:
    question = data.get("question")
    if not isinstance(question, str):
        raise ApiError(400, "invalid_field", "'question' is required and must be a string.")
    if len(question) > s.max_question_chars:
        raise ApiError(400, "question_too_long", f"'question' is longer than {s.max_question_chars} characters.")
    question = question.strip()
    if not question:
        raise ApiError(400, "empty_question", "'question' must not be empty.")
    top_k = data.get("top_k", s.default_top_k)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= s.max_top_k:
        raise ApiError(400, "invalid_field", f"'top_k' must be an integer from 1 to {s.max_top_k}.")
    history = data.get("history", [])
    if history is None:
        history = []
    if not isinstance(history, list):
        raise ApiError(400, "invalid_field", "'history' must be a list of {role, content} objects.")
    if len(history) > s.max_history:
        raise ApiError(400, "history_too_long", f"'history' holds more than {s.max_history} turns.")
    clean_history = []
    for i, turn in enumerate(history):
        if (
            not isinstance(turn, dict)
            or turn.get("role") not in ("user", "assistant")
            or not isinstance(turn.get("content"), str)
        ):
            raise ApiError(
                400, "invalid_field", f'\'history[{i}]\' must be {{"role": "user"|"assistant", "content": str}}.'
            )
        if len(turn["content"]) > s.max_history_chars:
            raise ApiError(
                400, "history_too_long", f"'history[{i}].content' is longer than {s.max_history_chars} characters."
            )
        clean_history.append({"role": turn["role"], "content": turn["content"]})
    explain = data.get("explain", False)
    if not isinstance(explain, bool):
        raise ApiError(400, "invalid_field", "'explain' must be true or false.")
    return question, clean_history, top_k, explain


@api.post("/api/ask")
def ask():
    data = _json_body()
    question, history, top_k, explain = parse_ask(data, _settings())
    return jsonify(_service().ask(question, history, top_k, explain))


@api.get("/api/documents")
def list_documents():
    svc = _service()
    docs = [
        {k: d.get(k) for k in ("id", "title", "publisher", "published", "format", "articles")}
        for d in svc.index.documents
    ]
    return jsonify({"documents": docs})


@api.get("/api/documents/<path:doc_id>")
def get_document(doc_id: str):
    doc = _service().index.document(doc_id)
    if doc is None:
        raise ApiError(404, "not_found", f"No document with id {doc_id!r}.")
    return jsonify(
        {
            "id": doc["id"],
            "title": doc["title"],
            "publisher": doc["publisher"],
            "published": doc["published"],
            "format": doc["format"],
            "url": doc.get("url"),
            "text": doc["text"],
            "articles": doc["articles_list"],
        }
    )


@api.post("/api/documents")
def add_document():
    _require_admin()
    if request.mimetype == "multipart/form-data":
        f = request.files.get("file")
        if f is None or not f.filename:
            raise ApiError(400, "invalid_field", "Send the document as the multipart field 'file'.")
        filename, data = f.filename, f.read(_settings().max_upload_bytes + 1)
    else:
        body = _json_body()
        filename, text = body.get("filename"), body.get("text")
        if not isinstance(filename, str) or not isinstance(text, str):
            raise ApiError(400, "invalid_field", "'filename' and 'text' are required strings.")
        data = text.encode("utf-8")
    try:
        doc = _live().add_document(filename, data)
    except WriteError as e:
        raise ApiError(e.status, e.code, e.message) from e
    resp = jsonify({"document": doc, "passages": len(_service().index)})
    resp.status_code = 201
    return resp


@api.delete("/api/documents/<path:doc_id>")
def delete_document(doc_id: str):
    _require_admin()
    try:
        result = _live().delete_document(doc_id)
    except WriteError as e:
        raise ApiError(e.status, e.code, e.message) from e
    return jsonify(result)


@api.get("/api/openapi.json")
def openapi():
    return jsonify(openapi_spec(_settings()))


@api.get("/healthz")
def healthz():
    svc = _live().service
    if svc is None:
        return error_response(503, "index_not_ready", _live().error or "index not loaded")
    ping = getattr(svc.index, "ping", None)  # an external engine (Milvus) must answer too
    if ping is not None:
        ping()
    return jsonify(
        {"status": "ok", "mode": svc.mode, "passages": len(svc.index), "documents": len(svc.index.documents)}
    )


@api.get("/")
def chat_page():
    return send_from_directory(current_app.static_folder, "index.html")


def create_app(settings: Settings | None = None, service: QAService | None = None) -> Flask:
    """Build the app.  Pass ``service`` to serve an index already in memory (tests)."""
    settings = settings or from_env()
    app = Flask(__name__, static_folder=str(PACKAGE_DIR / "web" / "static"), static_url_path="/static")
    app.config["QA_SETTINGS"] = settings
    # The app-wide cap admits an upload; other endpoints are held to max_body_bytes below.
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_body_bytes, settings.max_upload_bytes + 64 * 1024)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    error = None
    if service is None:
        try:
            service = QAService(open_index(settings))
        except (IndexError_, OSError) as exc:
            log.error("index not loaded: %s", exc)
            error = str(exc)
    live = LiveIndex(settings, service)
    live.error = error
    if service is not None:
        service.index.tokenizer.tokens("预热")  # load jieba's dictionary now, not on the first request
    app.extensions["qa_live"] = live
    app.register_blueprint(api)
    _install_handlers(app)
    return app


def _install_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):
        return error_response(e.status, e.code, e.message)

    @app.errorhandler(IndexError_)
    def _backend_error(e: IndexError_):
        # The search engine (Milvus) became unreachable or its collection changed under us.
        log.error("search backend error on %s %s: %s", request.method, request.path, e)
        return error_response(503, "backend_unavailable", f"The search backend is unavailable: {e}")

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
