"""Retrieval backends behind one protocol: the embedded index folder, or Milvus."""
