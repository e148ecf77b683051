"""A loaded, read-only snapshot of the index: vectors, BM25, chunks and documents in memory."""

from __future__ import annotations

import fnmatch
import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings.encoder import Embedder
from rag.bm25 import BM25Index
from rag.errors import DocumentFilterError
from rag.index import catalog
from rag.index.catalog import DocumentInfo
from rag.index.layout import (
    CATALOG_FILE,
    MANIFEST_FILE,
    REBUILD_HINT,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    current_name,
    current_snapshot,
    read_manifest,
    verify_files,
)
from rag.stores.base import StoreError, VectorStore
from rag.stores.factory import StoreConfig, load_store
from rag.types import Chunk

log = logging.getLogger(__name__)


def open_store(manifest: dict, snapshot: Path, config: StoreConfig | None = None) -> VectorStore:
    """The vector store a manifest describes, loaded from its snapshot folder."""
    try:
        store_manifest = manifest["store"]
        dimension = int(manifest["dimension"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"manifest {snapshot / MANIFEST_FILE} lacks {exc}; {REBUILD_HINT}") from None
    try:
        return load_store(store_manifest, snapshot, dimension, config or StoreConfig())
    except StoreError as exc:
        raise IndexCorruptError(f"{exc} (in {snapshot / MANIFEST_FILE}); {REBUILD_HINT}") from None


class DocumentIndex:
    """A loaded, read-only index snapshot. `snapshot` is its folder name (e.g. "gen-000007")."""

    def __init__(self, index_dir: Path, snapshot: Path, manifest: dict, store: VectorStore,
                 chunks: dict[int, Chunk], documents: dict[str, DocumentInfo],
                 catalog_conn: sqlite3.Connection | None = None):
        self._catalog = catalog_conn
        self._catalog_lock = threading.Lock()
        self.index_dir = index_dir
        self.snapshot = snapshot.name
        self.manifest = manifest
        self.store = store
        self.chunks = chunks
        self.documents = documents
        ids = list(chunks)
        self.bm25 = BM25Index(ids, [chunks[i].text for i in ids])

    @classmethod
    def open(cls, index_dir: Path, store_config: StoreConfig | None = None) -> DocumentIndex:
        """Load the live snapshot. A writer may publish a new one and delete the old one while we read it;
        then the error is not corruption, so we retry with the new CURRENT."""
        index_dir = Path(index_dir)
        for attempt in range(5):
            before = current_name(index_dir)
            try:
                snapshot = current_snapshot(index_dir)
                if snapshot is None:
                    raise IndexMissingError(f"no index at {index_dir}; create one with: rag index PATH")
                return cls.open_snapshot(index_dir, snapshot, store_config)
            except (IndexCorruptError, OSError, RuntimeError, sqlite3.Error):
                # A file vanishing mid-read (FileNotFoundError from the OS, FAISS or SQLite) is only a race with
                # a writer when CURRENT moved meanwhile; otherwise it is real and is raised.
                if attempt == 4 or current_name(index_dir) == before:
                    raise
                log.info("snapshot %s was replaced while loading it; loading the new one", before)
        raise AssertionError("unreachable")  # pragma: no cover

    @classmethod
    def open_snapshot(cls, index_dir: Path, snapshot: Path,
                      store_config: StoreConfig | None = None) -> DocumentIndex:
        manifest = read_manifest(snapshot)
        verify_files(manifest, snapshot)
        store = open_store(manifest, snapshot, store_config)
        conn = catalog.connect(snapshot / CATALOG_FILE, readonly=True)
        try:
            chunks, documents = catalog.read_contents(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise IndexCorruptError(f"catalog in {snapshot} is damaged ({exc}); {REBUILD_HINT}") from None
        if len(store) != len(chunks):
            conn.close()
            raise IndexCorruptError(
                f"index at {index_dir} is inconsistent: {len(store)} vectors but {len(chunks)} chunks; "
                f"{REBUILD_HINT}"
            )
        # The catalog stays open: once a writer publishes a newer snapshot it deletes this folder, and the
        # open file keeps document_text() working on the snapshot this index was loaded from.
        return cls(index_dir, snapshot, manifest, store, chunks, documents, catalog_conn=conn)

    def check_embedder(self, embedder: Embedder) -> None:
        built = self.manifest.get("embedder")
        if built != embedder.fingerprint:
            raise IndexMismatchError(
                f"the index at {self.index_dir} was built with embedder {built!r}, but the configured embedder "
                f"is {embedder.fingerprint!r}; rebuild it with: rag index --rebuild"
            )

    def document_text(self, doc_id: str) -> str:
        """A document's whole normalised text (citations' character spans point into it)."""
        if self._catalog is not None:
            with self._catalog_lock:
                return catalog.document_text(self._catalog, doc_id)
        conn = catalog.connect(self.index_dir / self.snapshot / CATALOG_FILE, readonly=True)
        try:
            return catalog.document_text(conn, doc_id)
        finally:
            conn.close()

    def match_documents(self, patterns: Sequence[str]) -> frozenset[str]:
        """The documents that a filter names: each pattern is a document id or a glob over ids
        (``reports/2019/*``). A pattern that matches nothing is an error, not an empty answer."""
        matched: set[str] = set()
        for pattern in patterns:
            pattern = pattern.strip()
            found = ({pattern} if pattern in self.documents
                     else {d for d in self.documents if fnmatch.fnmatchcase(d, pattern)})
            if not pattern or not found:
                raise DocumentFilterError(
                    f"no indexed document matches {pattern!r}; give a document id or a glob such as "
                    "'reports/2019/*' (rag docs lists the ids)")
            matched |= found
        return frozenset(matched)

    def chunk_ids_of(self, doc_ids: frozenset[str]) -> np.ndarray:
        """The chunk ids of the given documents (what retrieval searches when a question is limited to them)."""
        return np.fromiter((cid for cid, c in self.chunks.items() if c.doc_id in doc_ids), dtype=np.int64)

    def title(self, doc_id: str) -> str:
        info = self.documents.get(doc_id)
        return info.title if info else doc_id
