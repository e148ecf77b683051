"""Per-document replies of multi-part questions, with each document's retrieval scores, so that rules for which
parts to keep can be scored offline (docs/decisions.md, "Rejected: dropping weakly retrieved documents").

Questions: multi-part Quoref questions outside the fixed 300-question sample (a seeded random N), or the
multi-part questions of the seeds tune split. Prints F1 / contains for "all parts" and "first document only",
and the fused-score ratio (document's best / top document's best) of gold and non-gold later parts.
Usage: .venv/bin/python bench/multipart_parts.py quoref --n 40 --out multipart_parts_quoref40
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import tuning_questions, write_result  # noqa: E402

from eval import metrics as M  # noqa: E402
from eval.harness import prepare_pipeline  # noqa: E402
from rag.multipart import is_multi_part  # noqa: E402
from rag.settings import load_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["quoref", "seeds"])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    settings = load_settings()
    dataset, pool = tuning_questions(args.dataset, keep=lambda case: is_multi_part(case.question))
    cases = random.Random(2).sample(pool, args.n) if args.dataset == "quoref" else pool
    pipeline = prepare_pipeline(settings, dataset, progress=False)
    params = pipeline.generation_params()
    rows = []
    for case in cases:
        prep = pipeline.prepare(case.question, ())
        parts = []
        for group in prep.groups:
            messages = pipeline.messages(case.question, group, settings.multi_part_prompt)
            reply = pipeline.generator.generate(messages, params).text
            doc = group[0].chunk.doc_id
            parts.append({"doc": doc, "gold": doc in case.gold_docs, "best_score": max(h.score for h in group),
                          "reply": reply,
                          "has_answer": M.answers_found(reply, [i[0] for i in case.items] or case.answers, case.items)})
        rows.append({"id": case.id, "question": case.question, "answers": list(case.answers), "parts": parts})
        print(case.id, [(p["gold"], round(p["best_score"], 3), p["reply"][:40]) for p in parts], flush=True)

    summary = {}
    for rule, keep in (("all_parts", None), ("first_document_only", 1)):
        pairs = [(" ".join(p["reply"] for p in r["parts"][:keep]), r["answers"]) for r in rows]
        summary[rule] = {"token_f1": statistics.mean(M.token_f1(j, a) for j, a in pairs),
                         "contains_answer": statistics.mean(M.contains_answer(j, a) for j, a in pairs)}
    ratios = {"gold": [], "other": []}
    for r in rows:
        top = r["parts"][0]["best_score"]
        for p in r["parts"][1:]:
            ratios["gold" if p["gold"] else "other"].append(round(p["best_score"] / top, 2))
    summary["later_part_score_ratio"] = {k: sorted(v) for k, v in ratios.items()}
    print(summary)
    write_result(args.out, {"dataset": args.dataset, "pool": len(pool), "questions": len(rows),
                            "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
