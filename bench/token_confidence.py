"""The reader's own certainty as an answer check: are the log-probabilities of the tokens it chose lower on wrong
answers and answered traps than on right answers?

Each generated token's log-probability is read while the reply is generated (a llama-cpp-python logits processor
that only looks, so every reply is the one the pipeline gives; no extra model call). A case's confidence is the
lowest log-probability of any answer token (the end token left out) over every reply the pipeline asked for it:
the first prompt, per-document parts, retries and the list pass. The harness scores each case as `rag eval` does.

Questions: the seeds tune split (140, follow-ups included), the fresh sets fresh-2026-12-04 and fresh-2026-12-05
(50, 17 of them traps) and the first 100 of the 200 Quoref questions outside the 300 sample; never the locked
split or the sample. Reported: the area under the ROC curve of right answers against wrong answers and against
answered traps, and what a refusal threshold would refuse.
Usage: .venv/bin/python bench/token_confidence.py [--sets tune,fresh,quoref] [--limit N] [--out NAME]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUOREF, SEEDS, write_result  # noqa: E402

from eval.dataset import load_dataset  # noqa: E402
from eval.harness import gold_evidence_spans, prepare_pipeline, run_case  # noqa: E402
from rag.generation import build_generator  # noqa: E402
from rag.generation.llama_cpp_backend import LlamaCppGenerator  # noqa: E402
from rag.pipeline import RagPipeline  # noqa: E402
from rag.settings import load_settings  # noqa: E402

FRESH = [SEEDS.parent / "fresh-2026-12-04.jsonl", SEEDS.parent / "fresh-2026-12-05.jsonl"]
THRESHOLDS = (-2.0, -1.5, -1.0, -0.7, -0.5, -0.3)


class ConfidenceRecorder(LlamaCppGenerator):
    """The default backend, recording the log-probability of each token its greedy decoding picks."""

    def __init__(self, inner: LlamaCppGenerator):
        super().__init__(inner.model_path, n_ctx=inner.n_ctx, n_threads=inner.n_threads, seed=inner.seed)
        self.replies: list[list[float]] = []

    def completion_kwargs(self, messages, params) -> dict:
        from llama_cpp import LogitsProcessorList

        kwargs = super().completion_kwargs(messages, params)
        chosen: list[float] = []
        self.replies.append(chosen)

        def observe(input_ids, scores):
            logits = np.asarray(scores, dtype=np.float64)
            top = logits.max()
            chosen.append(float(-np.log(np.exp(logits - top).sum())))  # greedy picks the top logit
            return scores

        kwargs["logits_processor"] = LogitsProcessorList([observe])
        return kwargs


def outcome(record: dict) -> str:
    scores = record.get("scores", {})
    if record.get("answerable") is False:
        return "trap_abstained" if record.get("abstained") else "trap_answered"
    if record.get("abstained"):
        return "abstained"
    return "right" if scores.get("correct_and_cited") else "wrong"


def auc(positive: list[float], negative: list[float]) -> float | None:
    """The chance that a random right answer is more confident than a random wrong one (ties count half)."""
    if not positive or not negative:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return round(wins / (len(positive) * len(negative)), 3)


def summary(rows: list[dict]) -> dict:
    by = {kind: [r["confidence"] for r in rows if r["outcome"] == kind and r["confidence"] is not None]
          for kind in ("right", "wrong", "trap_answered")}
    return {"cases": len(rows), "answered": {k: len(v) for k, v in by.items()},
            "auc_right_vs_wrong": auc(by["right"], by["wrong"]),
            "auc_right_vs_traps_answered": auc(by["right"], by["trap_answered"]),
            "refused_below": {str(t): {k: sum(c < t for c in v) for k, v in by.items()} for t in THRESHOLDS}}


def run_set(base: RagPipeline, recorder: ConfidenceRecorder, name: str, dataset, cases) -> list[dict]:
    pipeline = prepare_pipeline(base.settings, dataset, base=base, progress=False)
    spans = gold_evidence_spans(pipeline, cases)
    rows = []
    for n, case in enumerate(cases):
        recorder.replies.clear()
        record = run_case(pipeline, case, retrieve_only=False, gold_spans=spans)
        answer_tokens = [lps[:-1] or lps for lps in recorder.replies if lps]  # the last token ends the reply
        rows.append({"set": name, "id": case.id, "outcome": outcome(record), "prediction": record.get("prediction"),
                     "replies": len(answer_tokens),
                     "confidence": round(min(min(t) for t in answer_tokens), 4) if answer_tokens else None})
        print(n, name, case.id, rows[-1]["outcome"], rows[-1]["confidence"], file=sys.stderr, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="tune,fresh,quoref")
    ap.add_argument("--limit", type=int, default=0, help="at most this many questions a set (a smoke run)")
    ap.add_argument("--out", default="token_confidence")
    args = ap.parse_args()
    settings = load_settings({})
    recorder = ConfidenceRecorder(build_generator(settings, progress=False))
    base = RagPipeline(settings, generator=recorder, progress=False)
    rows: list[dict] = []
    for name in args.sets.split(","):
        if name == "tune":
            dataset = load_dataset(SEEDS)
            parts = [(dataset, [c for c in dataset.cases if c.split == "tune"])]
        elif name == "fresh":
            parts = [(d, d.cases) for d in (load_dataset(p) for p in FRESH)]
        elif name == "quoref":
            dataset = load_dataset(QUOREF, limit=200, outside_sample=300)
            parts = [(dataset, dataset.cases[:100])]
        else:
            raise SystemExit(f"unknown set {name!r}: use tune, fresh or quoref")
        for dataset, cases in parts:
            rows += run_set(base, recorder, name, dataset, cases[: args.limit or None])
    sets = sorted({r["set"] for r in rows}, key=args.sets.split(",").index)
    result = {"summary": {name: summary([r for r in rows if r["set"] == name]) for name in sets},
              "seeds_tune_and_fresh": summary([r for r in rows if r["set"] in ("tune", "fresh")]),
              "cases": rows}
    print(write_result(args.out, result))
    for name, figures in result["summary"].items():
        print(name, figures["answered"], "AUC right/wrong", figures["auc_right_vs_wrong"],
              "right/traps", figures["auc_right_vs_traps_answered"])


if __name__ == "__main__":
    main()
