"""Answer latency on the seeds with a warm default model: index time, time to first token and total, p50/p95.
Usage: .venv/bin/python bench/answer_latency.py"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pct, timed_answer  # noqa: E402

from rag.pipeline import RagPipeline
from rag.settings import PROJECT_ROOT, load_settings

QUESTIONS = [
    "How many cases did Sheffield council examine after the Baby P case?",
    "Who was sacked in Haringey after the Baby P case?",
    "Which councils did Ofsted find serious failings at in surprise inspections?",
    "What rating did Sheffield's social care services get in the 2019 Ofsted inspection?",
    "Who is the interim director of children's services in Sefton?",
    "How many unallocated referrals did one North Yorkshire care team have?",
    "What is the capital of France?",
]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = RagPipeline(load_settings({"index_dir": Path(tmp) / "idx"}), progress=False)
        started = time.perf_counter()
        pipeline.embedder.dimension  # noqa: B018 - load the embedder, timed separately from indexing
        load_embedder = time.perf_counter() - started
        report = pipeline.ensure_index()
        started = time.perf_counter()
        pipeline.ask("warm-up: who inspected the councils?")
        warmup = time.perf_counter() - started
        totals, firsts = [], []
        for _ in range(2):
            for q in QUESTIONS:
                run = timed_answer(pipeline, q)
                totals.append(float(run["total"]))
                if run["first"] is not None:
                    firsts.append(float(run["first"]))
                print(f"{totals[-1]:.2f}s first={run['first']} {q!r} -> {run['text']!r}")
        result = {
            "embedder_load_s": round(load_embedder, 2),
            "index_seeds_s": round(report.seconds, 2) if report else None,
            "chunks": report.chunks_embedded if report else None,
            "first_answer_with_model_load_s": round(warmup, 2),
            "answer_total_p50_s": round(statistics.median(totals), 2),
            "answer_total_p95_s": round(pct(totals, 0.95), 2),
            "first_token_p50_s": round(statistics.median(firsts), 2),
            "first_token_p95_s": round(pct(firsts, 0.95), 2),
            "questions": len(totals),
        }
        print(json.dumps(result, indent=2))
        out = PROJECT_ROOT / "bench/results/answer_latency.json"
        out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
