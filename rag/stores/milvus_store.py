"""Milvus store: the same interface as FAISS, on Milvus Lite (a local ``.db`` file) or a Milvus cluster URI.

Index generations stay atomic: a store opened from a published generation never changes that generation's
collection. The first write forks it (copies it into a new collection) and the writes go there; ``save``
records the collection in the generation folder (``milvus.json``) and the manifest, and ``drop_saved``
removes the collection when the generation is deleted. A fork costs one read and one write of every vector,
which is what keeps readers of the old generation consistent while a writer works.

Milvus Lite is one process's database: the file is locked while a process has it open, so use a cluster
URI (``http://host:19530``) when several processes (an indexer and a server) share one index.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from rag.stores.base import StoreError, checked_ids

log = logging.getLogger(__name__)

MARKER_FILE = "milvus.json"
ID_FIELD, VECTOR_FIELD = "id", "vector"
INSERT_BATCH = 2000

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def is_lite(uri: str) -> bool:
    return not re.match(r"^[a-z]+://", uri)


def milvus_client(uri: str, token: str = ""):
    """One client per URI and process (Milvus Lite allows one opener of a file)."""
    key = os.path.abspath(uri) if is_lite(uri) else uri
    with _clients_lock:
        if key not in _clients:
            try:
                from pymilvus import MilvusClient
            except ImportError as exc:
                raise StoreError("the Milvus store needs pymilvus (and milvus-lite for a local .db file): "
                                 "pip install 'rag-seeds[milvus]'") from exc
            if is_lite(uri):
                Path(key).parent.mkdir(parents=True, exist_ok=True)
            try:
                _clients[key] = MilvusClient(uri=key, token=token) if token else MilvusClient(uri=key)
            except Exception as exc:  # pymilvus raises its own MilvusException and plain RuntimeErrors
                raise StoreError(f"cannot open Milvus at {uri}: {exc}") from None
        return _clients[key]


class MilvusStore:
    kind = "milvus"

    def __init__(self, dimension: int, uri: str, *, prefix: str = "rag", index_type: str = "AUTOINDEX",
                 token: str = "", collection: str | None = None, count: int | None = None):
        self.dimension = dimension
        self.uri = uri
        self.prefix = prefix
        self.index_type = index_type
        self.token = token
        self._client = milvus_client(uri, token)
        # A collection we created and have not published yet is ours to write; a loaded one is forked first.
        self._collection = collection
        self._owned = collection is None
        self._count = 0 if collection is None else (count if count is not None else self._count_rows(collection))

    @classmethod
    def load(cls, directory: Path, dimension: int, uri: str, *, token: str = "", index_type: str = "AUTOINDEX",
             prefix: str = "rag") -> MilvusStore:
        marker = Path(directory) / MARKER_FILE
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"Milvus marker missing: {marker}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StoreError(f"Milvus marker {marker} is damaged ({exc})") from None
        store = cls(dimension, uri, prefix=prefix, index_type=index_type, token=token,
                    collection=info["collection"], count=None)
        if not store._client.has_collection(info["collection"]):
            raise StoreError(f"Milvus collection {info['collection']!r} is missing at {uri}")
        return store

    @staticmethod
    def saved_collection(directory: Path) -> str | None:
        marker = Path(directory) / MARKER_FILE
        try:
            return str(json.loads(marker.read_text(encoding="utf-8"))["collection"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @staticmethod
    def drop_saved(directory: Path, uri: str, token: str = "", keep: Path | None = None) -> None:
        """Drop the collection a (deleted) generation folder points at, unless ``keep`` still uses it."""
        name = MilvusStore.saved_collection(directory)
        if name is None or (keep is not None and MilvusStore.saved_collection(keep) == name):
            return
        try:
            client = milvus_client(uri, token)
            if client.has_collection(name):
                client.drop_collection(name)
        except Exception as exc:  # cleanup must not fail a finished write
            log.warning("could not drop the Milvus collection of %s: %s", directory, exc)

    # -- collection management --------------------------------------------------------------------

    def _create_collection(self) -> str:
        from pymilvus import DataType

        name = f"{self.prefix}_{uuid.uuid4().hex[:20]}"
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(ID_FIELD, DataType.INT64, is_primary=True)
        schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=self.dimension)
        params = self._client.prepare_index_params()
        params.add_index(field_name=VECTOR_FIELD, index_type=self.index_type, metric_type="IP")
        self._client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")
        log.info("created Milvus collection %s at %s", name, self.uri)
        return name

    def _writable(self) -> str:
        if self._owned and self._collection is not None:
            return self._collection
        source, target = self._collection, self._create_collection()
        if source is not None:
            copied = 0
            for ids, vecs in self._iter_rows(source):
                self._insert(target, ids, vecs)
                copied += len(ids)
            log.info("forked Milvus collection %s into %s (%d vectors)", source, target, copied)
        self._collection, self._owned = target, True
        return target

    def _iter_rows(self, name: str):
        iterator = self._client.query_iterator(name, batch_size=INSERT_BATCH, filter="",
                                               output_fields=[ID_FIELD, VECTOR_FIELD])
        try:
            while True:
                rows = iterator.next()
                if not rows:
                    return
                yield (np.array([r[ID_FIELD] for r in rows], dtype=np.int64),
                       np.array([r[VECTOR_FIELD] for r in rows], dtype=np.float32))
        finally:
            iterator.close()

    def _insert(self, name: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        for i in range(0, len(ids), INSERT_BATCH):
            rows = [{ID_FIELD: int(k), VECTOR_FIELD: v} for k, v in
                    zip(ids[i : i + INSERT_BATCH].tolist(), vectors[i : i + INSERT_BATCH].tolist(), strict=True)]
            self._client.insert(name, rows)

    def _count_rows(self, name: str) -> int:
        rows = self._client.query(name, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def _present(self, name: str, ids: np.ndarray) -> list[int]:
        present: list[int] = []
        for i in range(0, len(ids), INSERT_BATCH):
            part = ids[i : i + INSERT_BATCH].tolist()
            rows = self._client.query(name, filter=f"{ID_FIELD} in {part}", output_fields=[ID_FIELD])
            present.extend(int(r[ID_FIELD]) for r in rows)
        return present

    # -- the VectorStore interface ------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = checked_ids(ids, self.dimension, vectors)
        if len(ids) == 0:
            return
        self._insert(self._writable(), ids, np.ascontiguousarray(vectors, dtype=np.float32))
        self._count += len(ids)

    def remove(self, ids: np.ndarray) -> int:
        ids = checked_ids(ids, self.dimension)
        if len(ids) == 0 or self._collection is None:
            return 0
        present = self._present(self._collection, np.unique(ids))
        if not present:
            return 0
        self._client.delete(self._writable(), ids=present)
        self._count -= len(present)
        return len(present)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        if self._collection is None or self._count == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1).tolist()
        extra: dict[str, object] = {}
        if allowed is not None:
            allowed = checked_ids(allowed, self.dimension)
            if len(allowed) == 0:
                return []
            # A boolean filter expression: Milvus applies it inside the ANN search.
            extra["filter"] = f"{ID_FIELD} in [{', '.join(str(int(i)) for i in allowed)}]"
        result = self._client.search(self._collection, data=[q], limit=min(k, self._count),
                                     search_params={"metric_type": "IP"}, output_fields=[ID_FIELD], **extra)
        hits = [(int(h["id"]), float(h["distance"])) for h in result[0]]
        return sorted(hits, key=lambda h: -h[1])

    def __len__(self) -> int:
        return self._count

    def save(self, directory: Path) -> dict[str, object]:
        name = self._writable() if self._collection is None else self._collection
        self._client.flush(name)
        marker = Path(directory) / MARKER_FILE
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"collection": name}), encoding="utf-8")
        os.replace(tmp, marker)
        # The collection now belongs to this saved generation: later writes fork it again.
        self._owned = False
        return {"kind": self.kind, "index_type": f"milvus:{self.index_type}(IP)", "collection": name,
                "uri": "milvus-lite" if is_lite(self.uri) else self.uri, "count": self._count}
