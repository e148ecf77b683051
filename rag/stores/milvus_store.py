"""Milvus store: the same interface as FAISS, on Milvus Lite (a local ``.db`` file) or a Milvus cluster URI.

Each row holds a chunk's vector and its keywords: the chunk text as this tool's BM25 tokenises it (lower-cased,
stop words out, light stemming), space-separated. A BM25 function in the collection turns them into a sparse
vector that Milvus indexes and scores, so keyword search runs in Milvus too (``lexical()``), ranks as the
tool's own BM25 does, and the index keeps no BM25 of its own (docs/decisions.md, "Keyword search in Milvus").

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.bm25 import K1, B, bm25_tokens
from rag.stores.base import StoreError, checked_ids

log = logging.getLogger(__name__)

MARKER_FILE = "milvus.json"
ID_FIELD, VECTOR_FIELD, TEXT_FIELD, SPARSE_FIELD = "id", "vector", "text", "sparse"
INSERT_BATCH = 2000
TEXT_MAX_BYTES = 65_535  # Milvus' VARCHAR limit; longer keyword text is cut (120-word chunks are far below it)
LEXICAL_KIND = "milvus-bm25"
# The text field holds space-separated tokens already analysed here (``keywords``), so Milvus only splits on
# the spaces: Milvus Lite and a cluster then index the same terms, whatever their tokenizers do with
# punctuation, and rank as the tool's own BM25 (docs/decisions.md, "Keyword search in Milvus").
ANALYZER: dict[str, Any] = {"tokenizer": "standard", "filter": ["lowercase"]}
KEYWORDS = "rag.bm25.bm25_tokens"

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
                 token: str = "", collection: str | None = None):
        self.dimension = dimension
        self.uri = uri
        self.prefix = prefix
        self.index_type = index_type
        self.token = token
        # The analyzer of the text field (None: a collection without texts, from before they were kept).
        self.analyzer: dict[str, Any] | None = dict(ANALYZER)
        self._client = milvus_client(uri, token)
        # A collection we created and have not published yet is ours to write; a loaded one is forked first.
        self._collection = collection
        self._owned = collection is None
        self._count = 0
        if collection is not None:
            if not self._client.has_collection(collection):
                raise StoreError(f"Milvus collection {collection!r} is missing at {uri}")
            self._open_collection(collection)
            self._count = self._count_rows(collection)

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
        return cls(dimension, uri, prefix=prefix, index_type=index_type, token=token, collection=info["collection"])

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
        from pymilvus import DataType, Function, FunctionType

        name = f"{self.prefix}_{uuid.uuid4().hex[:20]}"
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(ID_FIELD, DataType.INT64, is_primary=True)
        schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=self.dimension)
        params = self._client.prepare_index_params()
        params.add_index(field_name=VECTOR_FIELD, index_type=self.index_type, metric_type="IP")
        if self.analyzer is not None:  # None: a fork of a collection made before texts were kept
            schema.add_field(TEXT_FIELD, DataType.VARCHAR, max_length=TEXT_MAX_BYTES, enable_analyzer=True,
                             analyzer_params=self.analyzer)
            schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                         input_field_names=[TEXT_FIELD], output_field_names=[SPARSE_FIELD]))
            params.add_index(field_name=SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                             params={"bm25_k1": K1, "bm25_b": B})
        self._client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")
        log.info("created Milvus collection %s at %s", name, self.uri)
        return name

    def _open_collection(self, name: str) -> None:
        """Load a saved collection for searching (a cluster or a new Lite process starts with it released), and
        take its analyzer: a fork keeps the source's schema."""
        if getattr(self._client.get_load_state(name).get("state"), "name", "") != "Loaded":
            self._client.load_collection(name)
        text = next((f for f in self._client.describe_collection(name)["fields"] if f["name"] == TEXT_FIELD), None)
        if text is None:
            log.warning("Milvus collection %s predates keyword search in Milvus: the index keeps its own BM25 "
                        "until it is rebuilt (rag index --rebuild)", name)
            self.analyzer = None
            return
        params = text.get("params", {}).get("analyzer_params", ANALYZER)
        self.analyzer = json.loads(params) if isinstance(params, str) else dict(params)

    def _writable(self) -> str:
        if self._owned and self._collection is not None:
            return self._collection
        source, target = self._collection, self._create_collection()
        if source is not None:
            copied = 0
            for ids, vecs, texts in self._iter_rows(source):
                self._insert(target, ids, vecs, texts)
                copied += len(ids)
            log.info("forked Milvus collection %s into %s (%d vectors)", source, target, copied)
        self._collection, self._owned = target, True
        return target

    def _iter_rows(self, name: str):
        """(ids, vectors, text field contents or None) in batches: what a fork copies, as stored."""
        fields = [ID_FIELD, VECTOR_FIELD] + ([TEXT_FIELD] if self.analyzer is not None else [])
        iterator = self._client.query_iterator(name, batch_size=INSERT_BATCH, filter="", output_fields=fields)
        try:
            while True:
                rows = iterator.next()
                if not rows:
                    return
                yield (np.array([r[ID_FIELD] for r in rows], dtype=np.int64),
                       np.array([r[VECTOR_FIELD] for r in rows], dtype=np.float32),
                       [r[TEXT_FIELD] for r in rows] if self.analyzer is not None else None)
        finally:
            iterator.close()

    def _insert(self, name: str, ids: np.ndarray, vectors: np.ndarray, words: Sequence[str] | None) -> None:
        """Rows of id, vector and (in a collection with a text field) ``words``, the text field's content."""
        for i in range(0, len(ids), INSERT_BATCH):
            rows = [{ID_FIELD: int(k), VECTOR_FIELD: v} for k, v in
                    zip(ids[i : i + INSERT_BATCH].tolist(), vectors[i : i + INSERT_BATCH].tolist(), strict=True)]
            if self.analyzer is not None:
                for row, text in zip(rows, words[i : i + INSERT_BATCH] if words is not None else [""] * len(rows),
                                     strict=True):
                    row[TEXT_FIELD] = _fitted(text)
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

    def add(self, ids: np.ndarray, vectors: np.ndarray, texts: Sequence[str] | None = None) -> None:
        """The texts' keywords go into the same rows; rows added without texts are found by vector only."""
        ids = checked_ids(ids, self.dimension, vectors)
        if texts is not None and len(texts) != len(ids):
            raise StoreError(f"{len(ids)} ids but {len(texts)} texts")
        if len(ids) == 0:
            return
        words = [keywords(t) for t in texts] if texts is not None and self.analyzer is not None else None
        self._insert(self._writable(), ids, np.ascontiguousarray(vectors, dtype=np.float32), words)
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
            if len(allowed) == 0:
                return []
            extra["filter"] = id_filter(allowed)
        result = self._client.search(self._collection, data=[q], anns_field=VECTOR_FIELD, limit=min(k, self._count),
                                     search_params={"metric_type": "IP"}, output_fields=[ID_FIELD], **extra)
        hits = [(int(h["id"]), float(h["distance"])) for h in result[0]]
        return sorted(hits, key=lambda h: -h[1])

    def search_text(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """BM25 over the rows' keywords, scored by Milvus (its collection statistics): the k best ids with a positive
        score, best first, ties by id. ``allowed`` filters inside the search, as for vectors."""
        words = keywords(query)
        if self._collection is None or self._count == 0 or k <= 0 or self.analyzer is None or not words:
            return []
        extra: dict[str, object] = {}
        if allowed is not None:
            if len(allowed) == 0:
                return []
            extra["filter"] = id_filter(allowed)
        result = self._client.search(self._collection, data=[words], anns_field=SPARSE_FIELD,
                                     limit=min(k, self._count), search_params={"metric_type": "BM25"},
                                     output_fields=[ID_FIELD], **extra)
        # A cluster reports the BM25 score as the distance; Milvus Lite 3 reports its negation.
        hits = [(int(h["id"]), abs(float(h["distance"]))) for h in result[0]]
        return sorted((h for h in hits if h[1] > 0), key=lambda h: (-h[1], h[0]))

    def lexical(self) -> MilvusLexical | None:
        return MilvusLexical(self) if self.analyzer is not None else None

    @property
    def client(self):
        """The pymilvus client (for benchmarks that call Milvus directly)."""
        return self._client

    @property
    def collection(self) -> str | None:
        """The collection searches run on now (a write forks it first)."""
        return self._collection

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
                "uri": "milvus-lite" if is_lite(self.uri) else self.uri, "count": self._count,
                "texts": self.analyzer is not None}


class MilvusLexical:
    """Keyword search in the store's collection (``LexicalIndex``): it follows the store, whose rows carry the
    texts, so adding and removing here have nothing left to do and saving only describes it."""

    kind = LEXICAL_KIND

    def __init__(self, store: MilvusStore):
        self.store = store

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        return self.store.search_text(query, k, allowed)

    def __len__(self) -> int:
        return len(self.store)

    def add(self, ids: np.ndarray, texts: Sequence[str]) -> None:
        """Nothing to do: the texts are stored with their vectors (``MilvusStore.add``)."""

    def remove(self, ids: np.ndarray) -> int:
        """Nothing to do: removing the vectors removed the texts; returns 0."""
        return 0

    def save(self, directory: Path) -> dict[str, object]:
        return {"kind": self.kind, "keywords": KEYWORDS, "analyzer": self.store.analyzer, "k1": K1, "b": B,
                "chunks": len(self.store)}


def id_filter(ids: np.ndarray) -> str:
    """A boolean filter expression on chunk ids: Milvus applies it inside the search."""
    return f"{ID_FIELD} in [{', '.join(str(int(i)) for i in np.asarray(ids, dtype=np.int64).reshape(-1))}]"


def keywords(text: str) -> str:
    """What the text field holds and a keyword query sends: the tool's BM25 tokens, space-separated, with the
    separators inside numbers ('1,000', '3.5') made '_' so that any Milvus tokenizer keeps them whole."""
    return " ".join(t.replace(".", "_").replace(",", "_") for t in bm25_tokens(text))


def _fitted(text: str) -> str:
    """The text cut to Milvus' VARCHAR limit in UTF-8 bytes."""
    if len(text) * 4 <= TEXT_MAX_BYTES:
        return text
    return text.encode("utf-8")[:TEXT_MAX_BYTES].decode("utf-8", "ignore")
