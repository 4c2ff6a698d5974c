"""Request validation: JSON bodies and the fields of ``POST /api/ask``, each refused with a clear code."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import Request

from qa_service.core.errors import RequestError
from qa_service.core.settings import Settings
from qa_service.index import Filters
from qa_service.index.catalog import DocumentQuery

ROLES = ("user", "assistant")
MAX_JSON_DEPTH = 16  # the API's bodies are 3 deep; a deeper one is an attack or a mistake
_SURROGATE = re.compile("[\ud800-\udfff]")
# What the schema's "not blank" (pattern \S, ECMA-262) counts as blank; str.strip() also takes U+0085
# and a few control characters, which would make a question the schema accepts an empty one.
_BLANK = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(map(chr, range(0x2000, 0x200B)))


def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object, with no string (key or value) holding a lone surrogate (``"\\ud800"``
    decodes to one and cannot be encoded again) and no nesting deeper than ``MAX_JSON_DEPTH``."""
    if not request.is_json:
        raise RequestError(
            code="unsupported_media_type", message="Send the request body as JSON (Content-Type: application/json)."
        )
    try:
        data = json.loads(request.get_data(cache=True))
    except RecursionError:
        raise RequestError(code="invalid_json", message="The request body is nested too deeply.") from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise RequestError(code="invalid_json", message="The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise RequestError(code="invalid_json", message="The request body must be a JSON object.")
    _check_json(data)
    return data


def _check_json(data: Any) -> None:
    todo: list[tuple[Any, int]] = [(data, 1)]
    while todo:
        value, depth = todo.pop()
        if depth > MAX_JSON_DEPTH:
            raise RequestError(
                code="invalid_json", message=f"The request body is nested deeper than {MAX_JSON_DEPTH} levels."
            )
        if isinstance(value, dict):
            todo.extend((k, depth) for k in value)
            todo.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            todo.extend((v, depth + 1) for v in value)
        elif isinstance(value, str) and _SURROGATE.search(value):
            raise RequestError(
                code="invalid_text",
                message="The request holds a lone UTF-16 surrogate (like \\ud800), which is not text; send UTF-8.",
            )


def parse_question(data: dict[str, Any], s: Settings) -> str:
    question = data.get("question")
    if not isinstance(question, str):
        raise RequestError(code="invalid_field", message="'question' is required and must be a string.")
    if len(question) > s.max_question_chars:
        raise RequestError(
            code="question_too_long", message=f"'question' is longer than {s.max_question_chars} characters."
        )
    question = question.strip(_BLANK)
    if not question:
        raise RequestError(code="empty_question", message="'question' must not be empty.")
    return question


def parse_top_k(data: dict[str, Any], s: Settings) -> int:
    top_k = data.get("top_k", s.default_top_k)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= s.max_top_k:
        raise RequestError(code="invalid_field", message=f"'top_k' must be an integer from 1 to {s.max_top_k}.")
    return top_k


def parse_history(data: dict[str, Any], s: Settings) -> list[dict[str, str]]:
    history = data.get("history", [])
    if history is None:
        return []
    if not isinstance(history, list):
        raise RequestError(code="invalid_field", message="'history' must be a list of {role, content} objects.")
    if len(history) > s.max_history:
        raise RequestError(code="history_too_long", message=f"'history' holds more than {s.max_history} turns.")
    return [_turn(i, turn, s) for i, turn in enumerate(history)]


def _turn(i: int, turn: Any, s: Settings) -> dict[str, str]:
    if not isinstance(turn, dict) or turn.get("role") not in ROLES or not isinstance(turn.get("content"), str):
        raise RequestError(
            code="invalid_field", message=f'\'history[{i}]\' must be {{"role": "user"|"assistant", "content": str}}.'
        )
    if len(turn["content"]) > s.max_history_chars:
        raise RequestError(
            code="history_too_long", message=f"'history[{i}].content' is longer than {s.max_history_chars} characters."
        )
    return {"role": turn["role"], "content": turn["content"]}


def parse_ask(data: dict[str, Any], s: Settings) -> tuple[str, list[dict[str, str]], int, bool]:
    """The question, history, top_k and explain flag of an ask request, validated."""
    question = parse_question(data, s)
    top_k = parse_top_k(data, s)
    history = parse_history(data, s)
    explain = data.get("explain", False)
    if not isinstance(explain, bool):
        raise RequestError(code="invalid_field", message="'explain' must be true or false.")
    return question, history, top_k, explain


FILTER_KEYS = ("published_from", "published_to", "publisher", "documents")
MAX_FILTER_DOCUMENTS = 1000
MAX_FILTER_CHARS = 300  # a publisher or a document id
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _bad_filter(message: str) -> RequestError:
    return RequestError(code="invalid_field", message=message)


def _filter_date(filters: Mapping[str, Any], key: str, prefix: str = "filters.") -> str | None:
    value = filters.get(key)
    if value is None:
        return None
    try:
        if isinstance(value, str) and _ISO_DATE.fullmatch(value):
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise _bad_filter(f"'{prefix}{key}' must be a date as YYYY-MM-DD.")


def _filter_text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_FILTER_CHARS:
        raise _bad_filter(f"'{what}' must be a string of 1 to {MAX_FILTER_CHARS} characters.")
    return value


def parse_filters(data: dict[str, Any]) -> Filters | None:
    """``filters``: ``{"published_from", "published_to"}`` (YYYY-MM-DD, inclusive), ``"publisher"`` (exact),
    ``"documents"`` (ids); all optional, none other.  A range whose end is before its start is not an
    error: nothing matches it."""
    filters = data.get("filters")
    if filters is None:
        return None
    if not isinstance(filters, dict):
        raise _bad_filter(f"'filters' must be an object with any of {', '.join(FILTER_KEYS)}.")
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        raise _bad_filter(f"'filters' has unknown keys {unknown}; allowed: {', '.join(FILTER_KEYS)}.")
    publisher = filters.get("publisher")
    documents = filters.get("documents")
    if documents is not None:
        if not isinstance(documents, list) or not 1 <= len(documents) <= MAX_FILTER_DOCUMENTS:
            raise _bad_filter(f"'filters.documents' must be a list of 1 to {MAX_FILTER_DOCUMENTS} document ids.")
        documents = tuple(_filter_text(d, f"filters.documents[{i}]") for i, d in enumerate(documents))
    return Filters(
        published_from=_filter_date(filters, "published_from"),
        published_to=_filter_date(filters, "published_to"),
        publisher=None if publisher is None else _filter_text(publisher, "filters.publisher"),
        documents=documents,
    )


LIST_KEYS = ("q", "publisher", "published_from", "published_to", "order", "offset", "limit")
MAX_LIST_LIMIT = 1000
DEFAULT_LIST_LIMIT = 100
MAX_LIST_OFFSET = 100_000_000


def _list_int(args: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    value = args.get(key)
    if value is None:
        return default
    # At most 12 digits: int() of thousands of them is slow, and past 4,300 an error of its own.
    if not value.isascii() or not value.isdigit() or len(value) > 12 or not low <= int(value) <= high:
        raise RequestError(code="invalid_field", message=f"'{key}' must be an integer from {low} to {high}.")
    return int(value)


def parse_document_query(args: Mapping[str, str]) -> DocumentQuery:
    """``GET /api/documents``'s query string: ``q`` (in the title or file name), ``publisher``,
    ``published_from``/``published_to`` (YYYY-MM-DD), ``order`` (desc|asc), ``offset``, ``limit``;
    an empty ``q`` or ``publisher`` is the same as none (a cleared search box)."""
    unknown = sorted(set(args) - set(LIST_KEYS))
    if unknown:
        allowed = ", ".join(LIST_KEYS)
        raise RequestError(code="invalid_field", message=f"Unknown parameters {unknown}; allowed: {allowed}.")
    given = {k: v for k, v in args.items() if v != "" or k not in ("q", "publisher")}
    text = {k: _filter_text(given[k], k) for k in ("q", "publisher") if k in given}
    dates = {k: _filter_date(given, k, prefix="") for k in ("published_from", "published_to")}
    order = given.get("order", "desc")
    if order not in ("desc", "asc"):
        raise RequestError(code="invalid_field", message="'order' must be 'desc' (newest first) or 'asc'.")
    return DocumentQuery(
        search=text.get("q"),
        publisher=text.get("publisher"),
        order=order,
        offset=_list_int(given, "offset", 0, 0, MAX_LIST_OFFSET),
        limit=_list_int(given, "limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT),
        **dates,
    )


def document_query_parameters() -> list[dict[str, Any]]:
    """``parse_document_query``'s parameters as the OpenAPI spec describes them."""
    text, day = {"type": "string", "maxLength": MAX_FILTER_CHARS}, {"type": "string", "format": "date"}
    order = {"type": "string", "enum": ["desc", "asc"], "default": "desc"}
    offset = {"type": "integer", "minimum": 0, "maximum": MAX_LIST_OFFSET, "default": 0}
    limit = {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT, "default": DEFAULT_LIST_LIMIT}
    about = [
        ("q", text, "words in the title or file name (ASCII letters in either case); empty: any"),
        ("publisher", text, "this publisher exactly (GET /api/publishers lists them); empty: any"),
        ("published_from", day, "published on or after this day; undated documents never match a range"),
        ("published_to", day, "published on or before this day"),
        ("order", order, "by date published, newest (desc) or oldest (asc) first; undated last; then by title"),
        ("offset", offset, "documents skipped"),
        ("limit", limit, "documents returned at most"),
    ]
    return [{"name": n, "in": "query", "required": False, "schema": sc, "description": d} for n, sc, d in about]
