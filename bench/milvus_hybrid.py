"""The Milvus hybrid path against FAISS plus BM25 on Quoref, side by side, from the same vectors.

Indexes the Quoref corpus with the real bundled embedder, through the tool's own indexer: into FAISS (with the
index's BM25 segments) and into Milvus Lite (texts in the collection, BM25 in Milvus), once with the default
``milvus_index`` (AUTOINDEX: HNSW on Milvus Lite 3) and once with FLAT (exact, as FAISS is at this size). Every
text is embedded once: the vectors are cached by text (``<work>/vectors.npz``), so the other indexes and later
runs embed nothing.
Then, over the same questions, document-level recall@1/5/10 and MRR@10 as bench/fusion.py computes them
(60 candidates a side), for:

* each path through ``HybridRetriever`` (weighted RRF k=10, BM25 x3, in this tool), with its dense-only and
  keyword-only rankings;
* fusion inside Milvus (``hybrid_search`` with ``RRFRanker(10)`` and with ``WeightedRanker(1, 3)``);
* keyword-search variants, fused with the same exact dense ranking: raw chunk texts analysed by Milvus (standard
  tokenizer, lower case, stop words; the store sends the tool's own tokens instead), and this tool's BM25
  without stemming (what Milvus Lite's analyzer lacks).

Latencies (p50/p95 per question at the retriever's defaults, 30 candidates, 5 hits; query vectors cached, so no
model time) are taken on a shared machine: for comparison between the paths only.
Usage: .venv/bin/python bench/milvus_hybrid.py [--dataset DIR] [--work DIR] [--limit N] [--latency N]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUOREF, load_average, percentiles, write_result  # noqa: E402

import rag.bm25  # noqa: E402
from eval import metrics as M  # noqa: E402
from eval.beir import load_corpus, load_queries  # noqa: E402
from rag.bm25 import BM25Index  # noqa: E402
from rag.index import DocumentIndex, index_exists  # noqa: E402
from rag.pipeline import RagPipeline  # noqa: E402
from rag.retriever import HybridRetriever, reciprocal_rank_fusion  # noqa: E402
from rag.settings import load_settings  # noqa: E402
from rag.stores.milvus_store import (  # noqa: E402
    ID_FIELD,
    SPARSE_FIELD,
    TEXT_FIELD,
    VECTOR_FIELD,
    MilvusStore,
    keywords,
)
from rag.text import STOPWORDS, content_tokens  # noqa: E402

DEPTH = 60  # candidates a side for the recall figures, as bench/fusion.py


class CachedEmbedder:
    """The real embedder behind a cache of vectors keyed by text: the same text is embedded once, ever."""

    def __init__(self, inner, path: Path):
        self.inner, self.path = inner, path
        self.cache: dict[str, np.ndarray] = {}
        if path.is_file():
            data = np.load(path)
            self.cache = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        self.fingerprint, self.dimension = inner.fingerprint, inner.dimension

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if missing:
            todo = {self.key(t): t for t in texts}
            vectors = self.inner.encode([todo[k] for k in missing], progress=progress)
            self.cache.update(zip(missing, vectors, strict=True))
            self.save()
        return np.stack([self.cache[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys, tmp = list(self.cache), self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self.cache[k] for k in keys]))
        tmp.replace(self.path)


def build(dataset: Path, folder: Path, store: str, embedder: CachedEmbedder,
          milvus_index: str = "AUTOINDEX") -> tuple[DocumentIndex, float]:
    settings = load_settings({"index_dir": folder, "store": store, "milvus_index": milvus_index})
    pipeline = RagPipeline(settings, embedder=embedder, progress=True)
    seconds = 0.0
    if not index_exists(folder):
        started = time.perf_counter()
        report = pipeline.indexer.add_documents(load_corpus(dataset), root=str(dataset))
        seconds = time.perf_counter() - started
        print(f"{folder.name}: indexed {len(report.added)} docs, {report.chunks_embedded} chunks in {seconds:.0f} s")
    return pipeline.index, seconds


def scores(index: DocumentIndex, queries, ranked: Callable[[int, object], Sequence[int]]) -> dict[str, float]:
    """Document-level recall@1/5/10 and MRR@10 of ``ranked(i, query)`` (chunk ids, best first)."""
    sums = np.zeros(4)
    started = time.perf_counter()
    for i, q in enumerate(queries):
        chunk_ids = list(ranked(i, q))
        chunks = index.chunks.many(chunk_ids)
        docs = list(dict.fromkeys(chunks[c].doc_id for c in chunk_ids))
        gold = set(q.gold_docs)
        sums += [M.recall_at(docs, gold, 1), M.recall_at(docs, gold, 5), M.recall_at(docs, gold, 10),
                 M.mrr(docs, gold)]
    n = len(queries)
    out = dict(zip(("recall@1", "recall@5", "recall@10", "mrr@10"), (round(float(x) / n, 4) for x in sums),
                   strict=True))
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def path_scores(index: DocumentIndex, queries, vectors: np.ndarray, embedder) -> dict[str, dict]:
    """One path through the retriever (fused in this tool), and its two rankings alone."""
    retriever = HybridRetriever(index, embedder, rrf_k=10, bm25_weight=3.0)
    return {
        "rrf_k10_bm25x3": scores(index, queries, lambda i, q: [h.chunk.chunk_id for h in
                                                                retriever.search(q.text, k=DEPTH)]),
        "dense": scores(index, queries, lambda i, q: [c for c, _ in index.store.search(vectors[i], DEPTH)]),
        "bm25": scores(index, queries, lambda i, q: [c for c, _ in index.lexical.search(q.text, DEPTH)]),
    }


def milvus_fused(store: MilvusStore, ranker, vector: np.ndarray, text: str, depth: int, limit: int) -> list[int]:
    """Fusion inside Milvus: one ``hybrid_search`` over the dense and the BM25 field (given the store's keywords)."""
    from pymilvus import AnnSearchRequest

    requests = [AnnSearchRequest(data=[vector.tolist()], anns_field=VECTOR_FIELD, param={"metric_type": "IP"},
                                 limit=depth),
                AnnSearchRequest(data=[keywords(text) or text], anns_field=SPARSE_FIELD, param={"metric_type": "BM25"},
                                 limit=depth)]
    result = store.client.hybrid_search(store.collection, requests, ranker=ranker, limit=limit,
                                        output_fields=[ID_FIELD])
    return [int(h["id"]) for h in result[0]]


def rankers() -> dict[str, object]:
    from pymilvus import RRFRanker, WeightedRanker

    return {"milvus_hybrid_rrf_k10": RRFRanker(10), "milvus_hybrid_weighted_1_3": WeightedRanker(1.0, 3.0)}


def in_milvus_scores(index: DocumentIndex, queries, vectors: np.ndarray) -> dict[str, dict]:
    return {name: scores(index, queries, lambda i, q, r=ranker: milvus_fused(index.store, r, vectors[i], q.text,
                                                                             DEPTH, DEPTH))
            for name, ranker in rankers().items()}


def tool_rrf(dense: list[int], lexical: list[int]) -> list[int]:
    return [c for c, _ in reciprocal_rank_fusion([dense, lexical], k=10, weights=[1.0, 3.0])]


MILVUS_ANALYZER = {"tokenizer": "standard", "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOPWORDS)}]}


def raw_text_collection(client, ids: np.ndarray, texts: list[str], embedder) -> str:
    """The alternative to the store's keywords: raw chunk texts, analysed by Milvus (standard tokenizer, lower
    case, the tool's stop words; Milvus Lite has no stemmer)."""
    from pymilvus import DataType, Function, FunctionType

    name = f"bench_raw_{uuid.uuid4().hex[:12]}"
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(ID_FIELD, DataType.INT64, is_primary=True)
    schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=embedder.dimension)
    schema.add_field(TEXT_FIELD, DataType.VARCHAR, max_length=65_535, enable_analyzer=True,
                     analyzer_params=MILVUS_ANALYZER)
    schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=[TEXT_FIELD],
                                 output_field_names=[SPARSE_FIELD]))
    params = client.prepare_index_params()
    params.add_index(field_name=VECTOR_FIELD, index_type="FLAT", metric_type="IP")
    params.add_index(field_name=SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params={"bm25_k1": 1.5, "bm25_b": 0.75})
    client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")
    for start in range(0, len(ids), 2000):
        part = texts[start:start + 2000]
        client.insert(name, [{ID_FIELD: int(i), VECTOR_FIELD: v.tolist(), TEXT_FIELD: t} for i, v, t in
                             zip(ids[start:start + 2000], embedder.encode(part), part, strict=True)])
    client.flush(name)
    return name


def keyword_variants(faiss: DocumentIndex, milvus: DocumentIndex, queries, vectors, embedder) -> dict[str, dict]:
    """Keyword search the other ways: raw texts analysed by Milvus, and this tool's BM25 without stemming. Both
    are fused with FAISS' exact dense ranking, so that only the keyword side differs from the FAISS path."""
    ids = np.array(sorted(faiss.chunks), dtype=np.int64)
    chunks = faiss.chunks.many(ids.tolist())
    texts = [chunks[i].text for i in ids.tolist()]
    client = milvus.store.client
    raw = raw_text_collection(client, ids, texts, embedder)

    def milvus_analyzer(text: str, depth: int) -> list[tuple[int, float]]:
        hits = client.search(raw, data=[text], anns_field=SPARSE_FIELD, limit=depth,
                             search_params={"metric_type": "BM25"}, output_fields=[ID_FIELD])[0]
        return [(int(h["id"]), abs(float(h["distance"]))) for h in hits]

    stemmed = rag.bm25.bm25_tokens
    rag.bm25.bm25_tokens = content_tokens  # no stemming
    try:
        unstemmed = BM25Index.from_texts(ids.tolist(), texts)
        dense = [[c for c, _ in faiss.store.search(v, DEPTH)] for v in vectors]
        out = {}
        for name, search in (("milvus_analyzer", milvus_analyzer), ("tool_bm25_unstemmed", unstemmed.search)):
            out[f"{name}_bm25"] = scores(faiss, queries, lambda i, q, s=search: [c for c, _ in s(q.text, DEPTH)])
            out[f"{name}_rrf"] = scores(faiss, queries, lambda i, q, s=search: tool_rrf(
                dense[i], [c for c, _ in s(q.text, DEPTH)]))
    finally:
        rag.bm25.bm25_tokens = stemmed
        client.drop_collection(raw)
    return out


def latencies(faiss: DocumentIndex, milvus: DocumentIndex, flat: DocumentIndex, queries, vectors,
              embedder) -> dict[str, dict]:
    """Per-question retrieval at the defaults (30 candidates a side, 5 hits), the paths interleaved."""
    on_faiss, on_milvus, on_flat = (HybridRetriever(i, embedder) for i in (faiss, milvus, flat))
    runs: dict[str, Callable[[int, object], object]] = {
        "faiss_bm25_retriever": lambda i, q: on_faiss.search_with_relevance(q.text, 5),
        "milvus_retriever": lambda i, q: on_milvus.search_with_relevance(q.text, 5),
        "milvus_flat_retriever": lambda i, q: on_flat.search_with_relevance(q.text, 5),
        "milvus_dense_search": lambda i, q: milvus.store.search(vectors[i], 30),
        "milvus_bm25_search": lambda i, q: milvus.lexical.search(q.text, 30),
    }
    for name, ranker in rankers().items():
        runs[name] = lambda i, q, r=ranker: milvus_fused(milvus.store, r, vectors[i], q.text, 30, 5)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i, q in enumerate(queries):
        for name, run in runs.items():
            started = time.perf_counter()
            run(i, q)
            times[name].append(time.perf_counter() - started)
    return {name: percentiles(t) for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path, default=QUOREF)
    ap.add_argument("--work", type=Path, default=Path("/tmp/rag-bench/milvus-hybrid"))
    ap.add_argument("--limit", type=int, default=0, help="first N questions only (0 = all with a gold document)")
    ap.add_argument("--latency", type=int, default=500, help="questions timed per path")
    ap.add_argument("--name", default="milvus_hybrid")
    args = ap.parse_args()

    real = RagPipeline(load_settings({"index_dir": args.work / "faiss"}), progress=True).embedder
    embedder = CachedEmbedder(real, args.work / "vectors.npz")
    faiss, faiss_seconds = build(args.dataset, args.work / "faiss", "faiss", embedder)
    milvus, milvus_seconds = build(args.dataset, args.work / "milvus", "milvus", embedder)
    flat, _ = build(args.dataset, args.work / "milvus-flat", "milvus", embedder, milvus_index="FLAT")
    queries = [q for q in load_queries(args.dataset) if q.gold_docs]
    queries = queries[: args.limit] if args.limit else queries
    vectors = embedder.encode([q.text for q in queries], progress=True)

    results = {"faiss_bm25": path_scores(faiss, queries, vectors, embedder)}
    print("faiss_bm25", results["faiss_bm25"])
    results["milvus"] = path_scores(milvus, queries, vectors, embedder)
    print("milvus", results["milvus"])
    results["milvus_flat"] = path_scores(flat, queries, vectors, embedder)
    print("milvus_flat", results["milvus_flat"])
    results["milvus_in_milvus_fusion"] = in_milvus_scores(milvus, queries, vectors)
    print("in-milvus fusion", results["milvus_in_milvus_fusion"])
    results["keyword_variants"] = keyword_variants(faiss, milvus, queries, vectors, embedder)
    print("keyword variants", results["keyword_variants"])
    timed = latencies(faiss, milvus, flat, queries[: args.latency], vectors, embedder)
    print("latency", timed)
    gap = results["milvus"]["rrf_k10_bm25x3"]["recall@10"] - results["faiss_bm25"]["rrf_k10_bm25x3"]["recall@10"]
    gap_flat = (results["milvus_flat"]["rrf_k10_bm25x3"]["recall@10"]
                - results["faiss_bm25"]["rrf_k10_bm25x3"]["recall@10"])
    path = write_result(args.name, {
        "dataset": str(args.dataset), "queries": len(queries), "chunks": len(faiss.chunks), "depth": DEPTH,
        "index_seconds": {"faiss": round(faiss_seconds, 1), "milvus": round(milvus_seconds, 1)},
        "milvus_minus_faiss_recall@10": round(gap, 4), "milvus_flat_minus_faiss_recall@10": round(gap_flat, 4),
        "milvus_index": {"milvus": "AUTOINDEX (HNSW on Milvus Lite 3 with faiss-cpu)", "milvus_flat": "FLAT"},
        "results": results,
        "latency_note": "shared machine (model evaluations running): for comparing the paths only; query vectors "
                        "cached, so no model time",
        "latency": timed, "latency_queries": min(args.latency, len(queries)), "load_average": load_average(),
    })
    print(f"recall@10 Milvus - FAISS: {gap:+.4f} (FLAT: {gap_flat:+.4f}); written to {path}")


if __name__ == "__main__":
    main()
