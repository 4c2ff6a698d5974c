"""The API as OpenAPI 3.0, served at /api/openapi.json (and fuzzed by the tests)."""

from __future__ import annotations

from typing import Any

from qa_service.core.settings import Settings
from qa_service.web.validation import document_query_parameters


def _error() -> dict[str, Any]:
    return {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _nullable(t: str) -> dict[str, Any]:
    return {"type": t, "nullable": True}


PUBLISHER = {"type": "object", "properties": {"name": {"type": "string"}, "documents": {"type": "integer"}}}
PUBLISHERS = {"type": "object", "properties": {"publishers": {"type": "array", "items": PUBLISHER}}}
ISO_DATE = {"type": "string", "nullable": True, "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}


def openapi_spec(s: Settings) -> dict[str, Any]:
    errors = {str(code): _error() for code in (400, 413, 415, 503)}
    source = {
        "type": "object",
        "required": ["document", "title", "published", "publisher", "attribution", "char_start", "char_end"],
        "properties": {
            "document": {"type": "string"},
            "title": {"type": "string"},
            "section": _nullable("string"),
            "published": _nullable("string"),
            "publisher": _nullable("string"),
            "attribution": _nullable("string"),
            "char_start": {"type": "integer", "minimum": 0},
            "char_end": {"type": "integer", "minimum": 0},
            # PDFs: where the cited characters are on the page (1-based pages; boxes in points from the top-left).
            "page": {"type": "integer", "minimum": 1},
            "page_end": {"type": "integer", "minimum": 1},
            "boxes": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "qa-service",
            "version": "1",
            "description": "Chinese question answering over news articles. Every passage cites the exact "
            "characters of its source: char_start/char_end index the document's original text.",
        },
        "paths": {
            "/api/ask": {
                "post": {
                    "summary": "Answer a question",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AskRequest"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "Answer and passages, best first",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AskResponse"}}},
                        },
                        **errors,
                    },
                }
            },
            "/api/documents": {
                "get": {
                    "summary": "List the indexed documents a page at a time, searched and filtered",
                    "parameters": document_query_parameters(),
                    "responses": {
                        "200": {
                            "description": "Documents",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DocumentList"}}},
                        },
                        **{str(c): _error() for c in (400, 503)},
                    },
                },
                "post": {
                    "summary": "Add a document and re-index (admin token required)",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["filename", "text"],
                                    "properties": {
                                        "filename": {
                                            "type": "string",
                                            "maxLength": 255,
                                            "description": "ends in .txt, .md, .html, .pdf or .docx; no folders",
                                        },
                                        "text": {"type": "string"},
                                    },
                                }
                            },
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {"file": {"type": "string", "format": "binary"}},
                                }
                            },
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Added",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **{str(c): _error() for c in (400, 401, 403, 409, 413, 415, 503)},
                    },
                },
            },
            "/api/documents/{doc_id}": {
                "parameters": [{"name": "doc_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {
                    "summary": "A document's original text and its articles",
                    "responses": {
                        "200": {
                            "description": "Document",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Document"}}},
                        },
                        "404": _error(),
                        "503": _error(),
                    },
                },
                "delete": {
                    "summary": "Remove a document and re-index (admin token required)",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": {
                            "description": "Removed",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **{str(c): _error() for c in (401, 403, 404, 409, 503)},
                    },
                },
            },
            "/api/documents/{doc_id}/pages/{page}.png": {
                "parameters": [
                    {"name": "doc_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "page", "in": "path", "required": True, "schema": {"type": "integer"}},
                    {"name": "size", "in": "query", "schema": {"type": "integer"}, "description": "px, 200-2000"},
                ],
                "get": {
                    "summary": "A page of a PDF document as a PNG (1-based page number)",
                    "responses": {
                        "200": {"description": "The page", "content": {"image/png": {"schema": {"type": "string"}}}},
                        "304": {"description": "Not modified (If-None-Match)"},
                        **{str(c): _error() for c in (400, 404, 503)},
                    },
                },
            },
            "/api/documents/{doc_id}/boxes": {
                "parameters": [
                    {"name": "doc_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "start", "in": "query", "required": True, "schema": {"type": "integer"}},
                    {"name": "end", "in": "query", "required": True, "schema": {"type": "integer"}},
                ],
                "get": {
                    "summary": "Page and per-line boxes of a PDF document's characters [start, end)",
                    "responses": {
                        "200": {"description": "Box", "content": {"application/json": {"schema": {"type": "object"}}}},
                        **{str(c): _error() for c in (400, 404, 503)},
                    },
                },
            },
            "/api/publishers": {
                "get": {
                    "summary": "The publishers of the indexed documents, with how many each published, most first",
                    "responses": {
                        "200": {"description": "Publishers", "content": {"application/json": {"schema": PUBLISHERS}}},
                        "503": _error(),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness and index status",
                    "responses": {
                        "200": {
                            "description": "Ready",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "503": _error(),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                },
                "AskRequest": {
                    "type": "object",
                    "required": ["question"],
                    "properties": {
                        "question": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": s.max_question_chars,
                            "pattern": r"\S",  # not blank
                        },
                        "top_k": {"type": "integer", "minimum": 1, "maximum": s.max_top_k, "default": s.default_top_k},
                        "history": {
                            "type": "array",
                            "nullable": True,
                            "maxItems": s.max_history,
                            "items": {
                                "type": "object",
                                "required": ["role", "content"],
                                "properties": {
                                    "role": {"type": "string", "enum": ["user", "assistant"]},
                                    "content": {"type": "string", "maxLength": s.max_history_chars},
                                },
                            },
                        },
                        "explain": {"type": "boolean", "default": False},
                        "filters": {"$ref": "#/components/schemas/AskFilters"},
                    },
                },
                "AskFilters": {
                    "type": "object",
                    "nullable": True,
                    "additionalProperties": False,
                    "description": "Answer only from passages that match every filter given: published from/to "
                    "(inclusive; a passage without a date is out once either is set), by the publisher (exact), "
                    "in one of the documents (ids from GET /api/documents). Applied inside retrieval.",
                    "properties": {
                        "published_from": ISO_DATE,
                        "published_to": ISO_DATE,
                        "publisher": {"type": "string", "nullable": True, "minLength": 1, "maxLength": 300},
                        "documents": {
                            "type": "array",
                            "nullable": True,
                            "minItems": 1,
                            "maxItems": 1000,
                            "items": {"type": "string", "minLength": 1, "maxLength": 300},
                        },
                    },
                },
                "AskResponse": {
                    "type": "object",
                    "required": ["question", "answer", "passages", "took_ms"],
                    "properties": {
                        "question": {"type": "string"},
                        "mode": {"type": "string"},
                        "rewritten_question": {"type": "string"},
                        "notice": {
                            "type": "string",
                            "description": "Set when the question has no Chinese and the corpus does not hold its "
                            "words: the service answers Chinese questions.",
                        },
                        "took_ms": {"type": "number"},
                        "answer": {
                            "type": "object",
                            "required": ["text", "items", "passage"],
                            "properties": {
                                "text": _nullable("string"),
                                "passage": _nullable("integer"),
                                "span": {"type": "array", "items": {"type": "integer"}, "nullable": True},
                                "confidence": {"type": "number"},
                                "evidence": {
                                    "type": "object",
                                    "nullable": True,
                                    "description": "The whole sentence the short answer comes from: its text, the "
                                    "passage (index into passages) and its span in that passage's text.",
                                    "required": ["text", "passage", "span"],
                                    "properties": {
                                        "text": {"type": "string"},
                                        "passage": {"type": "integer"},
                                        "span": {"type": "array", "items": {"type": "integer"}},
                                    },
                                },
                                "items": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["text", "passages"],
                                        "properties": {
                                            "text": {"type": "string"},
                                            "passages": {"type": "array", "items": {"type": "integer"}},
                                        },
                                    },
                                },
                                "slots": {
                                    "type": "array",
                                    "description": "For a question asking two or three things "
                                    "(是哪天开的？会上是谁讲的话？) or the same of two to four things "
                                    "(A和B的会议分别是哪天召开的？): one answer per part, each cited like the answer "
                                    "(the first is the answer itself; a passage a part cites is among the passages "
                                    "returned); empty otherwise.",
                                    "items": {
                                        "type": "object",
                                        "required": ["question", "text", "passage", "span", "evidence"],
                                        "properties": {
                                            "question": {"type": "string"},
                                            "text": _nullable("string"),
                                            "passage": _nullable("integer"),
                                            "span": {"type": "array", "items": {"type": "integer"}, "nullable": True},
                                            "confidence": {"type": "number"},
                                            "evidence": {"type": "object", "nullable": True},
                                        },
                                    },
                                },
                            },
                        },
                        "passages": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "text", "score", "highlights", "source"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "text": {"type": "string"},
                                    "score": {"type": "number"},
                                    "highlights": {
                                        "type": "array",
                                        "items": {"type": "array", "items": {"type": "integer"}},
                                    },
                                    "source": source,
                                    "explain": {"type": "object"},
                                },
                            },
                        },
                    },
                },
                "DocumentList": {
                    "type": "object",
                    "required": ["documents", "total", "offset", "limit", "next_offset", "indexed"],
                    "properties": {
                        "total": {"type": "integer", "description": "documents matching the query"},
                        "offset": {"type": "integer"},
                        "limit": {"type": "integer"},
                        "next_offset": {**_nullable("integer"), "description": "the next page's offset; null: last"},
                        "indexed": {"type": "integer", "description": "documents the index holds"},
                        "documents": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "title"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "title": {"type": "string"},
                                    "publisher": _nullable("string"),
                                    "published": _nullable("string"),
                                    "format": {"type": "string"},
                                    "articles": {"type": "integer"},
                                },
                            },
                        },
                    },
                },
                "Document": {
                    "type": "object",
                    "required": ["id", "text", "articles"],
                    "properties": {
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "text": {"type": "string"},
                        "publisher": _nullable("string"),
                        "published": _nullable("string"),
                        "format": {"type": "string"},
                        "url": _nullable("string"),
                        "articles": {"type": "array", "items": {"type": "object"}},
                        "pages": {"type": "integer", "description": "PDF only: its page count"},
                        "page_sizes": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                        "scanned_pages": {"type": "array", "items": {"type": "integer"}},
                    },
                },
            },
        },
    }
