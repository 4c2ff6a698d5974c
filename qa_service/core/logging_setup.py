"""Logging configuration shared by the CLI and the WSGI entry point."""

from __future__ import annotations

import logging


def setup_logging(level: str = "INFO") -> None:
    level = level.upper()
    logging.basicConfig(
        level=_level_number(level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _level_number(name: str) -> int:
    number = logging.getLevelName(name)  # the number for a known level name, else a string
    return number if isinstance(number, int) else logging.INFO
