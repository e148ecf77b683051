"""BM25 parameters, RRF settings and candidate depth, on the Quoref questions outside the fixed 300-question
answer sample (so the sample that `rag eval --limit 300` reports stays unseen). Document-level recall@5/@10
of the fused top 40 chunks, as the harness ranks them. Needs the Quoref index built by bench/fusion.py.
Also a document prior: BM25 over whole documents, its rank added to each chunk's fused score as
w / (10 + rank of the chunk's document), with the default chunk fusion.
Usage: .venv/bin/python bench/bm25_params.py [--index /tmp/rag-bench/quoref-index]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUOREF, write_result  # noqa: E402

from eval import metrics as M  # noqa: E402
from eval.dataset import load_dataset  # noqa: E402
from eval.harness import RETRIEVAL_DEPTH_CHUNKS  # noqa: E402
from rag.bm25 import bm25_tokens  # noqa: E402
from rag.pipeline import RagPipeline  # noqa: E402
from rag.retriever import reciprocal_rank_fusion  # noqa: E402
from rag.settings import load_settings  # noqa: E402

BM25_VARIANTS = [(1.5, 0.75, "lucene"), (1.2, 0.75, "lucene"), (0.9, 0.4, "lucene"), (1.2, 0.9, "lucene"),
                 (2.0, 0.75, "lucene"), (1.5, 0.5, "lucene"), (1.5, 1.0, "lucene"), (1.5, 0.75, "bm25+"),
                 (1.5, 0.75, "bm25l")]
FUSIONS = [(10, 3.0), (10, 4.0), (5, 3.0)]  # (rrf_k, bm25 weight)
CANDIDATES = (40, 60)  # per retriever; the harness asks for 40 chunks, so 30 (the default) acts as 40


def lexical_rankings(ids: list[int], corpus: list[list[str]], queries: list[list[str]], k1: float, b: float,
                     method: str, depth: int) -> list[list[int]]:
    import bm25s

    model = bm25s.BM25(k1=k1, b=b, method=method)
    model.index(corpus, show_progress=False)
    vocab = set(model.vocab_dict)
    out = []
    for tokens in queries:
        tokens = [t for t in tokens if t in vocab]
        if not tokens:
            out.append([])
            continue
        scores = model.get_scores(tokens)
        top = np.argpartition(-scores, depth - 1)[:depth]
        top = top[np.argsort(-scores[top], kind="stable")]
        out.append([ids[i] for i in top if scores[i] > 0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=Path("/tmp/rag-bench/quoref-index"))
    ap.add_argument("--prior-only", action="store_true",
                    help="only the document prior (with the default BM25 and with k1 0.9, b 0.4)")
    args = ap.parse_args()
    held_out = {c.question for c in load_dataset(QUOREF, limit=300).cases}
    tune = [c for c in load_dataset(QUOREF).cases if c.question not in held_out and c.gold_docs]
    print("tuning questions", len(tune), "held out", len(held_out), flush=True)
    pipeline = RagPipeline(load_settings({"index_dir": args.index}))
    index = pipeline.index
    ids = list(index.chunks)
    dense = [[c for c, _ in index.store.search(v, max(CANDIDATES))]
             for v in pipeline.embedder.encode([c.question for c in tune])]
    corpus = [bm25_tokens(index.chunks[i].text) or ["<empty>"] for i in ids]
    queries = [bm25_tokens(c.question) for c in tune]
    results = {}
    if args.prior_only:
        results.update(document_prior(index, ids, tune, dense, corpus, queries))
        write_result("bm25_params_prior", {"tuning_questions": len(tune), "results": results})
        return
    for k1, b, method in BM25_VARIANTS:
        lexical = lexical_rankings(ids, corpus, queries, k1, b, method, max(CANDIDATES))
        for candidates in CANDIDATES:
            for rrf_k, weight in FUSIONS:
                r5 = r10 = 0.0
                for case, d, lex in zip(tune, dense, lexical, strict=True):
                    fused = reciprocal_rank_fusion([d[:candidates], lex[:candidates]], k=rrf_k, weights=[1.0, weight])
                    top = [cid for cid, _ in fused[:RETRIEVAL_DEPTH_CHUNKS]]
                    docs = list(dict.fromkeys(index.chunks[cid].doc_id for cid in top))
                    gold = set(case.gold_docs)
                    r5 += M.recall_at(docs, gold, 5)
                    r10 += M.recall_at(docs, gold, 10)
                key = f"k1={k1} b={b} {method} candidates={candidates} rrf_k={rrf_k} bm25_weight={weight}"
                results[key] = {"recall@5": round(r5 / len(tune), 4), "recall@10": round(r10 / len(tune), 4)}
                print(key, results[key], flush=True)
    results.update(document_prior(index, ids, tune, dense, corpus, queries))
    write_result("bm25_params", {"tuning_questions": len(tune), "results": results})


def document_prior(index, ids: list[int], tune: list, dense: list[list[int]], corpus: list[list[str]],
                   queries: list[list[str]]) -> dict:
    import bm25s

    doc_of = {cid: index.chunks[cid].doc_id for cid in ids}
    doc_ids = sorted(set(doc_of.values()))
    texts: dict[str, list[str]] = {d: [] for d in doc_ids}
    for cid in ids:
        texts[doc_of[cid]].append(index.chunks[cid].text)
    model = bm25s.BM25()
    model.index([bm25_tokens(" ".join(texts[d])) or ["<empty>"] for d in doc_ids], show_progress=False)
    vocab = set(model.vocab_dict)
    chunk_lexical = {"": [[c for c, _ in index.lexical.search(case.question, 40)] for case in tune],
                     " (chunk BM25 k1 0.9 b 0.4)": lexical_rankings(ids, corpus, queries, 0.9, 0.4, "lucene", 40)}
    doc_ranks = []
    for case in tune:
        tokens = [t for t in bm25_tokens(case.question) if t in vocab]
        scores = model.get_scores(tokens) if tokens else np.zeros(len(doc_ids))
        top = np.argsort(-scores)[:50]
        doc_ranks.append({doc_ids[j]: r for r, j in enumerate(top, start=1) if scores[j] > 0})
    gold_sets = [set(case.gold_docs) for case in tune]
    alone = np.mean([M.recall_at(sorted(ranks, key=ranks.get), gold, 10) for ranks, gold in zip(doc_ranks, gold_sets,
                                                                                                strict=True)])
    out = {"document BM25 alone": {"recall@10": round(float(alone), 4)}}
    for (label, lexical), weight in ((item, w) for item in chunk_lexical.items() for w in (0.0, 1.0, 2.0, 3.0)):
        r5 = r10 = 0.0
        for d, lex, ranks, gold in zip(dense, lexical, doc_ranks, gold_sets, strict=True):
            fused = dict(reciprocal_rank_fusion([d[:40], lex], k=10, weights=[1.0, 3.0]))
            for cid in fused:
                rank = ranks.get(doc_of[cid])
                fused[cid] += weight / (10 + rank) if rank else 0.0
            top = sorted(fused, key=lambda cid: -fused[cid])[:RETRIEVAL_DEPTH_CHUNKS]
            docs = list(dict.fromkeys(doc_of[cid] for cid in top))
            r5 += M.recall_at(docs, gold, 5)
            r10 += M.recall_at(docs, gold, 10)
        key = f"default fusion + document prior weight {weight}{label}"
        out[key] = {"recall@5": round(r5 / len(tune), 4), "recall@10": round(r10 / len(tune), 4)}
        print(key, out[key], flush=True)
    return out


if __name__ == "__main__":
    main()
