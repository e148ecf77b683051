"""Measure the document-level BM25 vote in the fusion (`document_weight`), retrieval only (no model).

Chunk-level BM25 sees one 120-word chunk at a time; a question that gathers facts from several sentences of one
story (Quoref's kind, or a report whose figures sit in several paragraphs) matches its document better than any one
chunk. With `document_weight` w, every chunk of the 20 best documents by whole-text BM25 gets w / (rrf_k + the
document's rank) on top of its dense and BM25 votes. Scored on the questions tuning may read (Quoref outside the
300 sample, seeds tune single-turn answerable): document recall@1/5/10, MRR@10, and whether a gold answer string is
in the passages the reader is given (the top ``context_k`` chunks), through the pipeline's own retriever.

Usage: .venv/bin/python -m bench.doc_bm25 [--which quoref|seeds] [--limit N] [--weights 0,1,2] [--show W]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.common import tuning_questions, write_result
from eval import metrics as M
from eval.harness import RETRIEVAL_DEPTH_CHUNKS
from rag.index import index_exists
from rag.pipeline import RagPipeline
from rag.settings import load_settings
from rag.text import normalize_text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--which", choices=["quoref", "seeds"], default="quoref")
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=0, help="the first N tuning questions (0: all)")
    ap.add_argument("--weights", default="0,0.5,1,2")
    ap.add_argument("--show", type=float, default=None,
                    help="list the questions whose shown answer this weight changes")
    args = ap.parse_args()

    dataset, cases = tuning_questions(args.which, keep=lambda c: c.answerable and not c.turns)
    cases = cases[: args.limit] if args.limit else cases
    index_dir = args.index or Path(f"/tmp/rag-bench/{args.which}-index")
    pipeline = RagPipeline(load_settings({"index_dir": index_dir}), progress=True)
    if not index_exists(index_dir):
        if dataset.corpus is not None:
            pipeline.add_documents(dataset.corpus, root=str(dataset.path))
        else:
            pipeline.index_paths([pipeline.settings.seeds_dir])
    settings = pipeline.settings
    weights = [float(w) for w in args.weights.split(",")]
    rows: dict[float, list[dict[str, float]]] = {w: [] for w in weights}
    seconds = dict.fromkeys(weights, 0.0)
    for w in weights:
        weighted = pipeline.variant(settings.replace(document_weight=w))  # shares the embedder and loaded index
        for case in cases:
            started = time.perf_counter()
            hits = weighted.search(case.question, RETRIEVAL_DEPTH_CHUNKS)
            seconds[w] += time.perf_counter() - started
            docs = list(dict.fromkeys(h.chunk.doc_id for h in hits))
            gold = set(case.gold_docs)
            shown = " ".join(normalize_text(h.chunk.text).lower() for h in hits[:settings.context_k])
            answers = [normalize_text(a).lower() for a in case.answers]
            rows[w].append({"id": case.id, "r1": M.recall_at(docs, gold, 1), "r5": M.recall_at(docs, gold, 5),
                            "r10": M.recall_at(docs, gold, 10), "mrr": M.mrr(docs, gold),
                            "answer_shown": float(any(a and a in shown for a in answers))})
    results = {}
    for w, got in rows.items():
        results[str(w)] = {k: round(sum(r[k] for r in got) / len(got), 4) for k in got[0] if k != "id"}
        results[str(w)]["ms_per_query"] = round(1000 * seconds[w] / len(got), 2)
        print(f"document_weight {w}: {results[str(w)]}")
    if args.show is not None:
        for base, new in zip(rows[weights[0]], rows[args.show], strict=True):
            if base["answer_shown"] != new["answer_shown"]:
                print(new["id"], "lost" if base["answer_shown"] else "gained")
    write_result(f"doc_bm25_{args.which}", {"questions": len(cases), "context_k": settings.context_k,
                                           "results": results})


if __name__ == "__main__":
    main()
