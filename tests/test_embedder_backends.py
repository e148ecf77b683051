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
    # The graph that runs is the fused one: one Attention kernel per layer (the speed-up depends on it).
    import onnx

    (fused,) = tmp_path.glob("*-fused.onnx")
    ops = [node.op_type for node in onnx.load(str(fused)).graph.node]
    assert ops.count("Attention") == 6 and "EmbedLayerNormalization" in ops
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


def test_int8_backend_has_its_own_fingerprint_and_close_vectors(embedder, tmp_path):
    fp32 = SentenceTransformerEmbedder(backend="onnx", cache_dir=tmp_path)
    int8 = SentenceTransformerEmbedder(backend="onnx-int8", cache_dir=tmp_path)
    a, b = fp32.encode(TEXTS), int8.encode(TEXTS)
    assert list(tmp_path.glob("*-int8.onnx")), "the quantized model is cached beside the fp32 export"
    assert b.shape == a.shape and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    # Quantization changes the vectors (cosine ~0.95 to fp32), so an index must know which kind it holds.
    cosines = np.sum(a * b, axis=1)
    assert cosines.min() > 0.85 and not np.allclose(a, b, atol=1e-3)
    assert int8.fingerprint == fp32.fingerprint + "+int8"
    # Still a semantic embedder: the related question is nearer its topic than an unrelated one.
    topic, question, other = int8.encode(["Ofsted inspection of children's services",
                                          "What did the Ofsted inspectors find?", "The recipe needs flour"])
    assert topic @ question > topic @ other
