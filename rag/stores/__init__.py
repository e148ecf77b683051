"""Vector stores behind one interface; see ``rag.stores.base.VectorStore``."""

from rag.stores.base import StoreError, VectorStore
from rag.stores.faiss_store import FaissStore

__all__ = ["FaissStore", "StoreError", "VectorStore"]
