"""Vector stores behind one interface; see ``rag.stores.base.VectorStore``."""

from rag.stores.base import StoreError, VectorStore
from rag.stores.factory import StoreConfig, create_store, load_store
from rag.stores.faiss_store import FaissPolicy, FaissStore

__all__ = ["FaissPolicy", "FaissStore", "StoreConfig", "StoreError", "VectorStore", "create_store", "load_store"]
