"""WSGI entry point for gunicorn: ``gunicorn qa_service.web.wsgi:app`` (settings from QA_* env vars)."""

from qa_service.core.logging_setup import setup_logging
from qa_service.web.app import create_app

setup_logging()
app = create_app()
