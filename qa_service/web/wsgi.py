"""WSGI entry point for gunicorn: ``gunicorn qa_service.web.wsgi:app`` (settings from QA_* env vars)."""

from qa_service.core.logging_setup import setup_logging
from qa_service.core.settings import from_env
from qa_service.web.app import create_app

settings = from_env()
setup_logging(settings.log_level)
app = create_app(settings)
