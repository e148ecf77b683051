"""What a pipeline shares with its variants: lazily built models and the live index snapshot in memory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from embeddings.encoder import Embedder
from rag.index import DocumentIndex, current_name
from rag.settings import Settings
from rag.stores.factory import StoreConfig

T = TypeVar("T")


class Shared(Generic[T]):
    """A lazily built component that a pipeline shares with its variants (one copy in memory, built once)."""

    def __init__(self, build: Callable[[], T], value: T | None = None):
        self._build = build
        self._value = value
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value


class LiveIndex:
    """The live index snapshot in memory, reopened when a writer publishes a new one; shared by every
    variant that reads the same index with the same embedder, so variants never load their own copy."""

    def __init__(self, index_dir: Path, store_config: StoreConfig):
        self.index_dir = index_dir
        self.store_config = store_config
        self._index: DocumentIndex | None = None
        self._lock = threading.Lock()

    def get(self, embedder: Embedder) -> DocumentIndex:
        with self._lock:
            if self._index is None or current_name(self.index_dir) != self._index.snapshot:
                index = DocumentIndex.open(self.index_dir, self.store_config)
                index.check_embedder(embedder)
                self._index = index
            return self._index

    def forget(self) -> None:
        with self._lock:
            self._index = None


def embedder_key(s: Settings) -> tuple[object, ...]:
    return (s.embedder, s.embed_batch_size, s.embed_backend, s.model_cache_dir)


def generator_key(s: Settings) -> tuple[object, ...]:
    return (s.generator, s.gguf_path, s.openai_base_url, s.openai_model, s.hf_model_dir, s.n_ctx, s.seed,
            s.n_threads, s.model_cache_dir, s.prompt_lookup_tokens)
