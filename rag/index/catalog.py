"""The SQLite catalog of a snapshot: documents (with their normalised text), chunks (with offsets) and the
file stats that let a re-index skip unchanged files."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rag.index.layout import CATALOG_FILE, REBUILD_HINT, IndexCorruptError
from rag.types import Chunk, Document

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

# The columns of a Chunk from "chunks c JOIN documents d": the text from the document (SQLite's substr counts
# characters, as Python's slices do), or as stored by catalogs written before chunk texts were left out.
CHUNK_COLUMNS = ('c.chunk_id, c.doc_id, c.ordinal, c.start, c."end", '
                 'CASE WHEN c.text = \'\' THEN substr(d.text, c.start + 1, c."end" - c.start) ELSE c.text END')
CHUNKS_WITH_TEXT = "chunks c JOIN documents d ON d.doc_id = c.doc_id"

FileStat = tuple[int, int, int]  # size, mtime_ns, when it was stat'ed (ns)


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    title: str
    source_path: str
    root: str
    content_hash: str
    chunk_count: int


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        if not path.is_file():
            raise IndexCorruptError(f"catalog missing: {path}; {REBUILD_HINT}")
        # check_same_thread=False: a loaded DocumentIndex serves several threads (its own lock serialises use).
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path)
        conn.executescript(SCHEMA)
    try:
        conn.execute("SELECT chunk_id FROM chunks LIMIT 1").fetchone()  # reads the schema and one page, at any size
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise IndexCorruptError(f"catalog {path} is truncated or not SQLite ({exc}); {REBUILD_HINT}") from None
    return conn


def known_file_stats(snapshot: Path | None) -> dict[str, tuple[str, int, int, int]]:
    """doc_id -> (root, size, mtime_ns, checked_ns) recorded by a snapshot; empty when it has none."""
    if snapshot is None or not (snapshot / CATALOG_FILE).is_file():
        return {}
    try:
        conn = sqlite3.connect(f"file:{snapshot / CATALOG_FILE}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT f.doc_id, d.root, f.size, f.mtime_ns, f.checked_ns FROM file_stats f "
                                "JOIN documents d ON d.doc_id = f.doc_id").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return {}  # an older catalog without the table, or a damaged one: read every file
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def indexed_documents(conn: sqlite3.Connection, doc_ids: Iterable[str] | None = None) -> dict[str, tuple[str, str]]:
    """doc_id -> (content_hash, root), of every document or of those of ``doc_ids`` that are indexed (an upload
    to a large index then reads a few rows, not all of them)."""
    sql = "SELECT doc_id, content_hash, root FROM documents"
    if doc_ids is None:
        return {row[0]: (row[1], row[2]) for row in conn.execute(sql)}
    wanted, found = list(doc_ids), {}
    for start in range(0, len(wanted), 500):
        part = wanted[start:start + 500]
        for row in conn.execute(f"{sql} WHERE doc_id IN ({','.join('?' * len(part))})", part):
            found[row[0]] = (row[1], row[2])
    return found


def stored_documents(conn: sqlite3.Connection, doc_ids: Iterable[str]) -> list[tuple[Document, str]]:
    """Documents as stored (normalised text) with their roots, to re-chunk them without reading the files."""
    out = []
    for doc_id in doc_ids:
        row = conn.execute("SELECT title, source_path, root, content_hash, text FROM documents WHERE doc_id = ?",
                           (doc_id,)).fetchone()
        out.append((Document(doc_id, row[0], row[4], row[1], row[3]), row[2]))
    return out


def clear(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM chunks")
    conn.execute("DELETE FROM documents")
    conn.execute("DELETE FROM file_stats")


def delete_document(conn: sqlite3.Connection, doc_id: str) -> list[int]:
    """Remove a document and its chunks; returns the removed chunk ids (for the vector store)."""
    ids = [r[0] for r in conn.execute("SELECT chunk_id FROM chunks WHERE doc_id = ?", (doc_id,))]
    conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
    conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
    conn.execute("DELETE FROM file_stats WHERE doc_id = ?", (doc_id,))
    return ids


def insert_document(conn: sqlite3.Connection, doc: Document, root: str, chunks: list[Chunk],
                    stat: FileStat | None) -> None:
    conn.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (doc.doc_id, doc.title, doc.source_path, root, doc.content_hash, doc.text, time.time()))
    # A chunk's text is its document's text between its offsets: it is not stored twice (CHUNK_TEXT reads it),
    # which keeps the catalog, copied on every update, 45% smaller. Catalogs written before hold it; both read.
    conn.executemany('INSERT INTO chunks (chunk_id, doc_id, ordinal, start, "end", text) VALUES (?, ?, ?, ?, ?, ?)',
                     [(c.chunk_id, c.doc_id, c.ordinal, c.start, c.end, "") for c in chunks])
    if stat is not None:
        conn.execute("INSERT OR REPLACE INTO file_stats VALUES (?, ?, ?, ?)", (doc.doc_id, *stat))


def counts(conn: sqlite3.Connection) -> tuple[int, int]:
    """(documents, chunks)."""
    return conn.execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)").fetchone()
