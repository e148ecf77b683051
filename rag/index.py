"""The on-disk index: vectors (a VectorStore), chunk/document catalog (SQLite) and a manifest (JSON).

Layout of an index folder::

    CURRENT              name of the live generation, swapped atomically
    .lock                writers hold an exclusive flock on it
    gen-000007/
        manifest.json    embedder, chunker and store settings, counts
        catalog.sqlite   documents (with their normalised text) and chunks (with offsets)
        vectors.faiss    the vector store's own file

A writer builds a complete new generation beside the live one and then replaces CURRENT, so a reader
(or a crash at any point) always sees one whole, consistent generation.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embeddings.encoder import Embedder
from rag.bm25 import BM25Index
from rag.chunker import SentenceChunker
from rag.errors import DocumentNotFoundError, IndexError_
from rag.loaders import LoadError, LoadLimits, SkippedFile, discover_files
from rag.parallel import SerialExecutor, embed_texts, load_documents, make_executor
from rag.progress import progress_bar
from rag.stores.base import StoreError, VectorStore
from rag.stores.factory import StoreConfig, create_store, load_store, release_generation
from rag.types import Chunk, Document

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
MANIFEST_FILE = "manifest.json"
CATALOG_FILE = "catalog.sqlite"
# Every corrupt-index message ends with the fix.
REBUILD_HINT = "rebuild it with: rag index --rebuild PATH... (the folders you indexed)"

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    source_path TEXT NOT NULL,
    root TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    indexed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS file_stats (
    doc_id TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    checked_ns INTEGER NOT NULL
);
"""
# A file whose size and mtime match what was recorded is not read again on re-index. Like git's racy check, a
# file modified within this margin of when it was stat'ed is always re-read (mtime may not have ticked).
RACY_MARGIN_NS = 2_000_000_000


class IndexLockedError(IndexError_):
    pass


class IndexMissingError(IndexError_):
    pass


class IndexCorruptError(IndexError_):
    pass


class IndexMismatchError(IndexError_):
    pass


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    title: str
    source_path: str
    root: str
    content_hash: str
    chunk_count: int


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
    generation: str | None = None

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
            "generation": self.generation,
        }


def index_exists(index_dir: Path) -> bool:
    return (Path(index_dir) / CURRENT_FILE).is_file()


def _current_name(index_dir: Path) -> str | None:
    try:
        return (Path(index_dir) / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _current_generation(index_dir: Path) -> Path | None:
    current = Path(index_dir) / CURRENT_FILE
    if not current.is_file():
        return None
    name = current.read_text(encoding="utf-8").strip()
    gen = Path(index_dir) / name
    if not name.startswith("gen-") or not gen.is_dir():
        raise IndexCorruptError(f"{current} points at {name!r}, which is not a generation folder; {REBUILD_HINT}")
    return gen


def _read_manifest(gen: Path) -> dict:
    path = gen / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"manifest missing: {path}; {REBUILD_HINT}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"manifest {path} is truncated or not JSON ({exc}); {REBUILD_HINT}") from None
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"manifest {path} is not a JSON object; {REBUILD_HINT}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexCorruptError(
            f"index at {gen.parent} has format version {version!r}; this version of the tool reads "
            f"{FORMAT_VERSION}; {REBUILD_HINT}"
        )
    return manifest


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        if not path.is_file():
            raise IndexCorruptError(f"catalog missing: {path}; {REBUILD_HINT}")
        # check_same_thread=False: a loaded DocumentIndex serves several threads (its own lock serialises use).
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path)
        conn.executescript(SCHEMA)
    try:
        conn.execute("SELECT count(*) FROM chunks").fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise IndexCorruptError(f"catalog {path} is truncated or not SQLite ({exc}); {REBUILD_HINT}") from None
    return conn


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _describe_files(gen: Path) -> dict[str, dict[str, object]]:
    """Size and sha256 of every data file of a generation, recorded in its manifest."""
    return {f.name: {"bytes": f.stat().st_size, "sha256": _file_digest(f)}
            for f in sorted(gen.iterdir()) if f.is_file() and f.name != MANIFEST_FILE}


def _verify_files(manifest: dict, gen: Path) -> None:
    """Check the data files against the sizes and checksums in the manifest before any parser sees them, so
    a truncated or damaged file is a clear error rather than a crash or garbage deep inside FAISS or SQLite.
    Manifests written before checksums were recorded have no "files" entry and are not checked."""
    for name, expected in (manifest.get("files") or {}).items():
        path = gen / name
        if not path.is_file():
            raise IndexCorruptError(f"index file missing: {path}; {REBUILD_HINT}")
        size = path.stat().st_size
        if size != expected.get("bytes"):
            raise IndexCorruptError(f"index file {path} is truncated or damaged ({size} bytes, the manifest "
                                    f"says {expected.get('bytes')}); {REBUILD_HINT}")
        if _file_digest(path) != expected.get("sha256"):
            raise IndexCorruptError(f"index file {path} is damaged (checksum mismatch); {REBUILD_HINT}")


def _load_store(manifest: dict, gen: Path, config: StoreConfig | None = None) -> VectorStore:
    try:
        store_manifest = manifest["store"]
        dimension = int(manifest["dimension"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"manifest {gen / MANIFEST_FILE} lacks {exc}; {REBUILD_HINT}") from None
    try:
        return load_store(store_manifest, gen, dimension, config or StoreConfig())
    except StoreError as exc:
        raise IndexCorruptError(f"{exc} (in {gen / MANIFEST_FILE}); {REBUILD_HINT}") from None


class DocumentIndex:
    """A loaded, read-only index generation: vectors, BM25, chunks and documents in memory."""

    def __init__(self, index_dir: Path, gen: Path, manifest: dict, store: VectorStore,
                 chunks: dict[int, Chunk], documents: dict[str, DocumentInfo],
                 catalog: sqlite3.Connection | None = None):
        self._catalog = catalog
        self._catalog_lock = threading.Lock()
        self.index_dir = index_dir
        self.generation = gen.name
        self.manifest = manifest
        self.store = store
        self.chunks = chunks
        self.documents = documents
        ids = list(chunks)
        self.bm25 = BM25Index(ids, [chunks[i].text for i in ids])

    @classmethod
    def open(cls, index_dir: Path, store_config: StoreConfig | None = None) -> DocumentIndex:
        """Load the live generation. A writer may publish a new one and delete the old one while we read it;
        then the error is not corruption, so we retry with the new CURRENT."""
        index_dir = Path(index_dir)
        for attempt in range(5):
            before = _current_name(index_dir)
            try:
                gen = _current_generation(index_dir)
                if gen is None:
                    raise IndexMissingError(f"no index at {index_dir}; create one with: rag index PATH")
                return cls._open_generation(index_dir, gen, store_config)
            except (IndexCorruptError, OSError, RuntimeError, sqlite3.Error):
                # A file vanishing mid-read (FileNotFoundError from the OS, FAISS or SQLite) is only a race with
                # a writer when CURRENT moved meanwhile; otherwise it is real and is raised.
                if attempt == 4 or _current_name(index_dir) == before:
                    raise
                log.info("generation %s was replaced while loading it; loading the new one", before)
        raise AssertionError("unreachable")  # pragma: no cover

    @classmethod
    def _open_generation(cls, index_dir: Path, gen: Path, store_config: StoreConfig | None = None) -> DocumentIndex:
        manifest = _read_manifest(gen)
        _verify_files(manifest, gen)
        store = _load_store(manifest, gen, store_config)
        conn = _connect(gen / CATALOG_FILE, readonly=True)
        try:
            chunks = {
                row[0]: Chunk(chunk_id=row[0], doc_id=row[1], ordinal=row[2], start=row[3], end=row[4], text=row[5])
                for row in conn.execute('SELECT chunk_id, doc_id, ordinal, start, "end", text FROM chunks')
            }
            counts = dict(conn.execute("SELECT doc_id, count(*) FROM chunks GROUP BY doc_id").fetchall())
            documents = {
                row[0]: DocumentInfo(row[0], row[1], row[2], row[3], row[4], counts.get(row[0], 0))
                for row in conn.execute("SELECT doc_id, title, source_path, root, content_hash FROM documents")
            }
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise IndexCorruptError(f"catalog in {gen} is damaged ({exc}); {REBUILD_HINT}") from None
        if len(store) != len(chunks):
            conn.close()
            raise IndexCorruptError(
                f"index at {index_dir} is inconsistent: {len(store)} vectors but {len(chunks)} chunks; "
                f"{REBUILD_HINT}"
            )
        # The catalog stays open: once a writer publishes a newer generation it deletes this folder, and the
        # open file keeps document_text() working on the snapshot this index was loaded from.
        return cls(index_dir, gen, manifest, store, chunks, documents, catalog=conn)

    def check_embedder(self, embedder: Embedder) -> None:
        built = self.manifest.get("embedder")
        if built != embedder.fingerprint:
            raise IndexMismatchError(
                f"the index at {self.index_dir} was built with embedder {built!r}, but the configured embedder "
                f"is {embedder.fingerprint!r}; rebuild it with: rag index --rebuild"
            )

    def document_text(self, doc_id: str) -> str:
        if self._catalog is not None:
            with self._catalog_lock:
                row = self._catalog.execute("SELECT text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        else:
            conn = _connect(self.index_dir / self.generation / CATALOG_FILE, readonly=True)
            try:
                row = conn.execute("SELECT text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
            finally:
                conn.close()
        if row is None:
            raise KeyError(doc_id)
        return row[0]

    def title(self, doc_id: str) -> str:
        info = self.documents.get(doc_id)
        return info.title if info else doc_id


@contextlib.contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive, non-blocking writer lock; a second writer gets a clear error instead of waiting."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(
                f"index at {index_dir} is locked by another process that is writing to it; try again when it ends"
            ) from None
        yield


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Indexer:
    """Incremental writer: adds new and changed documents, removes deleted ones, never re-embeds
    unchanged ones, and publishes a new generation atomically."""

    def __init__(self, index_dir: Path, embedder: Embedder, chunker: SentenceChunker, *, progress: bool = True,
                 limits: LoadLimits | None = None, store_config: StoreConfig | None = None, workers: int = 1,
                 ray_address: str = ""):
        self.index_dir = Path(index_dir)
        self.workers = workers
        self.ray_address = ray_address
        self._file_stats: dict[str, tuple[int, int, int]] = {}  # doc_id -> (size, mtime_ns, checked_ns)
        self.embedder = embedder
        self.chunker = chunker
        self.progress = progress
        self.limits = limits or LoadLimits()
        self.store_config = store_config or StoreConfig()

    # -- public API -------------------------------------------------------------------------------

    def index_paths(self, paths: Iterable[Path], *, rebuild: bool = False) -> IndexReport:
        """Index files and folders. Files that vanished from a folder given here are removed."""
        paths = [Path(p) for p in paths]
        report = IndexReport()
        loaded: list[tuple[Document, str]] = []
        roots = {str(p.resolve()) for p in paths if p.is_dir()}
        found = list(discover_files(paths))
        seen_in_roots: set[tuple[str, str]] = set()
        files = [f for f in found if not isinstance(f, SkippedFile)]
        report.skipped.extend(f for f in found if isinstance(f, SkippedFile))
        for path in paths:
            if path.is_dir() and not any(
                not isinstance(f, SkippedFile) and _is_under(f[0], path) for f in found
            ):
                report.skipped.append(SkippedFile(str(path), "folder holds no supported documents"))
        known = {} if rebuild else self._known_file_stats()
        self._file_stats = {}
        to_load = []
        for file, doc_id in files:
            root = self._root_of(file, paths)
            try:
                st = file.stat()
                stat = (st.st_size, st.st_mtime_ns, time.time_ns())
            except OSError:
                to_load.append((file, doc_id))
                continue
            old = known.get(doc_id)  # (root, size, mtime_ns, checked_ns)
            if old and old[0] == root and old[1:3] == stat[:2] and old[2] < old[3] - RACY_MARGIN_NS:
                seen_in_roots.add((root, doc_id))
                report.unchanged.append(doc_id)
                continue
            self._file_stats[doc_id] = stat
            to_load.append((file, doc_id))
        files = to_load
        executor = make_executor(self.workers, self.ray_address) if len(files) > 1 else SerialExecutor()
        try:
            results = load_documents(files, executor, self.limits)
            for (file, doc_id), result in zip(progress_bar(files, "Reading documents", enabled=self.progress),
                                              results, strict=True):
                root = self._root_of(file, paths)
                seen_in_roots.add((root, doc_id))
                if isinstance(result, LoadError):
                    report.skipped.append(SkippedFile(str(file), result.reason))
                    log.warning("skipped %s", result)
                else:
                    loaded.append((result, root))
        finally:
            executor.close()
        try:
            return self._apply(loaded, roots, seen_in_roots, report, rebuild=rebuild)
        finally:
            self._file_stats = {}

    def add_documents(self, documents: Iterable[Document], root: str = "") -> IndexReport:
        """Index already-loaded documents (uploads, datasets); nothing is removed."""
        return self._apply([(d, root) for d in documents], set(), set(), IndexReport(), rebuild=False)

    def remove_documents(self, doc_ids: Iterable[str]) -> IndexReport:
        report = IndexReport()
        return self._apply([], set(), set(), report, rebuild=False, remove_ids=set(doc_ids))

    def rebuild(self) -> IndexReport:
        return self._apply([], set(), set(), IndexReport(), rebuild=True)

    # -- internals --------------------------------------------------------------------------------

    def _known_file_stats(self) -> dict[str, tuple[str, int, int, int]]:
        """doc_id -> (root, size, mtime_ns, checked_ns) recorded by the live generation."""
        try:
            gen = _current_generation(self.index_dir)
        except IndexCorruptError:
            return {}
        if gen is None or not (gen / CATALOG_FILE).is_file():
            return {}
        try:
            conn = sqlite3.connect(f"file:{gen / CATALOG_FILE}?mode=ro", uri=True)
            try:
                rows = conn.execute("SELECT f.doc_id, d.root, f.size, f.mtime_ns, f.checked_ns FROM file_stats f "
                                    "JOIN documents d ON d.doc_id = f.doc_id").fetchall()
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            return {}  # an older catalog without the table, or a damaged one: read every file
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    @staticmethod
    def _root_of(file: Path, paths: list[Path]) -> str:
        for p in paths:
            if p.is_dir() and _is_under(file, p):
                return str(p.resolve())
        return str(file.resolve().parent)

    def _apply(self, loaded: list[tuple[Document, str]], roots: set[str], seen: set[tuple[str, str]],
               report: IndexReport, *, rebuild: bool, remove_ids: set[str] | None = None) -> IndexReport:
        started = time.perf_counter()
        with index_lock(self.index_dir):
            try:
                old_gen = _current_generation(self.index_dir)
                old_manifest = _read_manifest(old_gen) if old_gen else None
                if old_gen is not None and old_manifest is not None:
                    _verify_files(old_manifest, old_gen)
                    _connect(old_gen / CATALOG_FILE, readonly=True).close()
            except IndexCorruptError as exc:
                if not rebuild:
                    raise
                # The documented fix for a damaged index: start a new one from the files given now.
                log.warning("previous index unreadable, starting a new one: %s", exc)
                old_gen, old_manifest = None, None
                report.rebuilt_reason = (f"the previous index could not be read ({exc}); built a new one from "
                                         "the files given")
            chunker_settings = self.chunker.settings()
            if old_manifest and not rebuild:
                if old_manifest.get("embedder") != self.embedder.fingerprint:
                    report.rebuilt_reason = (
                        f"embedder changed from {old_manifest.get('embedder')!r} to {self.embedder.fingerprint!r}: "
                        "re-embedding every document"
                    )
                elif old_manifest.get("chunker") != chunker_settings:
                    report.rebuilt_reason = (
                        f"chunker settings changed from {old_manifest.get('chunker')} to {chunker_settings}: "
                        "re-chunking and re-embedding every document"
                    )
                elif old_manifest.get("store", {}).get("kind") != self.store_config.kind:
                    report.rebuilt_reason = (
                        f"vector store changed from {old_manifest.get('store', {}).get('kind')!r} to "
                        f"{self.store_config.kind!r}: re-embedding every document"
                    )
                if report.rebuilt_reason:
                    log.warning("%s", report.rebuilt_reason)
                    rebuild = True
            elif rebuild and old_manifest:
                report.rebuilt_reason = "rebuild requested"

            new_gen = self._new_generation_dir(old_gen)
            try:
                self._write_generation(old_gen, old_manifest, new_gen, loaded, roots, seen, report,
                                       rebuild=rebuild, remove_ids=remove_ids or set())
                if old_gen is not None and not report.changed:
                    shutil.rmtree(new_gen, ignore_errors=True)
                    report.generation = old_gen.name
                else:
                    self._publish(new_gen)
                    report.generation = new_gen.name
            except BaseException:
                release_generation(new_gen, old_gen, self.store_config)
                shutil.rmtree(new_gen, ignore_errors=True)
                raise
            self._cleanup(keep=report.generation)
        report.seconds = time.perf_counter() - started
        return report

    def _new_generation_dir(self, old_gen: Path | None) -> Path:
        number = int(old_gen.name.split("-")[1]) + 1 if old_gen else 1
        while (self.index_dir / f"gen-{number:06d}").exists():
            number += 1
        gen = self.index_dir / f"gen-{number:06d}"
        gen.mkdir(parents=True)
        return gen

    def _write_generation(self, old_gen: Path | None, old_manifest: dict | None, new_gen: Path,
                          loaded: list[tuple[Document, str]], roots: set[str], seen: set[tuple[str, str]],
                          report: IndexReport, *, rebuild: bool, remove_ids: set[str]) -> None:
        catalog = new_gen / CATALOG_FILE
        if old_gen is not None:
            shutil.copyfile(old_gen / CATALOG_FILE, catalog)
        conn = _connect(catalog, readonly=False)
        try:
            existing = {
                row[0]: (row[1], row[2])
                for row in conn.execute("SELECT doc_id, content_hash, root FROM documents")
            }
            if old_gen is not None and not rebuild:
                store: VectorStore = _load_store(old_manifest or {}, old_gen, self.store_config)
            else:
                store = create_store(self.store_config, self.embedder.dimension, self.index_dir)
            next_id = int((old_manifest or {}).get("next_chunk_id", 0))

            to_index: list[tuple[Document, str]] = []
            for doc, root in loaded:
                if doc.doc_id in existing:
                    old_hash, old_root = existing[doc.doc_id]
                    if old_root and root and old_root != root:
                        report.skipped.append(SkippedFile(
                            doc.source_path,
                            f"document id {doc.doc_id!r} is already indexed from {old_root}; "
                            "rename the file or remove the other document first"))
                        continue
                    if old_hash == doc.content_hash and not rebuild:
                        report.unchanged.append(doc.doc_id)
                        continue
                    report.updated.append(doc.doc_id)
                else:
                    report.added.append(doc.doc_id)
                to_index.append((doc, root))

            deleted = {d for d, (_, root) in existing.items() if root in roots and (root, d) not in seen}
            deleted |= {d for d in remove_ids if d in existing}
            missing = sorted(d for d in remove_ids if d not in existing)
            if missing:
                raise DocumentNotFoundError(f"not in the index: {', '.join(missing)}; see the ids with: rag docs")
            report.removed.extend(sorted(deleted))

            replaced = deleted | {d.doc_id for d, _ in to_index}
            if rebuild:
                # Re-chunk documents we are not replacing from their stored normalised text.
                keep = [d for d in existing if d not in replaced]
                for doc_id in keep:
                    row = conn.execute(
                        "SELECT title, source_path, root, content_hash, text FROM documents WHERE doc_id = ?",
                        (doc_id,),
                    ).fetchone()
                    to_index.append((Document(doc_id, row[0], row[4], row[1], row[3]), row[2]))
                conn.execute("DELETE FROM chunks")
                conn.execute("DELETE FROM documents")
                conn.execute("DELETE FROM file_stats WHERE doc_id NOT IN (SELECT doc_id FROM documents)")
                next_id = 0
            else:
                for doc_id in sorted(replaced & set(existing)):
                    ids = [r[0] for r in conn.execute("SELECT chunk_id FROM chunks WHERE doc_id = ?", (doc_id,))]
                    store.remove(np.asarray(ids, dtype=np.int64))
                    conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
                    conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
                    conn.execute("DELETE FROM file_stats WHERE doc_id = ?", (doc_id,))

            new_chunks: list[Chunk] = []
            now = time.time()
            for doc, root in to_index:
                chunks = self.chunker.chunk(doc, first_id=next_id)
                next_id += len(chunks)
                new_chunks.extend(chunks)
                conn.execute(
                    "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (doc.doc_id, doc.title, doc.source_path, root, doc.content_hash, doc.text, now),
                )
                conn.executemany(
                    'INSERT INTO chunks (chunk_id, doc_id, ordinal, start, "end", text) VALUES (?, ?, ?, ?, ?, ?)',
                    [(c.chunk_id, c.doc_id, c.ordinal, c.start, c.end, c.text) for c in chunks],
                )
                stat = self._file_stats.get(doc.doc_id)
                if stat is not None:
                    conn.execute("INSERT OR REPLACE INTO file_stats VALUES (?, ?, ?, ?)", (doc.doc_id, *stat))
            self._embed_into(store, new_chunks)
            report.chunks_embedded = len(new_chunks)
            conn.commit()
            documents, chunk_count = conn.execute(
                "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)"
            ).fetchone()
        finally:
            conn.close()

        store_info = store.save(new_gen)
        for file in new_gen.iterdir():
            with open(file, "rb") as fh:
                os.fsync(fh.fileno())
        manifest = {
            "format_version": FORMAT_VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "embedder": self.embedder.fingerprint,
            # The old generation's dimension when nothing forced a rebuild: an unchanged re-index then never
            # loads the embedding model (seconds of a re-index that otherwise takes ~0.1 s).
            "dimension": int(old_manifest["dimension"]) if old_manifest and not rebuild else self.embedder.dimension,
            "chunker": self.chunker.settings(),
            "store": store_info,
            "documents": documents,
            "chunks": chunk_count,
            "next_chunk_id": next_id,
            "files": _describe_files(new_gen),
        }
        tmp = new_gen / (MANIFEST_FILE + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, new_gen / MANIFEST_FILE)
        _fsync_dir(new_gen)

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
                store.add(np.asarray([c.chunk_id for c in part], dtype=np.int64), vectors)
                bar.update(len(part))

    def _publish(self, gen: Path) -> None:
        tmp = self.index_dir / (CURRENT_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(gen.name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.index_dir / CURRENT_FILE)
        _fsync_dir(self.index_dir)

    def _cleanup(self, keep: str | None) -> None:
        for child in self.index_dir.iterdir():
            if child.is_dir() and child.name.startswith("gen-") and child.name != keep:
                release_generation(child, self.index_dir / keep if keep else None, self.store_config)
                shutil.rmtree(child, ignore_errors=True)


def _is_under(file: Path, folder: Path) -> bool:
    try:
        file.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False
