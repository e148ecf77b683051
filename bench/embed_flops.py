"""Embedding throughput against the hardware limit, and cheaper embedder variants with their retrieval quality.

FLOPs per chunk of all-MiniLM-L6-v2 are counted analytically from the chunks' real token counts (6 layers,
hidden 384, FFN 1536: QKV + output projections 8h^2, FFN 4hi, attention 4Lh per token and layer; multiply-add
= 2 FLOPs). Achieved FLOP/s = FLOPs of the chunks / encode time. Peak = cores x FP32 FLOPs per cycle x clock
(stated assumptions in the result). Variants, each timed on the same chunks back to back and scored by
dense-only document recall@10 on the Quoref queries whose gold passage is in the sample:
  torch-fp32     the current embedder (sentence-transformers, torch CPU)
  torch-int8     torch dynamic int8 quantisation of every Linear layer
  onnx-fp32      the transformer exported with torch.onnx, run by ONNX Runtime (mean pooling + L2 in numpy)
  onnx-int8      the same ONNX model after onnxruntime.quantization.quantize_dynamic
  onnx-fused-fp32  the ONNX model after onnxruntime.transformers' BERT graph fusion (attention, layer norm,
                   GELU fused into single kernels; still fp32)
  onnx-fused-int8  the fused model, then dynamic int8
Usage: .venv/bin/python bench/embed_flops.py [--passages 150]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUOREF, load_average, write_result  # noqa: E402

from embeddings.encoder import SentenceTransformerEmbedder  # noqa: E402
from eval import metrics as M  # noqa: E402
from eval.beir import load_corpus, load_queries  # noqa: E402
from rag.chunker import SentenceChunker  # noqa: E402

LAYERS, HIDDEN, FFN = 6, 384, 1536


def flops_per_sequence(tokens: int) -> float:
    per_token_layer = 2 * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN) + 2 * 2 * tokens * HIDDEN
    return float(LAYERS * tokens * per_token_layer)


def peak_flops() -> dict[str, object]:
    flags = Path("/proc/cpuinfo").read_text()
    cores = os.cpu_count() or 1
    avx512 = " avx512f" in flags
    # Zen 5 (this EPYC, family 26) and recent Intel server cores: 2 FMA pipes x 16 FP32 lanes (AVX-512);
    # AVX2-only cores: 2 x 8 lanes. One FMA = 2 FLOPs.
    per_cycle = 2 * (16 if avx512 else 8) * 2
    ghz = 2.6  # the TSC/base clock reported by the hypervisor (BogoMIPS 5192 / 2); boost is not visible
    return {"cores": cores, "fp32_flops_per_cycle_per_core": per_cycle, "assumed_ghz": ghz,
            "peak_gflops": round(cores * per_cycle * ghz, 1), "avx512": avx512}


class OnnxEmbedder:
    def __init__(self, base: SentenceTransformerEmbedder, workdir: Path, quantize: bool, fuse: bool = False):
        import onnxruntime as ort
        import torch

        st = base.model
        self.tokenizer = st.tokenizer
        self.max_len = st.max_seq_length
        bert = st[0].auto_model.eval()

        class Wrapped(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask):
                return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        path = workdir / ("minilm-eager.onnx" if fuse else "minilm.onnx")
        if fuse:
            # ONNX Runtime's BERT fusion matches the eager attention graph, not the SDPA one torch exports
            # by default; eager and SDPA compute the same function.
            bert.set_attn_implementation("eager")
        if not path.exists():
            dummy = self.tokenizer(["hello world"], return_tensors="pt")
            torch.onnx.export(Wrapped().eval(), (dummy["input_ids"], dummy["attention_mask"]), str(path),
                              input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                              dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"},
                                            "last_hidden_state": {0: "b", 1: "s"}},
                              opset_version=17, dynamo=False)
        if fuse:
            bert.set_attn_implementation("sdpa")
            from onnxruntime.transformers import optimizer

            fpath = workdir / "minilm-fused.onnx"
            config = bert.config
            fused = optimizer.optimize_model(str(path), model_type="bert", num_heads=config.num_attention_heads,
                                             hidden_size=config.hidden_size)
            print("fused operators:", fused.get_fused_operator_statistics(), flush=True)
            fused.save_model_to_file(str(fpath))
            path = fpath
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            qpath = workdir / f"{path.stem}-int8.onnx"
            quantize_dynamic(str(path), str(qpath), weight_type=QuantType.QInt8)
            path = qpath
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = os.cpu_count() or 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts])
        out = np.zeros((len(texts), HIDDEN), dtype=np.float32)
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            enc = self.tokenizer([texts[j] for j in idx], padding=True, truncation=True, max_length=self.max_len,
                                 return_tensors="np")
            hidden = self.session.run(None, {"input_ids": enc["input_ids"].astype(np.int64),
                                             "attention_mask": enc["attention_mask"].astype(np.int64)})[0]
            mask = enc["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
            out[idx] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


class TorchInt8Embedder:
    def __init__(self, base: SentenceTransformerEmbedder):
        import copy

        import torch

        self.model = torch.ao.quantization.quantize_dynamic(copy.deepcopy(base.model), {torch.nn.Linear},
                                                            dtype=torch.qint8)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=150)
    ap.add_argument("--variants", default="torch-fp32,torch-int8,onnx-fp32,onnx-int8")
    ap.add_argument("--out", default="embed_flops")
    args = ap.parse_args()
    docs = load_corpus(QUOREF)
    docs = random.Random(0).sample(docs, args.passages)
    chunker = SentenceChunker()
    chunks = [c for d in docs for c in chunker.chunk(d)]
    texts = [c.text for c in chunks]
    ids = {d.doc_id for d in docs}
    queries = [q for q in load_queries(QUOREF) if q.gold_docs and set(q.gold_docs) <= ids]
    base = SentenceTransformerEmbedder()
    tok = base.model.tokenizer
    lengths = [min(len(tok(t)["input_ids"]), base.model.max_seq_length) for t in texts]
    total_flops = sum(flops_per_sequence(n) for n in lengths)
    result: dict = {"passages": len(docs), "chunks": len(texts), "queries": len(queries),
                    "tokens_mean": round(float(np.mean(lengths)), 1),
                    "gflops_per_chunk": round(total_flops / len(texts) / 1e9, 3), "peak": peak_flops(), "variants": {}}
    print(result, flush=True)
    reference = None
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.variants.split(","):
            if name == "torch-fp32":
                model = base
            elif name == "torch-int8":
                model = TorchInt8Embedder(base)
            else:
                model = OnnxEmbedder(base, Path(tmp), quantize=name.endswith("int8"), fuse="fused" in name)
            model.encode(texts[:32])  # warm-up
            load = load_average()
            t = time.perf_counter()
            vectors = np.asarray(model.encode(texts), dtype=np.float32)
            seconds = time.perf_counter() - t
            qv = np.asarray(model.encode([q.text for q in queries]), dtype=np.float32)
            scores = qv @ vectors.T
            recall = 0.0
            for q, row in zip(queries, scores, strict=True):
                ranked = list(dict.fromkeys(chunks[i].doc_id for i in np.argsort(-row)[:50]))
                recall += M.recall_at(ranked, set(q.gold_docs), 10)
            if reference is None:
                reference = vectors
            agreement = float(np.mean(np.sum(vectors * reference, axis=1)))
            row = {"seconds": round(seconds, 2), "chunks_per_s": round(len(texts) / seconds, 1),
                   "achieved_gflops": round(total_flops / seconds / 1e9, 1),
                   "fraction_of_peak": round(total_flops / seconds / 1e9 / result["peak"]["peak_gflops"], 3),
                   "dense_recall@10": round(recall / len(queries), 4),
                   "mean_cosine_to_fp32": round(agreement, 5), "load_avg": load}
            result["variants"][name] = row
            print(name, row, flush=True)
    write_result(args.out, result)


if __name__ == "__main__":
    main()
