"""IVF recall on real embeddings, and at 1 M on vectors drawn from the real embeddings' distribution.

1. Real: the Quoref index's 12,163 MiniLM chunk vectors (built by bench/fusion.py) and 1,000 real Quoref
   query embeddings; the store forced to IVF; recall@10 against exact search by nprobe.
2. Fitted: 1 M vectors drawn from a Gaussian with the real vectors' mean and covariance (then normalised),
   which keeps MiniLM's anisotropy but none of its topical clusters, so it is harder for IVF than real data
   and easier than isotropic noise (bench/store_scaling.py has both extremes). Queries: real query
   embeddings and fitted draws. Latency through ``FaissStore.search``.
Usage: .venv/bin/python bench/store_real.py [--index /tmp/rag-bench/quoref-index] [--n 1000000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUOREF, load_average, rss_mib, write_result  # noqa: E402
from store_scaling import recall_at_10, time_search  # noqa: E402

from eval.beir import load_queries  # noqa: E402
from rag.index import current_snapshot, read_manifest  # noqa: E402
from rag.stores.faiss_store import FaissPolicy, FaissStore  # noqa: E402


def sweep(vecs: np.ndarray, queries: dict[str, np.ndarray], nprobes: list[int]) -> dict:
    n = len(vecs)
    exact = FaissStore(vecs.shape[1], policy=FaissPolicy(index_type="flat"))
    exact.add(np.arange(n), vecs)
    truth = {k: time_search(exact, q)[1] for k, q in queries.items()}
    flat_seconds, _ = time_search(exact, queries["real"])
    del exact
    rss = rss_mib()
    store = FaissStore(vecs.shape[1], policy=FaissPolicy(index_type="ivf"))
    store.add(np.arange(n), vecs)
    t = time.perf_counter()
    store.optimize()
    out: dict = {"n": n, "flat_p50_ms": round(float(np.median(flat_seconds)) * 1000, 3),
                 "nlist": int(store.ivf().nlist), "build_s": round(time.perf_counter() - t, 1),
                 "rss_delta_mib": round(rss_mib() - rss, 1), "load": load_average(), "by_nprobe": {}}
    for nprobe in nprobes:
        store.ivf().nprobe = nprobe
        row = {}
        for name, q in queries.items():
            seconds, found = time_search(store, q)
            row[name] = {"p50_ms": round(float(np.percentile(seconds, 50)) * 1000, 3),
                         "p95_ms": round(float(np.percentile(seconds, 95)) * 1000, 3),
                         "recall@10": round(recall_at_10(found, truth[name]), 4)}
        out["by_nprobe"][nprobe] = row
        print(n, nprobe, row, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=Path("/tmp/rag-bench/quoref-index"))
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--out", default="store_real")
    ap.add_argument("--nprobes", default="16,32,64,128,256,512",
                    help="IVF lists scanned on the fitted 1 M set (512 = an eighth of 4,096: the store's default)")
    ap.add_argument("--skip-real", action="store_true", help="only the fitted 1 M sweep")
    args = ap.parse_args()
    gen = current_snapshot(args.index)
    manifest = read_manifest(gen)
    store = FaissStore.load(gen, int(manifest["dimension"]), info=manifest["store"])
    _, real = store.vectors()
    real = np.ascontiguousarray(real)
    from embeddings.encoder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    assert embedder.fingerprint == manifest["embedder"], "the index was built with another embedder"
    texts = [q.text for q in random.Random(0).sample(load_queries(QUOREF), args.queries)]
    real_q = embedder.encode(texts)
    print("real vectors", real.shape, "load", load_average(), flush=True)
    result: dict = {"real_vectors": len(real)}
    if not args.skip_real:
        result["real"] = sweep(real, {"real": real_q}, [4, 8, 16, 32, 64])

    rng = np.random.default_rng(0)
    mean = real.mean(axis=0)
    chol = np.linalg.cholesky(np.cov(real, rowvar=False) + 1e-6 * np.eye(real.shape[1]))

    def draw(n: int) -> np.ndarray:
        out = np.empty((n, real.shape[1]), dtype=np.float32)
        for i in range(0, n, 100_000):
            m = min(100_000, n - i)
            block = mean + rng.standard_normal((m, real.shape[1])) @ chol.T
            out[i : i + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
        return out

    fitted = draw(args.n)
    result["fitted"] = sweep(fitted, {"real": real_q, "fitted": draw(args.queries)},
                            [int(n) for n in args.nprobes.split(",")])
    write_result(args.out, result)


if __name__ == "__main__":
    main()
