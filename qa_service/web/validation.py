"""Request validation: JSON bodies and the fields of ``POST /api/ask``, each refused with a clear code."""

from __future__ import annotations

from typing import Any

from flask import Request

from qa_service.core.errors import RequestError
from qa_service.core.settings import Settings

ROLES = ("user", "assistant")


def json_body(request: Request) -> dict[str, Any]:
    if not request.is_json:
        raise RequestError(
            code="unsupported_media_type", message="Send the request body as JSON (Content-Type: application/json)."
        )
    data = request.get_json(silent=True)
    if data is None:
        raise RequestError(code="invalid_json", message="The request body is not valid JSON.")
    if not isinstance(data, dict):
        raise RequestError(code="invalid_json", message="The request body must be a JSON object.")
    return data


def parse_question(data: dict[str, Any], s: Settings) -> str:
    question = data.get("question")
    if not isinstance(question, str):
        raise RequestError(code="invalid_field", message="'question' is required and must be a string.")
    if len(question) > s.max_question_chars:
        raise RequestError(
            code="question_too_long", message=f"'question' is longer than {s.max_question_chars} characters."
        )
    question = question.strip()
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
