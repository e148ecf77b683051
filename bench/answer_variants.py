"""Answer prompt variants on identical retrieval: each question is retrieved once and answered once per
variant through the pipeline's own generation, citation check and answer check.

Questions: Quoref questions outside the fixed 300-question sample that `rag eval --limit 300` reports (a seeded
random N of them), or the single-turn questions of the seeds tune split; never the seeds heldout split.
Variants: brief (the default wording), terse (settings.answer_prompt = "terse"), sandwich (brief, with the
question also put before the passages), reversed (brief, best passage last, next to the question).
Multi-part questions use settings.multi_part_prompt for their parts unless --parts-too applies the variant
there as well.
Usage: .venv/bin/python bench/answer_variants.py quoref --n 120 --variants brief,terse,sandwich --out NAME
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import tuning_questions, write_result  # noqa: E402

import rag.pipeline as pipeline_module  # noqa: E402
from eval import metrics as M  # noqa: E402
from eval.harness import prepare_pipeline  # noqa: E402
from rag.prompts import answer_messages  # noqa: E402
from rag.settings import load_settings  # noqa: E402


def reversed_messages(question, passages, style="brief", max_passage_chars=None):
    return answer_messages(question, list(passages)[::-1], style, max_passage_chars)


def sandwich_messages(question, passages, style="brief", max_passage_chars=None):
    messages = answer_messages(question, passages, style, max_passage_chars)
    user = messages[1]
    messages[1] = type(user)(user.role, f"Question: {question}\n\n{user.content}")
    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["quoref", "seeds"])
    parser.add_argument("--n", type=int, default=120, help="Quoref questions (seeds: the whole tune split)")
    parser.add_argument("--variants", default="brief,terse,sandwich")
    parser.add_argument("--parts-too", action="store_true", help="the variant also words multi-part parts")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    settings = load_settings()
    dataset, cases = tuning_questions(args.dataset)
    if args.dataset == "quoref":
        cases = random.Random(1).sample(cases, args.n)
    pipeline = prepare_pipeline(settings, dataset, progress=False)
    variants = args.variants.split(",")
    base = pipeline.settings  # the eval index's settings

    def answer(variant: str, prep):
        style = "terse" if variant == "terse" else "brief"
        pipeline_module.answer_messages = {"sandwich": sandwich_messages,
                                           "reversed": reversed_messages}.get(variant, answer_messages)
        pipeline.settings = base.replace(
            answer_prompt=style, multi_part_prompt=style if args.parts_too else base.multi_part_prompt)
        timings = dict(prep.timings)
        raw = ""
        if prep.abstain_reason is None:
            generation = pipeline.generate(prep, timings, stream=False)
            try:
                next(generation)
            except StopIteration as done:
                raw = done.value
        return pipeline.finish(prep, raw, timings)

    rows = []
    for n, case in enumerate(cases, start=1):
        prep = pipeline.prepare(case.question, ())
        row = {"id": case.id, "question": case.question, "answers": list(case.answers),
               "answerable": case.answerable}
        for variant in variants:
            result = answer(variant, prep)
            prediction = "" if result.abstained else result.text
            row[variant] = {"prediction": prediction, "raw": result.raw_generation, "abstained": result.abstained,
                            "reason": result.abstain_reason,
                            "contains": M.contains_answer(prediction, case.answers, case.items)
                            if case.answers else None,
                            "f1": M.token_f1(prediction, case.answers) if case.answers else None}
        rows.append(row)
        print(n, case.id, {v: (row[v]["contains"], row[v]["abstained"]) for v in variants}, flush=True)

    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    summary = {}
    for variant in variants:
        summary[variant] = {
            "contains_answer": statistics.mean(r[variant]["contains"] for r in answerable),
            "token_f1": statistics.mean(r[variant]["f1"] for r in answerable),
            "wrongly_abstained": statistics.mean(r[variant]["abstained"] for r in answerable),
            "unanswerable_abstained": statistics.mean(r[variant]["abstained"] for r in unanswerable)
            if unanswerable else None,
        }
        if variant != variants[0]:
            diff = [r[variant]["f1"] - r[variants[0]]["f1"] for r in answerable]
            summary[variant]["f1_vs_first"] = {"mean": statistics.mean(diff),
                                               "stderr": statistics.stdev(diff) / len(diff) ** 0.5,
                                               "up": sum(d > 1e-9 for d in diff), "down": sum(d < -1e-9 for d in diff)}
        print(variant, summary[variant])
    write_result(args.out, {"dataset": args.dataset, "questions": len(rows), "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
