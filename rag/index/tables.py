"""Read-only views of a snapshot's catalog that read rows on demand: a loaded index holds no chunk text or
document row in memory until something asks for it, so opening costs the same at a thousand chunks as at a
million (docs/decisions.md, "Lexical index on disk")."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np

from rag.index.catalog import CHUNK_COLUMNS, CHUNKS_WITH_TEXT, DocumentInfo
from rag.types import Chunk

_DOCUMENT_QUERY = ("SELECT d.doc_id, d.title, d.source_path, d.root, d.content_hash, "
                   "(SELECT count(*) FROM chunks c WHERE c.doc_id = d.doc_id) FROM documents d")


class _Catalog:
    """One read-only connection shared by a loaded index's threads; the lock serialises its use."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.lock: AbstractContextManager = threading.Lock()

    def rows(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self.lock:
            return self.conn.execute(sql, tuple(params)).fetchall()

    def stream(self, sql: str, batch: int = 10_000) -> Iterator[tuple]:
        """The rows of ``sql`` (whose one "?" takes the last key seen: keyset pagination on the first column) in
        batches, without holding the lock while the caller works on them."""
        last = -(2**63)
        while True:
            rows = self.rows(f"{sql} LIMIT {batch}", (last,))
            yield from rows
            if len(rows) < batch:
                return
            last = rows[-1][0]


def _chunk(row: tuple) -> Chunk:
    return Chunk(chunk_id=row[0], doc_id=row[1], ordinal=row[2], start=row[3], end=row[4], text=row[5])


class ChunkTable(Mapping[int, Chunk]):
    """chunk id -> Chunk, read from the catalog on demand."""

    def __init__(self, catalog: _Catalog, count: int):
        self._catalog = catalog
        self._count = count

    def __getitem__(self, chunk_id: int) -> Chunk:
        rows = self._catalog.rows(f"SELECT {CHUNK_COLUMNS} FROM {CHUNKS_WITH_TEXT} WHERE c.chunk_id = ?",
                                  (int(chunk_id),))
        if not rows:
            raise KeyError(chunk_id)
        return _chunk(rows[0])

    def many(self, chunk_ids: Iterable[int]) -> dict[int, Chunk]:
        """Several chunks in one query (the hits of a search)."""
        ids = [int(i) for i in chunk_ids]
        found: dict[int, Chunk] = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT {CHUNK_COLUMNS} FROM {CHUNKS_WITH_TEXT} WHERE c.chunk_id IN ({marks})"
            for row in self._catalog.rows(sql, part):
                found[row[0]] = _chunk(row)
        return found

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        return (row[0] for row in self._catalog.stream("SELECT chunk_id FROM chunks WHERE chunk_id > ? "
                                                      "ORDER BY chunk_id"))

    def values(self) -> Iterator[Chunk]:  # type: ignore[override]
        return (_chunk(row) for row in self._catalog.stream(
            f"SELECT {CHUNK_COLUMNS} FROM {CHUNKS_WITH_TEXT} WHERE c.chunk_id > ? ORDER BY c.chunk_id"))

    def items(self) -> Iterator[tuple[int, Chunk]]:  # type: ignore[override]
        return ((c.chunk_id, c) for c in self.values())

    def documents(self) -> ChunkDocuments:
        """Every chunk's document (one pass over the chunk rows, in document and text order)."""
        return ChunkDocuments.from_rows(
            self._catalog.rows("SELECT doc_id, chunk_id FROM chunks ORDER BY doc_id, ordinal"))

    def ids_of(self, doc_ids: Iterable[str]) -> np.ndarray:
        docs = list(doc_ids)
        out: list[int] = []
        for start in range(0, len(docs), 500):
            part = docs[start:start + 500]
            marks = ",".join("?" * len(part))
            out += [r[0] for r in self._catalog.rows(f"SELECT chunk_id FROM chunks WHERE doc_id IN ({marks})", part)]
        return np.asarray(sorted(out), dtype=np.int64)


@dataclass(frozen=True)
class ChunkDocuments:
    """Which document each chunk belongs to, as numbers: ``doc_of[chunk_id]`` is the document's number (-1 for an
    id no chunk has), ``names[number]`` its id, and ``chunks(number)`` its chunk ids in text order. Read once per
    snapshot, on the first question that asks for a document-level ranking (``document_weight``)."""

    doc_of: np.ndarray
    names: tuple[str, ...]
    starts: np.ndarray  # CSR offsets into ``members``: document n's chunks are members[starts[n]:starts[n + 1]]
    members: np.ndarray

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[str, int]]) -> ChunkDocuments:
        """From (doc id, chunk id) rows grouped by document, each document's chunks in text order."""
        names: list[str] = []
        starts: list[int] = []
        members = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        for i, (doc_id, _) in enumerate(rows):
            if not names or names[-1] != doc_id:
                names.append(doc_id)
                starts.append(i)
        starts.append(len(rows))
        doc_of = np.full(int(members.max()) + 1 if len(members) else 0, -1, dtype=np.int64)
        for n in range(len(names)):
            doc_of[members[starts[n]:starts[n + 1]]] = n
        return cls(doc_of, tuple(names), np.asarray(starts, dtype=np.int64), members)

    def chunks(self, number: int) -> np.ndarray:
        return self.members[self.starts[number]:self.starts[number + 1]]

    def numbers(self, doc_ids: Iterable[str]) -> np.ndarray:
        wanted = set(doc_ids)
        return np.asarray([n for n, d in enumerate(self.names) if d in wanted], dtype=np.int64)


class DocumentTable(Mapping[str, DocumentInfo]):
    """doc id -> DocumentInfo, read from the catalog on demand."""

    def __init__(self, catalog: _Catalog, count: int):
        self._catalog = catalog
        self._count = count

    def __getitem__(self, doc_id: str) -> DocumentInfo:
        rows = self._catalog.rows(_DOCUMENT_QUERY + " WHERE d.doc_id = ?", (doc_id,))
        if not rows:
            raise KeyError(doc_id)
        return DocumentInfo(*rows[0])

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and bool(
            self._catalog.rows("SELECT 1 FROM documents WHERE doc_id = ?", (doc_id,)))

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        return (row[0] for row in self._catalog.rows("SELECT doc_id FROM documents ORDER BY doc_id"))

    def values(self) -> list[DocumentInfo]:  # type: ignore[override]
        return [DocumentInfo(*row) for row in self._catalog.rows(_DOCUMENT_QUERY + " ORDER BY d.doc_id")]

    def title(self, doc_id: str) -> str | None:
        rows = self._catalog.rows("SELECT title FROM documents WHERE doc_id = ?", (doc_id,))
        return rows[0][0] if rows else None

    def text(self, doc_id: str) -> str:
        rows = self._catalog.rows("SELECT text FROM documents WHERE doc_id = ?", (doc_id,))
        if not rows:
            raise KeyError(doc_id)
        return rows[0][0]


def open_tables(conn: sqlite3.Connection, counts: tuple[int, int] | None = None) -> tuple[ChunkTable, DocumentTable]:
    """The chunk and document views of an open catalog connection (raises sqlite3.DatabaseError when damaged).
    ``counts`` (documents, chunks) as the manifest records them spare two table scans; without them the catalog
    is counted."""
    catalog = _Catalog(conn)
    documents, chunks = counts or catalog.rows(
        "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)")[0]
    return ChunkTable(catalog, chunks), DocumentTable(catalog, documents)
