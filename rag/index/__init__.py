"""The on-disk index, in four parts: `layout` (the folder, CURRENT, lock, manifests, checksums, atomic
publish), `catalog` (SQLite), `reader` (a loaded snapshot) and `writer` (incremental updates)."""

from rag.errors import IndexError_
from rag.index.catalog import DocumentInfo
from rag.index.layout import (
    CATALOG_FILE,
    CURRENT_FILE,
    MANIFEST_FILE,
    REBUILD_HINT,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    current_name,
    current_snapshot,
    index_exists,
    index_lock,
    read_manifest,
)
from rag.index.reader import DocumentIndex
from rag.index.writer import Indexer, IndexReport

__all__ = [
    "CATALOG_FILE", "CURRENT_FILE", "MANIFEST_FILE", "REBUILD_HINT", "DocumentIndex", "DocumentInfo",
    "IndexCorruptError", "IndexError_", "IndexLockedError", "IndexMismatchError", "IndexMissingError",
    "IndexReport", "Indexer",
    "current_name", "current_snapshot", "index_exists", "index_lock", "read_manifest",
]
