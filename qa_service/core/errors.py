"""One error tree for the whole service.

Every error the service means to report is a :class:`QAError` with a stable
``code`` (a snake_case word the API returns) and a human ``message``.  Layers
below the web raise these and know nothing of HTTP; ``web/errors.py`` is the
one place that maps codes to HTTP statuses, and the CLI prints the message.
"""

from __future__ import annotations


class QAError(Exception):
    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(QAError):
    """A setting (environment variable or flag) has a value the service cannot use."""

    code = "invalid_setting"


class RequestError(QAError):
    """A request the service refuses: bad JSON, a bad field, a missing token, too large…"""

    code = "invalid_request"


class DocumentError(QAError):
    """A document cannot be added or deleted as asked (not found, conflict, unreadable…)."""

    code = "invalid_document"


class IndexBusy(DocumentError):
    """A write that waited its bounded time for the write lock another build or change holds."""

    code = "index_busy"


class IndexError_(QAError):
    """The index (or the engine holding it) cannot be used."""

    code = "index_error"


class IndexMissing(IndexError_):
    code = "index_missing"


class IndexIncompatible(IndexError_):
    code = "index_incompatible"


class IndexCorrupt(IndexError_):
    code = "index_corrupt"


class BackendUnavailable(IndexError_):
    """An external search engine stopped answering or changed under the service."""

    code = "backend_unavailable"
