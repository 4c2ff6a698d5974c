"""Loaders of binary formats (PDF, Word): each turns a file's bytes into a ``Document`` whose ``text``
is the extracted text, which cleaning, segmentation and chunking then read like any other."""

from __future__ import annotations


class FormatError(ValueError):
    """The file cannot be read as its format: encrypted, corrupt, or past a size bound.  ``code`` is
    the API's error code for an upload of it."""

    def __init__(self, message: str, code: str = "unreadable_document") -> None:
        super().__init__(message)
        self.code = code
