"""qa-service: Chinese question answering over news articles with exact citations."""

__version__ = "0.1.0"
