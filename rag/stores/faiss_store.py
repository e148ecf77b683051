"""FAISS store: exact inner-product search with id mapping, persisted with faiss' own format (no pickle)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import faiss
import numpy as np

from rag.stores.base import StoreError

log = logging.getLogger(__name__)

VECTORS_FILE = "vectors.faiss"


class FaissStore:
    kind = "faiss"

    def __init__(self, dimension: int, index: faiss.Index | None = None):
        self.dimension = dimension
        # IDMap2 keeps ids addressable for removal; flat IP is exact and fast far beyond the seeds' size.
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    @classmethod
    def load(cls, directory: Path, dimension: int) -> FaissStore:
        path = Path(directory) / VECTORS_FILE
        if not path.is_file():
            raise StoreError(f"vector file missing: {path}")
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise StoreError(f"vector file {path} is truncated or not a FAISS index ({exc})") from None
        if index.d != dimension:
            raise StoreError(f"vector file {path} holds {index.d}-d vectors, the manifest says {dimension}")
        return cls(dimension, index)

    def _check(self, ids: np.ndarray, vectors: np.ndarray | None = None) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        if vectors is not None and (vectors.ndim != 2 or vectors.shape != (len(ids), self.dimension)):
            raise StoreError(f"expected {len(ids)} vectors of dimension {self.dimension}, got {vectors.shape}")
        return ids

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = self._check(ids, vectors)
        if len(ids) == 0:
            return
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def remove(self, ids: np.ndarray) -> int:
        ids = self._check(ids)
        if len(ids) == 0:
            return 0
        return int(self._index.remove_ids(ids))

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if len(self) == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        scores, ids = self._index.search(q, min(k, len(self)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def save(self, directory: Path) -> dict[str, object]:
        path = Path(directory) / VECTORS_FILE
        tmp = path.with_suffix(".tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return {"kind": self.kind, "index_type": "IndexIDMap2(IndexFlatIP)", "count": len(self)}
