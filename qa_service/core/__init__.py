"""Shared by every stage: the dataclasses passed between them, text helpers, the tokenizer, settings, errors."""
