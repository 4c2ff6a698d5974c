"""The Milvus backend: the same API served from a Milvus collection."""

from qa_service.index.milvus.backend import MilvusIndex, pointer_dir
from qa_service.index.milvus.config import (
    MilvusCollectionMissing,
    MilvusConfig,
    MilvusError,
    MilvusNotInstalled,
    MilvusSchemaMismatch,
    MilvusUnavailable,
    meta_dir,
)

__all__ = [
    "MilvusCollectionMissing",
    "MilvusConfig",
    "MilvusError",
    "MilvusIndex",
    "MilvusNotInstalled",
    "MilvusSchemaMismatch",
    "MilvusUnavailable",
    "meta_dir",
    "pointer_dir",
]
