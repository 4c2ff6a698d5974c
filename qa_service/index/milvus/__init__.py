"""The Milvus backend: the same API served from a Milvus collection."""
