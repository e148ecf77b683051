"""Evidence on screen: time from a question to the streamed "evidence" event (the best evidence sentences, shown
before the model's first token), warm, on the seeds. The model is never called: the evidence comes from
retrieval and the citation embedder alone, so the generator is not loaded and iteration stops at the event.
Target (issue 15): at most 0.3 s. Run on an idle machine.
Usage: .venv/bin/python bench/evidence_latency.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import tuning_questions, write_result  # noqa: E402

from rag.pipeline import RagPipeline  # noqa: E402
from rag.settings import load_settings  # noqa: E402


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    _, cases = tuning_questions("seeds")
    questions = [c.question for c in cases]
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = RagPipeline(load_settings({"index_dir": Path(tmp) / "idx"}), progress=False)
        pipeline.ensure_index()
        for event in pipeline.ask_stream(questions[0]):  # warm: embedder, index, BM25
            if event.kind == "evidence":
                break
        times, gated = [], 0
        for _ in range(args.repeats):
            for q in questions:
                started = time.perf_counter()
                seen = None
                for event in pipeline.ask_stream(q):
                    if event.kind == "evidence":
                        seen = time.perf_counter() - started
                        break
                    if event.kind in {"token", "answer"}:
                        break
                if seen is None:
                    gated += 1  # abstained before the model (relevance gate): nothing to preview
                else:
                    times.append(seen)
    result = {"questions": len(questions), "repeats": args.repeats, "previews": len(times),
              "no_preview_gated": gated, "evidence_p50_s": round(statistics.median(times), 3),
              "evidence_p95_s": round(pct(times, 0.95), 3), "evidence_max_s": round(max(times), 3),
              "note": "warm, idle machine, seeds tune split questions (single turn), question -> evidence event"}
    print(result)
    print(write_result("evidence_latency", result))


if __name__ == "__main__":
    main()
