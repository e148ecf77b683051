"""Measure retrieval fusion choices on a BEIR dataset (default: ../shared/datasets/quoref).

Indexes the corpus with the tool's own chunker/embedder/store (cached in --index), then scores dense only,
BM25 only and reciprocal rank fusion at several k on document-level recall@1/5/10 and MRR@10.
Usage: .venv/bin/python bench/fusion.py [--dataset DIR] [--index DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from eval import metrics as M
from eval.beir import load_corpus, load_queries
from rag.index import index_exists
from rag.pipeline import RagPipeline
from rag.settings import load_settings


def main() -> None:
    ap = argparse.ArgumentParser()
    default_dataset = Path(__file__).resolve().parents[2] / "shared/datasets/quoref"
    ap.add_argument("--dataset", type=Path, default=default_dataset)
    ap.add_argument("--index", type=Path, default=Path("/tmp/rag-bench/quoref-index"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/results/fusion.json"))
    args = ap.parse_args()

    pipeline = RagPipeline(load_settings({"index_dir": args.index}), progress=True)
    if not index_exists(args.index):
        started = time.perf_counter()
        report = pipeline.indexer.add_documents(load_corpus(args.dataset), root=str(args.dataset))
        seconds = time.perf_counter() - started
        print(f"indexed {len(report.added)} docs, {report.chunks_embedded} chunks in {seconds:.0f}s")
    queries = [q for q in load_queries(args.dataset) if q.gold_docs]
    if args.limit:
        queries = queries[: args.limit]
    index = pipeline.index
    embedder = pipeline.embedder
    vectors = embedder.encode([q.text for q in queries], progress=True)
    depth = 60
    configs = {"dense": None, "bm25": None, "rrf_k60": (60, 1.0), "rrf_k20": (20, 1.0), "rrf_k100": (100, 1.0),
               "rrf_k60_bm25x2": (60, 2.0), "rrf_k60_bm25x3": (60, 3.0), "rrf_k20_bm25x2": (20, 2.0),
               "rrf_k10_bm25x2": (10, 2.0), "rrf_k10_bm25x3": (10, 3.0)}
    from rag.retriever import reciprocal_rank_fusion

    results = {}
    for name, k in configs.items():
        r1 = r5 = r10 = mrr = 0.0
        started = time.perf_counter()
        for q, vec in zip(queries, vectors, strict=True):
            dense = [c for c, _ in index.store.search(vec, depth)]
            lexical = [c for c, _ in index.lexical.search(q.text, depth)]
            ranked = dense if name == "dense" else lexical if name == "bm25" else [
                c for c, _ in reciprocal_rank_fusion([dense, lexical], k=k[0], weights=[1.0, k[1]])]
            docs = list(dict.fromkeys(index.chunks[c].doc_id for c in ranked))
            gold = set(q.gold_docs)
            r1 += M.recall_at(docs, gold, 1)
            r5 += M.recall_at(docs, gold, 5)
            r10 += M.recall_at(docs, gold, 10)
            mrr += M.mrr(docs, gold)
        n = len(queries)
        results[name] = {"recall@1": r1 / n, "recall@5": r5 / n, "recall@10": r10 / n, "mrr@10": mrr / n,
                         "seconds": time.perf_counter() - started}
        print(name, {k: round(v, 4) for k, v in results[name].items()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"dataset": str(args.dataset), "queries": len(queries),
                                    "chunks": len(index.chunks), "results": results}, indent=2))


if __name__ == "__main__":
    main()
