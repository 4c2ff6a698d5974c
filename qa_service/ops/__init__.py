"""Building, rebuilding and publishing the index, shared by the CLI, start-up and the live service."""
