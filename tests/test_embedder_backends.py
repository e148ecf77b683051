"""The ONNX Runtime embedder gives the torch embedder's vectors (same weights, same fingerprint)."""

import numpy as np
import pytest

from embeddings.encoder import EmbedderError, SentenceTransformerEmbedder
from rag.settings import SettingsError, load_settings

TEXTS = ["Ofsted inspection of children's social care", "Who was sacked after the Baby P case?",
         "word " * 400, "a", "The placement review happens within 28 days."]


def test_onnx_and_torch_vectors_match(embedder, tmp_path):
    torch_embedder = SentenceTransformerEmbedder(backend="torch")
    onnx_embedder = SentenceTransformerEmbedder(backend="onnx", cache_dir=tmp_path)
    a, b = torch_embedder.encode(TEXTS), onnx_embedder.encode(TEXTS)
    assert onnx_embedder.backend == "onnx" and list(tmp_path.glob("*.onnx"))
    assert a.shape == b.shape == (len(TEXTS), 384) and np.abs(a - b).max() < 1e-4
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert onnx_embedder.fingerprint == torch_embedder.fingerprint
    # A second embedder reuses the exported model; batch composition does not change a text's vector.
    again = SentenceTransformerEmbedder(backend="onnx", cache_dir=tmp_path)
    assert np.abs(again.encode(TEXTS[:1]) - b[:1]).max() < 1e-5


def test_unknown_backend_is_a_clear_error(monkeypatch):
    with pytest.raises(EmbedderError, match="backend"):
        SentenceTransformerEmbedder(backend="tpu")
    monkeypatch.setenv("RAG_EMBED_BACKEND", "tpu")
    with pytest.raises(SettingsError, match="embed_backend"):
        load_settings()
