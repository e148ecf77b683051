"""Measure retrieval choices on the labelled seeds questions (eval/datasets/seeds.jsonl).

For each fusion configuration and chunk size: gold-document recall@1/3/5 and MRR over answerable,
single-turn questions; and the best dense similarity of answerable vs unanswerable questions, which is what
the retrieval abstention threshold (min_retrieval_score) separates.
Usage: .venv/bin/python bench/seeds_retrieval.py [--split tune|heldout|all]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from eval import metrics as M
from rag.pipeline import RagPipeline
from rag.retriever import reciprocal_rank_fusion
from rag.settings import PROJECT_ROOT, load_settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path, default=PROJECT_ROOT / "eval/datasets/seeds.jsonl")
    ap.add_argument("--split", default="all")
    ap.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench/results/seeds_retrieval.json")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.dataset.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if args.split == "all" or r.get("split") == args.split]
    single = [r for r in rows if not r.get("turns")]
    answerable = [r for r in single if r["answerable"]]
    unanswerable = [r for r in single if not r["answerable"]]
    configs = {"dense": None, "bm25": None, "rrf_k60": (60, 1.0), "rrf_k20": (20, 1.0),
               "rrf_k60_bm25x2": (60, 2.0), "rrf_k20_bm25x2": (20, 2.0), "rrf_k10_bm25x2": (10, 2.0),
               "rrf_k10_bm25x3": (10, 3.0)}
    out: dict = {"split": args.split, "answerable": len(answerable), "unanswerable": len(unanswerable),
                 "by_chunk_words": {}}
    embedder = None
    for chunk_words in (60, 120, 200):
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings({"index_dir": Path(tmp) / "idx", "chunk_words": chunk_words})
            pipeline = RagPipeline(settings, embedder=embedder, progress=False)
            pipeline.ensure_index()
            embedder = pipeline.embedder
            index = pipeline.index
            result: dict = {"chunks": len(index.chunks)}
            vecs = embedder.encode([r["question"] for r in single])
            by_id = dict(zip([r["id"] for r in single], vecs, strict=True))
            for name, cfg in configs.items():
                r1 = r3 = r5 = mrr = 0.0
                for r in answerable:
                    dense = [c for c, _ in index.store.search(by_id[r["id"]], 30)]
                    lexical = [c for c, _ in index.lexical.search(r["question"], 30)]
                    ranked = dense if name == "dense" else lexical if name == "bm25" else [
                        c for c, _ in reciprocal_rank_fusion([dense, lexical], k=cfg[0], weights=[1.0, cfg[1]])]
                    # Chunk-level ranks (a document may repeat): what the generator's context window sees.
                    docs = [index.chunks[c].doc_id for c in ranked]
                    gold = set(r["gold_docs"])
                    r1 += M.recall_at(docs, gold, 1)
                    r3 += M.recall_at(docs, gold, 3)
                    r5 += M.recall_at(docs, gold, 5)
                    mrr += M.mrr(docs, gold)
                n = len(answerable)
                result[name] = {"recall@1": round(r1 / n, 4), "recall@3": round(r3 / n, 4),
                                "recall@5": round(r5 / n, 4), "mrr@10": round(mrr / n, 4)}
            best = {r["id"]: index.store.search(by_id[r["id"]], 1)[0][1] for r in single}
            result["best_dense_answerable"] = sorted(round(best[r["id"]], 3) for r in answerable)
            result["best_dense_unanswerable"] = sorted(round(best[r["id"]], 3) for r in unanswerable)
            out["by_chunk_words"][chunk_words] = result
            print(chunk_words, json.dumps(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
