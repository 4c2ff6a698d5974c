"""The one place that maps the service's error codes to HTTP statuses, and the JSON error shape.

Every error response is ``{"error": {"code": str, "message": str}}``.  Layers
below the web raise ``core.errors.QAError`` subclasses with a code and know
nothing of HTTP.
"""

from __future__ import annotations

from flask import jsonify

from qa_service.core.errors import DocumentError, IndexError_, QAError, RequestError

STATUS = {
    "unauthorized": 401,
    "writes_disabled": 403,
    "not_found": 404,
    "conflict": 409,
    "read_only": 409,
    "empty_corpus": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "unsupported_type": 415,
    "index_not_ready": 503,
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
    return resp
