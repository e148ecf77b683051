"""The incremental index writer: reads files, works out what changed, and publishes a new snapshot."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embeddings.encoder import Embedder
from rag.bm25 import BM25Index
from rag.chunker import SentenceChunker
from rag.errors import DocumentNotFoundError
from rag.index import catalog
from rag.index.catalog import FileStat
from rag.index.layout import (
    CATALOG_FILE,
    IndexCorruptError,
    current_snapshot,
    fsync_file,
    index_lock,
    is_snapshot_name,
    new_snapshot_dir,
    publish,
    read_manifest,
    verify_files,
    write_manifest,
)
from rag.index.reader import open_lexical, open_store
from rag.index.tables import open_tables
from rag.loaders import LoadError, LoadLimits, SkippedFile, discover_files
from rag.parallel import SerialExecutor, embed_texts, load_documents, make_executor
from rag.progress import progress_bar
from rag.stores.base import LexicalIndex, VectorStore
from rag.stores.factory import StoreConfig, create_store, release_snapshot
from rag.types import Chunk, Document

log = logging.getLogger(__name__)

# A file whose size and mtime match what was recorded is not read again on re-index. Like git's racy check, a
# file modified within this margin of when it was stat'ed is always re-read (mtime may not have ticked).
RACY_MARGIN_NS = 2_000_000_000


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    chunks_embedded: int = 0
    rebuilt_reason: str | None = None
    seconds: float = 0.0
    snapshot: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuilt_reason)

    def to_json(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "chunks_embedded": self.chunks_embedded,
            "rebuilt_reason": self.rebuilt_reason,
            "seconds": round(self.seconds, 3),
            "snapshot": self.snapshot,
        }


@dataclass(frozen=True)
class _Change:
    """What one write does: documents loaded now (with their roots) and what to remove."""
    loaded: list[tuple[Document, str]]
    roots: set[str] = field(default_factory=set)           # folders indexed whole: files gone from them go
    seen: set[tuple[str, str]] = field(default_factory=set)  # (root, doc_id) found in those folders now
    remove_ids: set[str] = field(default_factory=set)
    file_stats: dict[str, FileStat] = field(default_factory=dict)


@dataclass(frozen=True)
class _Parts:
    """The searchable parts of a snapshot being written: the vector store and the lexical index (BM25 segments,
    or the store's own keyword search, which its ``add`` and ``remove`` keep up to date)."""
    store: VectorStore
    lexical: LexicalIndex

    def remove(self, ids: np.ndarray) -> None:
        self.store.remove(ids)
        self.lexical.remove(ids)


class Indexer:
    """Incremental writer: adds new and changed documents, removes deleted ones, never re-embeds
    unchanged ones, and publishes a new snapshot atomically."""

    def __init__(self, index_dir: Path, embedder: Embedder, chunker: SentenceChunker, *, progress: bool = True,
                 limits: LoadLimits | None = None, store_config: StoreConfig | None = None, workers: int = 1,
                 ray_address: str = ""):
        self.index_dir = Path(index_dir)
        self.workers = workers
        self.ray_address = ray_address
        self.embedder = embedder
        self.chunker = chunker
        self.progress = progress
        self.limits = limits or LoadLimits()
        self.store_config = store_config or StoreConfig()

    def index_paths(self, paths: Iterable[Path], *, rebuild: bool = False) -> IndexReport:
        """Index files and folders. Files that vanished from a folder given here are removed."""
        paths = [Path(p) for p in paths]
        report = IndexReport()
        found = list(discover_files(paths))
        files = [f for f in found if not isinstance(f, SkippedFile)]
        report.skipped.extend(f for f in found if isinstance(f, SkippedFile))
        for path in paths:
            if path.is_dir() and not any(_is_under(file, path) for file, _ in files):
                report.skipped.append(SkippedFile(str(path), "folder holds no supported documents"))
        seen: set[tuple[str, str]] = set()
        to_load, stats = self._changed_files(files, paths, {} if rebuild else self._known_file_stats(), seen,
                                             report)
        loaded = self._load(to_load, paths, seen, report)
        roots = {str(p.resolve()) for p in paths if p.is_dir()}
        return self._apply(_Change(loaded, roots, seen, file_stats=stats), report, rebuild=rebuild)

    def add_documents(self, documents: Iterable[Document], root: str = "") -> IndexReport:
        """Index already-loaded documents (uploads, datasets); nothing is removed."""
        return self._apply(_Change([(d, root) for d in documents]), IndexReport(), rebuild=False)

    def remove_documents(self, doc_ids: Iterable[str]) -> IndexReport:
        return self._apply(_Change([], remove_ids=set(doc_ids)), IndexReport(), rebuild=False)

    def rebuild(self) -> IndexReport:
        return self._apply(_Change([]), IndexReport(), rebuild=True)

    # -- reading files ------------------------------------------------------------------------------

    def _known_file_stats(self) -> dict[str, tuple[str, int, int, int]]:
        try:
            return catalog.known_file_stats(current_snapshot(self.index_dir))
        except IndexCorruptError:
            return {}

    def _changed_files(self, files: list[tuple[Path, str]], paths: list[Path], known: dict, seen: set,
                       report: IndexReport) -> tuple[list[tuple[Path, str]], dict[str, FileStat]]:
        """Files to read now (new, or size/mtime changed) and their stats; the rest are reported unchanged."""
        to_load, stats = [], {}
        for file, doc_id in files:
            root = _root_of(file, paths)
            try:
                st = file.stat()
                stat = (st.st_size, st.st_mtime_ns, time.time_ns())
            except OSError:
                to_load.append((file, doc_id))
                continue
            old = known.get(doc_id)  # (root, size, mtime_ns, checked_ns)
            if old and old[0] == root and old[1:3] == stat[:2] and old[2] < old[3] - RACY_MARGIN_NS:
                seen.add((root, doc_id))
                report.unchanged.append(doc_id)
                continue
            stats[doc_id] = stat
            to_load.append((file, doc_id))
        return to_load, stats

    def _load(self, files: list[tuple[Path, str]], paths: list[Path], seen: set,
              report: IndexReport) -> list[tuple[Document, str]]:
        loaded = []
        executor = make_executor(self.workers, self.ray_address) if len(files) > 1 else SerialExecutor()
        try:
            results = load_documents(files, executor, self.limits)
            for (file, doc_id), result in zip(progress_bar(files, "Reading documents", enabled=self.progress),
                                              results, strict=True):
                root = _root_of(file, paths)
                seen.add((root, doc_id))
                if isinstance(result, LoadError):
                    report.skipped.append(SkippedFile(str(file), result.reason))
                    log.warning("skipped %s", result)
                else:
                    loaded.append((result, root))
        finally:
            executor.close()
        return loaded

    # -- writing a snapshot -------------------------------------------------------------------------

    def _apply(self, change: _Change, report: IndexReport, *, rebuild: bool) -> IndexReport:
        started = time.perf_counter()
        with index_lock(self.index_dir):
            old, old_manifest = self._live_snapshot(report, rebuild=rebuild)
            reason = self._rebuild_reason(old_manifest) if old_manifest and not rebuild else None
            if reason:
                log.warning("%s", reason)
                report.rebuilt_reason, rebuild = reason, True
            elif rebuild and old_manifest:
                report.rebuilt_reason = "rebuild requested"
            new = new_snapshot_dir(self.index_dir, old)
            try:
                self._write_snapshot(old, old_manifest, new, change, report, rebuild=rebuild)
                if old is not None and not report.changed:
                    shutil.rmtree(new, ignore_errors=True)
                    report.snapshot = old.name
                else:
                    publish(self.index_dir, new)
                    report.snapshot = new.name
            except BaseException:
                release_snapshot(new, old, self.store_config)
                shutil.rmtree(new, ignore_errors=True)
                raise
            self._cleanup(keep=report.snapshot)
        report.seconds = time.perf_counter() - started
        return report

    def _live_snapshot(self, report: IndexReport, *, rebuild: bool) -> tuple[Path | None, dict | None]:
        """The live snapshot and its manifest, checked; a damaged one is only replaced on --rebuild."""
        try:
            old = current_snapshot(self.index_dir)
            if old is None:
                return None, None
            manifest = read_manifest(old)
            verify_files(manifest, old)
            catalog.connect(old / CATALOG_FILE, readonly=True).close()
            return old, manifest
        except IndexCorruptError as exc:
            if not rebuild:
                raise
            # The documented fix for a damaged index: start a new one from the files given now.
            log.warning("previous index unreadable, starting a new one: %s", exc)
            report.rebuilt_reason = (f"the previous index could not be read ({exc}); built a new one from "
                                     "the files given")
            return None, None

    def _rebuild_reason(self, manifest: dict) -> str | None:
        """Why every document must be re-embedded (the embedder, chunker or store changed), or None."""
        chunker_settings = self.chunker.settings()
        if manifest.get("embedder") != self.embedder.fingerprint:
            return (f"embedder changed from {manifest.get('embedder')!r} to {self.embedder.fingerprint!r}: "
                    "re-embedding every document")
        if manifest.get("chunker") != chunker_settings:
            return (f"chunker settings changed from {manifest.get('chunker')} to {chunker_settings}: "
                    "re-chunking and re-embedding every document")
        if manifest.get("store", {}).get("kind") != self.store_config.kind:
            return (f"vector store changed from {manifest.get('store', {}).get('kind')!r} to "
                    f"{self.store_config.kind!r}: re-embedding every document")
        return None

    def _write_snapshot(self, old: Path | None, old_manifest: dict | None, new: Path, change: _Change,
                        report: IndexReport, *, rebuild: bool) -> None:
        if old is not None:
            shutil.copyfile(old / CATALOG_FILE, new / CATALOG_FILE)
        conn = catalog.connect(new / CATALOG_FILE, readonly=False)
        try:
            if old is not None and not rebuild:
                store = open_store(old_manifest or {}, old, self.store_config)
                parts = _Parts(store, open_lexical(old_manifest or {}, old, open_tables(conn)[0], store))
                next_id = int((old_manifest or {}).get("next_chunk_id", 0))
            else:
                store = create_store(self.store_config, self.embedder.dimension, self.index_dir)
                lexical = store.lexical()  # (an empty one has length 0: test it against None)
                parts = _Parts(store, BM25Index() if lexical is None else lexical)
                next_id = 0
            to_index = self._remove_replaced(conn, parts, change, report, rebuild=rebuild)
            first_id = next_id
            next_id = self._insert(conn, parts, to_index, change.file_stats, next_id)
            report.chunks_embedded = next_id - first_id
            conn.commit()
            documents, chunk_count = catalog.counts(conn)
        finally:
            conn.close()
        store_info = parts.store.save(new)
        lexical_info = parts.lexical.save(new)
        for file in new.iterdir():
            fsync_file(file)
        write_manifest(new, {
            "embedder": self.embedder.fingerprint,
            # The old snapshot's dimension when nothing forced a rebuild: an unchanged re-index then never
            # loads the embedding model (seconds of a re-index that otherwise takes ~0.1 s).
            "dimension": int(old_manifest["dimension"]) if old_manifest and not rebuild else self.embedder.dimension,
            "chunker": self.chunker.settings(),
            "store": store_info,
            "lexical": lexical_info,
            "documents": documents,
            "chunks": chunk_count,
            "next_chunk_id": next_id,
        }, previous=old)

    def _remove_replaced(self, conn: sqlite3.Connection, parts: _Parts, change: _Change,
                         report: IndexReport, *, rebuild: bool) -> list[tuple[Document, str]]:
        """Classify the loaded documents, drop the ones replaced or removed, and return what to (re)index."""
        # Whole folders and rebuilds look at every indexed document; uploads and removals only at their own.
        named = None if change.roots or rebuild else {d.doc_id for d, _ in change.loaded} | change.remove_ids
        existing = catalog.indexed_documents(conn, named)
        to_index: list[tuple[Document, str]] = []
        for doc, root in change.loaded:
            if doc.doc_id in existing:
                old_hash, old_root = existing[doc.doc_id]
                if old_root and root and old_root != root:
                    report.skipped.append(SkippedFile(
                        doc.source_path, f"document id {doc.doc_id!r} is already indexed from {old_root}; "
                                         "rename the file or remove the other document first"))
                    continue
                if old_hash == doc.content_hash and not rebuild:
                    report.unchanged.append(doc.doc_id)
                    continue
                report.updated.append(doc.doc_id)
            else:
                report.added.append(doc.doc_id)
            to_index.append((doc, root))
        deleted = {d for d, (_, root) in existing.items() if root in change.roots and (root, d) not in change.seen}
        deleted |= {d for d in change.remove_ids if d in existing}
        missing = sorted(d for d in change.remove_ids if d not in existing)
        if missing:
            raise DocumentNotFoundError(f"not in the index: {', '.join(missing)}; see the ids with: rag docs")
        report.removed.extend(sorted(deleted))
        replaced = deleted | {d.doc_id for d, _ in to_index}
        if rebuild:
            # Re-chunk the documents we are not replacing from their stored normalised text.
            to_index += catalog.stored_documents(conn, [d for d in existing if d not in replaced])
            catalog.clear(conn)
        else:
            # One removal call for all of them: each call scans the whole vector index.
            gone = [cid for doc_id in sorted(replaced & set(existing)) for cid in catalog.delete_document(conn, doc_id)]
            parts.remove(np.asarray(gone, dtype=np.int64))
        return to_index

    def _insert(self, conn: sqlite3.Connection, parts: _Parts, to_index: list[tuple[Document, str]],
                file_stats: dict[str, FileStat], next_id: int) -> int:
        """Chunk, catalogue and embed the documents; returns the next free chunk id."""
        new_chunks: list[Chunk] = []
        for doc, root in to_index:
            chunks = self.chunker.chunk(doc, first_id=next_id)
            next_id += len(chunks)
            new_chunks.extend(chunks)
            catalog.insert_document(conn, doc, root, chunks, file_stats.get(doc.doc_id))
        parts.lexical.add(np.asarray([c.chunk_id for c in new_chunks], dtype=np.int64), [c.text for c in new_chunks])
        self._embed_into(parts.store, new_chunks)
        return next_id

    def _embed_into(self, store: VectorStore, chunks: list[Chunk], batch: int = 512) -> None:
        # Large groups let the encoder sort texts by length before batching, so batches pad less: one call of
        # ~500 chunks embedded 1.12-1.26x faster than groups of 64 (docs/decisions.md).
        if not chunks:
            return
        parts = [chunks[i : i + batch] for i in range(0, len(chunks), batch)]
        with progress_bar(total=len(chunks), description="Embedding chunks", enabled=self.progress) as bar:
            # On a Ray cluster the batches are embedded by the cluster's workers; here, torch already uses
            # every core, so extra local processes would only compete for them (docs/decisions.md).
            for part, vectors in zip(parts, embed_texts(self.embedder, [[c.text for c in p] for p in parts],
                                                        self.ray_address), strict=True):
                store.add(np.asarray([c.chunk_id for c in part], dtype=np.int64), vectors, [c.text for c in part])
                bar.update(len(part))

    def _cleanup(self, keep: str | None) -> None:
        for child in self.index_dir.iterdir():
            if child.is_dir() and is_snapshot_name(child.name) and child.name != keep:
                release_snapshot(child, self.index_dir / keep if keep else None, self.store_config)
                shutil.rmtree(child, ignore_errors=True)


def _root_of(file: Path, paths: list[Path]) -> str:
    for p in paths:
        if p.is_dir() and _is_under(file, p):
            return str(p.resolve())
    return str(file.resolve().parent)


def _is_under(file: Path, folder: Path) -> bool:
    try:
        file.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False
