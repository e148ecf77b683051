"""Where the answer-bearing chunk lands in the fused ranking, per fusion choice (no model).

The reader sees the first ``context_k`` = 4 passages and leans on the first, so the rank of the first chunk that
holds the answer matters more than document recall. Answer-bearing: for Quoref questions outside the 300-question
report sample, a chunk of a gold document holding a gold answer string; for the seeds tune split's single-turn
answerable questions (never the locked split), a chunk overlapping a gold evidence quote. Questions whose answer
chunk is in neither search's candidates are left out (no fusion can rank them). Document recall@10 is reported too,
over the same fused candidates (depth 40, as `rag eval` ranks documents).
Usage: .venv/bin/python bench/fusion_chunks.py [--set quoref|seeds|both]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import RESULTS, machine, tuning_questions
from eval.harness import gold_evidence_spans, prepare_pipeline
from rag.question import keyword_query
from rag.retriever import reciprocal_rank_fusion
from rag.settings import load_settings

DEPTH = 40


def scored_fusion(dense: list[tuple[int, float]], lexical: list[tuple[int, float]], k: int, weight: float) -> list[int]:
    """RRF with each BM25 vote scaled by its score over the best BM25 score (measured and rejected for answers:
    docs/decisions.md, "Rejected: BM25 votes scaled by their scores")."""
    best = lexical[0][1] if lexical and lexical[0][1] > 0 else 0.0
    scores: dict[int, float] = {}
    for rank, (c, _) in enumerate(dense, start=1):
        scores[c] = scores.get(c, 0.0) + 1.0 / (k + rank)
    for rank, (c, score) in enumerate(lexical, start=1):
        share = max(score, 0.0) / best if best else 1.0
        scores[c] = scores.get(c, 0.0) + weight * share / (k + rank)
    return sorted(scores, key=lambda c: -scores[c])


def fusions(dense: list[tuple[int, float]], lexical: list[tuple[int, float]]) -> dict[str, list[int]]:
    d, lx = [c for c, _ in dense], [c for c, _ in lexical]
    out = {"dense": d, "bm25": lx}
    for k, w in ((10, 3.0), (10, 2.0), (5, 3.0), (20, 3.0), (10, 4.0)):
        out[f"rrf_k{k}_bm25x{w:g}"] = [c for c, _ in reciprocal_rank_fusion([d, lx], k=k, weights=[1.0, w])]
        out[f"rrf_scored_k{k}_bm25x{w:g}"] = scored_fusion(dense, lexical, k, w)
    return out


def measure(which: str) -> dict[str, object]:
    dataset, cases = tuning_questions(which, keep=lambda c: c.answerable)
    dataset.cases = cases
    pipeline = prepare_pipeline(load_settings(), dataset, progress=True)
    index = pipeline.index
    spans = gold_evidence_spans(pipeline, cases) if which == "seeds" else {}
    vectors = pipeline.embedder.encode([c.question for c in cases], progress=True)
    totals: dict[str, list[float]] = {}
    counted = 0
    for case, vector in zip(cases, vectors, strict=True):
        dense = index.store.search(vector, DEPTH)
        lexical = index.lexical.search(keyword_query(case.question), DEPTH)
        rows = index.chunks.many(list({c for c, _ in dense} | {c for c, _ in lexical}))

        def holds_answer(cid: int, case=case, rows=rows) -> bool:
            chunk = rows[cid]
            if which == "quoref":
                text = chunk.text.lower()
                return chunk.doc_id in case.gold_docs and any(a.lower() in text for a in case.answers)
            return any(chunk.doc_id == doc and chunk.start < end and start < chunk.end
                       for doc, start, end in spans.get(case.id, []))

        if not any(holds_answer(c) for c in rows):
            continue
        counted += 1
        for name, ranked in fusions(dense, lexical).items():
            rank = next((i for i, c in enumerate(ranked, start=1) if holds_answer(c)), None)
            docs = list(dict.fromkeys(rows[c].doc_id for c in ranked))[:10]
            row = totals.setdefault(name, [0.0, 0.0, 0.0, 0.0])
            row[0] += rank == 1
            row[1] += rank is not None and rank <= 4
            row[2] += 1 / rank if rank else 0.0
            row[3] += any(doc in case.gold_docs for doc in docs)
    results = {name: {"answer_chunk@1": a / counted, "answer_chunk@4": b / counted, "answer_chunk_mrr": m / counted,
                      "doc_recall@10": r / counted} for name, (a, b, m, r) in totals.items()}
    for name, row in results.items():
        print(f"{which:6} {name:26}", "  ".join(f"{k} {v:.3f}" for k, v in row.items()))
    return {"questions": len(cases), "with_answer_chunk_in_candidates": counted, "results": results}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=("quoref", "seeds", "both"), default="both")
    ap.add_argument("--out", type=Path, default=RESULTS / "fusion_chunks.json")
    args = ap.parse_args()
    sets = ("seeds", "quoref") if args.set == "both" else (args.set,)
    report = {"machine": machine(), "depth": DEPTH, **{which: measure(which) for which in sets}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
