"""Files in, a Corpus out: load, clean (with offsets), split into articles, chunk."""
