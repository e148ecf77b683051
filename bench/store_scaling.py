"""Vector store scaling: search latency p50/p95, memory and recall@10 against exact search, by collection size.

Synthetic vectors (clustered Gaussian, 384-d, L2-normalised, like MiniLM's) at 10 k, 100 k and 1 M; exact
search (IndexFlatIP) against the store's IVF choice at several nprobe, through ``FaissStore`` itself (the
code the tool runs). ``--flat-sweep`` also times exact search at more sizes to place the flat/IVF threshold.
Usage: .venv/bin/python bench/store_scaling.py [--sizes 10000,100000,1000000] [--queries 300]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, percentiles, rss_mib, write_result  # noqa: E402

from rag.stores.faiss_store import FaissPolicy, FaissStore  # noqa: E402

DIM = 384


NOISE = [0.06]


def synthetic(n: int, rng: np.random.Generator, centers: np.ndarray) -> np.ndarray:
    """Points around random cluster centres, normalised to the unit sphere."""
    noise = NOISE[0]
    out = np.empty((n, DIM), dtype=np.float32)
    step = 100_000
    for i in range(0, n, step):
        m = min(step, n - i)
        which = rng.integers(0, len(centers), m)
        block = centers[which] + rng.normal(scale=noise, size=(m, DIM)).astype(np.float32)
        out[i : i + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def time_search(store: FaissStore, queries: np.ndarray, k: int = 10) -> tuple[list[float], np.ndarray]:
    seconds, ids = [], []
    for q in queries[:20]:  # warm-up
        store.search(q, k)
    for q in queries:
        t = time.perf_counter()
        hits = store.search(q, k)
        seconds.append(time.perf_counter() - t)
        ids.append([h[0] for h in hits] + [-1] * (k - len(hits)))
    return seconds, np.asarray(ids)


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--nprobes", default="8,16,32,64,default", help="'default': the store's own choice")
    ap.add_argument("--flat-sweep", default="10000,25000,50000,100000,200000")
    ap.add_argument("--out", default="store_scaling")
    ap.add_argument("--noise", type=float, default=0.06, help="per-dimension noise around a cluster centre")
    ap.add_argument("--per-center", type=int, default=1000, help="points per cluster centre")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    NOISE[0] = args.noise
    sizes = [int(s) for s in args.sizes.split(",")]
    centers = rng.normal(size=(max(1, max(sizes) // args.per_center), DIM)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    queries = synthetic(args.queries, np.random.default_rng(1), centers)
    print("faiss threads:", faiss.omp_get_max_threads(), "load:", load_average(), flush=True)

    flat_sweep = []
    for n in [int(s) for s in args.flat_sweep.split(",") if s]:
        vecs = synthetic(n, np.random.default_rng(2), centers)
        store = FaissStore(DIM, policy=FaissPolicy(index_type="flat"))
        store.add(np.arange(n), vecs)
        seconds, _ = time_search(store, queries)
        row = {"n": n, **percentiles(seconds), "load": load_average()}
        flat_sweep.append(row)
        print("flat", row, flush=True)
        del store, vecs
        gc.collect()

    results = []
    for n in sizes:
        vecs = synthetic(n, np.random.default_rng(2), centers)
        base_rss = rss_mib()
        exact = FaissStore(DIM, policy=FaissPolicy(index_type="flat"))
        exact.add(np.arange(n), vecs)
        flat_rss = rss_mib() - base_rss
        seconds, truth = time_search(exact, queries)
        row: dict = {"n": n, "load_start": load_average(),
                     "flat": {**percentiles(seconds), "rss_delta_mib": round(flat_rss, 1),
                              "index_mib": round(n * DIM * 4 / 2**20, 1)}}
        print(n, "flat", row["flat"], flush=True)
        del exact
        gc.collect()
        base_rss = rss_mib()
        store = FaissStore(DIM, policy=FaissPolicy(index_type="ivf"))
        store.add(np.arange(n), vecs)
        t = time.perf_counter()
        store.optimize()
        train = time.perf_counter() - t
        ivf = store.ivf()
        row["ivf"] = {"type": store.index_type, "nlist": int(ivf.nlist), "build_s": round(train, 1),
                      "rss_delta_mib": round(rss_mib() - base_rss, 1), "by_nprobe": {}}
        for nprobe in [store.policy.probes_for(ivf.nlist) if p == "default" else int(p)
                       for p in args.nprobes.split(",")]:
            ivf.nprobe = nprobe
            seconds, found = time_search(store, queries)
            recall = round(recall_at_10(found, truth), 4)
            row["ivf"]["by_nprobe"][nprobe] = {**percentiles(seconds), "recall@10": recall}
            print(n, "ivf", ivf.nlist, nprobe, row["ivf"]["by_nprobe"][nprobe], flush=True)
        # Removal still works on the IVF index.
        t = time.perf_counter()
        removed = store.remove(np.arange(0, n, 100))
        row["ivf"]["remove_1pct_s"] = round(time.perf_counter() - t, 3)
        assert removed == len(range(0, n, 100))
        row["load_end"] = load_average()
        results.append(row)
        del store, vecs
        gc.collect()
    write_result(args.out, {"dim": DIM, "queries": args.queries, "noise": args.noise,
                            "per_center": args.per_center, "flat_sweep": flat_sweep, "sizes": results,
                            "faiss_threads": faiss.omp_get_max_threads()})


if __name__ == "__main__":
    main()
