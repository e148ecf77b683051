"""The vector store interface. Every implementation passes tests/test_store_conformance.py."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


class StoreError(RuntimeError):
    """A store that cannot be opened or used; the message says why."""


@runtime_checkable
class VectorStore(Protocol):
    """Inner-product search over L2-normalised vectors keyed by int64 chunk ids."""

    kind: str
    dimension: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given ids (ids must not be present already)."""

    def remove(self, ids: np.ndarray) -> int:
        """Remove the given ids; returns how many were present."""

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest ids to one query vector, best first, as (id, score)."""

    def __len__(self) -> int: ...

    def save(self, directory: Path) -> dict[str, object]:
        """Persist into ``directory``; returns a description for the manifest."""
