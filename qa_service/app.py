"""Flask application factory: the JSON API, the chat page, JSON errors, security headers."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

from .config import PACKAGE_DIR, Settings, from_env
from .index import IndexError_
from .service import QAService, ensure_index

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


def _service() -> QAService:
    svc = current_app.extensions.get("qa_service")
    if svc is None:
        reason = current_app.extensions.get("qa_index_error", "the index is not loaded")
        raise ApiError(503, "index_not_ready", f"The index is not ready: {reason}")
    return svc


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
    question = question.strip()
    if not question:
        raise ApiError(400, "empty_question", "'question' must not be empty.")
    if len(question) > s.max_question_chars:
        raise ApiError(400, "question_too_long", f"'question' is longer than {s.max_question_chars} characters.")
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


@api.get("/healthz")
def healthz():
    svc = current_app.extensions.get("qa_service")
    if svc is None:
        return error_response(503, "index_not_ready", current_app.extensions.get("qa_index_error", "index not loaded"))
    return jsonify(
        {"status": "ok", "mode": svc.mode, "passages": len(svc.index), "documents": len(svc.index.documents)}
    )


@api.get("/")
def chat_page():
    return send_from_directory(current_app.static_folder, "index.html")


def create_app(settings: Settings | None = None, service: QAService | None = None) -> Flask:
    """Build the app.  Pass ``service`` to serve an index already in memory (tests)."""
    settings = settings or from_env()
    app = Flask(__name__, static_folder=str(PACKAGE_DIR / "static"), static_url_path="/static")
    app.config["QA_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    if service is None:
        try:
            index = ensure_index(settings.index_dir, settings.corpus, settings.build_if_missing)
            service = QAService(index)
        except (IndexError_, OSError) as exc:
            log.error("index not loaded: %s", exc)
            app.extensions["qa_index_error"] = str(exc)
    if service is not None:
        service.index.tokenizer.tokens("预热")  # load jieba's dictionary now, not on the first request
        app.extensions["qa_service"] = service
    app.register_blueprint(api)
    _install_handlers(app)
    return app


def _install_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):
        return error_response(e.status, e.code, e.message)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        codes = {
            404: ("not_found", "No such endpoint."),
            405: ("method_not_allowed", f"Method {request.method} is not allowed here."),
            413: ("payload_too_large", f"The request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes."),
            415: ("unsupported_media_type", "Unsupported media type."),
        }
        code, message = codes.get(e.code or 500, ("http_error", e.description or "HTTP error"))
        return error_response(e.code or 500, code, message)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "The server hit an unexpected error; it has been logged.")

    @app.before_request
    def _start_timer():
        g.t0 = time.perf_counter()

    @app.after_request
    def _headers(resp):
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        ms = (time.perf_counter() - g.get("t0", time.perf_counter())) * 1000
        log.info("%s %s %d %.1fms", request.method, request.path, resp.status_code, ms)
        return resp
