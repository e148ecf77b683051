"""A loaded, read-only snapshot of the index. Opening it maps the vector and lexical files and reads no chunk or
document rows: those come from the catalog when asked for, so opening takes about as long at a million chunks as
at a thousand (docs/decisions.md, "Lexical index on disk")."""

from __future__ import annotations

import fnmatch
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from embeddings.encoder import Embedder
from rag.bm25 import BM25Index
from rag.bm25_segment import SegmentError
from rag.errors import DocumentFilterError
from rag.index import catalog
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
from rag.index.tables import ChunkDocuments, ChunkTable, DocumentTable, open_tables
from rag.stores.base import LexicalIndex, LexicalSearch, StoreError, VectorStore
from rag.stores.factory import StoreConfig, load_store
from rag.types import Chunk

log = logging.getLogger(__name__)


def open_store(manifest: dict, snapshot: Path, config: StoreConfig | None = None, *,
               readonly: bool = False) -> VectorStore:
    """The vector store a manifest describes, loaded from its snapshot folder (memory-mapped when ``readonly``)."""
    try:
        store_manifest = manifest["store"]
        dimension = int(manifest["dimension"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"manifest {snapshot / MANIFEST_FILE} lacks {exc}; {REBUILD_HINT}") from None
    try:
        return load_store(store_manifest, snapshot, dimension, config or StoreConfig(), readonly=readonly)
    except StoreError as exc:
        raise IndexCorruptError(f"{exc} (in {snapshot / MANIFEST_FILE}); {REBUILD_HINT}") from None


def open_lexical(manifest: dict, snapshot: Path, chunks: Mapping[int, Chunk], store: VectorStore) -> LexicalIndex:
    """The snapshot's lexical index: the store's own keyword search when the manifest says the store holds it
    (Milvus), else the BM25 segments mapped from the snapshot folder. A snapshot written before the lexical
    index was persisted has none: it is built in memory from the chunks, and the next write persists it."""
    info = manifest.get("lexical")
    if info is None:
        log.warning("index at %s predates the stored lexical index: building it in memory (any `rag index` run "
                    "stores it, and opening is then instant)", snapshot.parent)
        ids, texts = [], []
        for chunk in chunks.values():
            ids.append(chunk.chunk_id)
            texts.append(chunk.text)
        return BM25Index.from_texts(ids, texts)
    kind = info.get("kind") if isinstance(info, dict) else None
    if kind != BM25Index.kind:
        lexical = store.lexical()
        if lexical is None or lexical.kind != kind:
            raise IndexCorruptError(f"the manifest's lexical index {kind!r} is not what the {store.kind} store "
                                    f"holds (in {snapshot / MANIFEST_FILE}); {REBUILD_HINT}")
        return lexical
    try:
        return BM25Index.load(snapshot, info)
    except SegmentError as exc:
        raise IndexCorruptError(f"{exc}; {REBUILD_HINT}") from None


class DocumentIndex:
    """A loaded, read-only index snapshot. `snapshot` is its folder name (e.g. "gen-000007"). ``chunks`` and
    ``documents`` are read-only mappings over the snapshot's catalog; ``lexical`` is its keyword search (BM25
    segments in the snapshot folder, or the store's own, in Milvus)."""

    def __init__(self, index_dir: Path, snapshot: Path, manifest: dict, store: VectorStore,
                 chunks: ChunkTable, documents: DocumentTable, lexical: LexicalSearch):
        self.index_dir = index_dir
        self.snapshot = snapshot.name
        self.manifest = manifest
        self.store = store
        self.chunks = chunks
        self.documents = documents
        self.lexical = lexical
        self._chunk_documents: ChunkDocuments | None = None

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
        store = open_store(manifest, snapshot, store_config, readonly=True)
        # The catalog stays open for the index's life: once a writer publishes a newer snapshot it deletes this
        # folder, and the open file (like the mapped vector and segment files) keeps this snapshot readable.
        conn = catalog.connect(snapshot / CATALOG_FILE, readonly=True)
        try:
            chunks, documents = open_tables(conn, _recorded_counts(manifest))
            lexical = open_lexical(manifest, snapshot, chunks, store)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise IndexCorruptError(f"catalog in {snapshot} is damaged ({exc}); {REBUILD_HINT}") from None
        except BaseException:
            conn.close()
            raise
        if not len(store) == len(chunks) == len(lexical):
            conn.close()
            raise IndexCorruptError(
                f"index at {index_dir} is inconsistent: {len(store)} vectors, {len(chunks)} chunks and "
                f"{len(lexical)} in the lexical index; {REBUILD_HINT}"
            )
        return cls(index_dir, snapshot, manifest, store, chunks, documents, lexical)

    def check_embedder(self, embedder: Embedder) -> None:
        built = self.manifest.get("embedder")
        if built != embedder.fingerprint:
            raise IndexMismatchError(
                f"the index at {self.index_dir} was built with embedder {built!r}, but the configured embedder "
                f"is {embedder.fingerprint!r}; rebuild it with: rag index --rebuild"
            )

    def document_text(self, doc_id: str) -> str:
        """A document's whole normalised text (citations' character spans point into it)."""
        return self.documents.text(doc_id)

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
        return self.chunks.ids_of(doc_ids)

    def chunk_documents(self) -> ChunkDocuments:
        """Every chunk's document, read from the catalog on first use and kept (a snapshot never changes)."""
        if self._chunk_documents is None:
            self._chunk_documents = self.chunks.documents()
        return self._chunk_documents

    def title(self, doc_id: str) -> str:
        title = self.documents.title(doc_id)
        return doc_id if title is None else title


def _recorded_counts(manifest: dict) -> tuple[int, int] | None:
    """(documents, chunks) as the writer recorded them with the checksummed files, or None for an old manifest."""
    try:
        return int(manifest["documents"]), int(manifest["chunks"])
    except (KeyError, TypeError, ValueError):
        return None
