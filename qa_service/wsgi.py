"""WSGI entry point for gunicorn: ``gunicorn qa_service.wsgi:app`` (settings from QA_* env vars)."""

from .app import create_app
from .logging_setup import setup_logging

setup_logging()
app = create_app()
