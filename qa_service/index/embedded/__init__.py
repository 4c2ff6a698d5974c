"""The default backend: BM25 (and optional vectors) in a versioned index folder."""
