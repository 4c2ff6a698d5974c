"""The one place that maps the service's error codes to HTTP statuses, and the JSON error shape.

Every error response is ``{"error": {"code": str, "message": str}}``.  Layers
below the web raise ``core.errors.QAError`` subclasses with a code and know
nothing of HTTP.
"""

from __future__ import annotations

import json

from flask import jsonify

from qa_service.core.errors import DocumentError, IndexError_, QAError, RequestError

STATUS = {
    "unauthorized": 401,
    "writes_disabled": 403,
    "not_found": 404,
    "conflict": 409,
    "read_only": 409,
    "empty_corpus": 409,
    "corpus_unavailable": 409,
    "payload_too_large": 413,
    "document_too_large": 413,  # a PDF or Word file past a bound: pages, characters, unpacked size
    "unsupported_media_type": 415,
    "unsupported_type": 415,
    "index_not_ready": 503,
    "index_busy": 503,  # another write held the write lock longer than QA_WRITE_WAIT_SECONDS
    # Written by the server itself (web/server.py), before a request reaches the app.
    "bad_request": 400,
    "request_timeout": 408,
    "uri_too_long": 414,
    "headers_too_large": 431,
    "not_implemented": 501,
    "server_busy": 503,
}

RETRY_BUSY_S = 10  # what an index_busy answer suggests waiting

# The server's own refusals: (reason phrase, message).
RAW = {
    400: ("Bad Request", "The request is not valid HTTP."),
    408: ("Request Timeout", "The request did not arrive in time; send it again, whole."),
    413: ("Payload Too Large", "The request body is larger than the server accepts."),
    414: ("URI Too Long", "The request line is too long."),
    431: ("Request Header Fields Too Large", "The request headers are too large."),
    500: ("Internal Server Error", "The server hit an unexpected error; it has been logged."),
    501: ("Not Implemented", "The request uses a transfer coding the server does not implement."),
    503: ("Service Unavailable", "The server holds too many request bodies; try again shortly."),
}


def status_of(error: QAError) -> int:
    if isinstance(error, IndexError_):
        return 503  # the index or its engine cannot answer: a server-side, temporary condition
    if isinstance(error, RequestError | DocumentError):
        return STATUS.get(error.code, 400)
    return 500


def error_response(status: int, code: str, message: str):
    resp = jsonify({"error": {"code": code, "message": message}})
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="qa-service"'
    if code == "index_busy":
        resp.headers["Retry-After"] = str(RETRY_BUSY_S)
    return resp


def raw_error(status: int, code: str) -> bytes:
    """A whole HTTP/1.1 error response with the JSON shape, for the server to write before (or
    instead of) the app: a request refused while it was being read, or one gunicorn cannot parse."""
    reason, message = RAW.get(status, RAW[500])
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Content-Type-Options: nosniff\r\n\r\n"
    )
    return head.encode("latin-1") + body
