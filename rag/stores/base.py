"""The vector store interface. Every implementation passes tests/test_store_conformance.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from rag.errors import StoreError


def checked_ids(ids: np.ndarray, dimension: int, vectors: np.ndarray | None = None) -> np.ndarray:
    """ids as a flat int64 array; with vectors, StoreError unless they are one row of ``dimension`` per id."""
    ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
    if vectors is not None and (vectors.ndim != 2 or vectors.shape != (len(ids), dimension)):
        raise StoreError(f"expected {len(ids)} vectors of dimension {dimension}, got {vectors.shape}")
    return ids


@runtime_checkable
class VectorStore(Protocol):
    """Inner-product search over L2-normalised vectors keyed by int64 chunk ids."""

    kind: str
    dimension: int

    def add(self, ids: np.ndarray, vectors: np.ndarray, texts: Sequence[str] | None = None) -> None:
        """Add vectors under the given ids (ids must not be present already). ``texts``, one per id, are the
        chunks' texts: a store that searches them itself (see ``lexical``) keeps them, or what it searches of
        them, with the vectors; the others ignore them."""

    def remove(self, ids: np.ndarray) -> int:
        """Remove the given ids; returns how many were present."""

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k nearest ids to one query vector, best first, as (id, score). With ``allowed`` (int64 ids), only
        those ids are searched: the filter runs inside the search, so up to k of them still come back."""

    def __len__(self) -> int: ...

    def save(self, directory: Path) -> dict[str, object]:
        """Persist into ``directory``; returns a description for the manifest."""

    def lexical(self) -> LexicalIndex | None:
        """The store's own keyword search over the texts given to ``add`` (it follows every later write of the
        store), or None when the store keeps no texts and the index keeps its own BM25."""


@runtime_checkable
class LexicalSearch(Protocol):
    """Keyword (BM25) search over chunk texts keyed by int64 chunk ids. Every implementation passes
    tests/test_lexical_conformance.py."""

    kind: str

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k best-scoring ids for a query, best first, as (id, score), only ids with a positive score; with
        ``allowed`` (int64 ids), only those are ranked."""

    def __len__(self) -> int: ...


@runtime_checkable
class LexicalIndex(LexicalSearch, Protocol):
    """The lexical part of an index snapshot as its writer sees it: a keyword search that is also updated and
    saved with the snapshot. ``rag.bm25.BM25Index`` keeps its own files; a store's ``lexical()`` follows the
    store, so its ``add`` and ``remove`` have nothing to do and its ``save`` only describes it."""

    def add(self, ids: np.ndarray, texts: Sequence[str]) -> None: ...

    def remove(self, ids: np.ndarray) -> int: ...

    def save(self, directory: Path) -> dict[str, object]:
        """Persist into a snapshot folder; returns the manifest's ``lexical`` entry (its ``kind`` says which
        implementation reads it back)."""
