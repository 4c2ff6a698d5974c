"""The HTTP layer: Flask app factory, API blueprint, OpenAPI, WSGI entry, the chat page."""
