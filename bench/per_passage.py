"""Per-passage answering with selection (issue 14's list of mechanisms): the reader asked once per passage of
the prompt, alone, instead of once over all of them, and one of the replies chosen in code.

Each question is prepared as `rag ask` prepares it. For a one-prompt question, each of its `context_k` passages is
given to the reader alone (the default prompt, greedy), and the reply goes through the pipeline's citation check
(`finish`) and answer checks (`mismatch_of`). Selection rules, scored against the default answer of the same
question (the records of a `rag eval` run with the defaults on the same code, `--base`):

- first passing: the reply of the best-ranked passage that is not refused by a check;
- vote: the reply most passages give (normalised text), ties to the better rank;
- default unless outvoted: the default answer, unless no passing reply agrees with it and two or more agree on
  another;
- oracle: the default answer or any per-passage reply holds a gold answer (the ceiling of any selection).

Questions: the first 100 of the 200 Quoref questions outside the 300 sample (`--outside 300 --limit 200`, ids in
`--ids`), never the sample. Model tokens are the per-passage prompts' alone (the default answer's are not added).
Usage: .venv/bin/python bench/per_passage.py --base RECORDS.json [--ids FILE] [--records OUT.json] [--reuse]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUOREF, write_result  # noqa: E402

from eval.dataset import load_dataset  # noqa: E402
from eval.harness import prepare_pipeline  # noqa: E402
from eval.metrics import contains_answer  # noqa: E402
from rag.second_pass import mismatch_of  # noqa: E402
from rag.settings import load_settings  # noqa: E402


def per_passage_replies(pipe, question: str) -> list[dict]:
    prep = pipe.prepare(question)
    if prep.multi_part or prep.abstain_reason is not None:
        return []
    replies = []
    for rank, hit in enumerate(prep.context):
        one = dataclasses.replace(prep, context=(hit,), groups=((hit,),), hits=(hit,), timings={})
        timings: dict[str, float] = {}
        drafting = pipe.generate(one, timings, stream=False)
        try:
            while True:
                next(drafting)
        except StopIteration as done:
            raw = done.value
        answer = pipe.finish(one, raw, timings)
        mismatch = None if answer.abstained else mismatch_of(pipe, one, answer)
        replies.append({"rank": rank, "doc": hit.chunk.doc_id, "raw": raw, "text": answer.text,
                        "abstained": answer.abstained, "mismatch": mismatch.kind if mismatch else None,
                        "tokens": timings.get("prompt_tokens", 0) + timings.get("completion_tokens", 0)})
    return replies


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", re.sub(r"\[\d+\]", "", text)).strip().lower()


def selections(records: list[dict], base: dict[str, dict]) -> dict:
    hits: Counter = Counter()
    tokens = []
    for r in records:
        answers = r["answers"]

        def right(text: str) -> bool:
            return bool(text) and bool(contains_answer(text, answers))  # noqa: B023
        default = base[r["id"]]
        default_text = "" if default.get("abstained") else default.get("prediction") or ""
        hits["default"] += right(default_text)
        replies = r["per"]
        if not replies:
            for rule in ("first passing", "vote", "default unless outvoted", "oracle"):
                hits[rule] += right(default_text)
            continue
        tokens.append(sum(p["tokens"] for p in replies))
        passing = [p for p in replies if not p["abstained"] and not p["mismatch"]]
        hits["oracle"] += right(default_text) or any(right(p["text"]) for p in replies)
        hits["first passing"] += right(passing[0]["text"]) if passing else False
        votes = Counter(_norm(p["text"]) for p in passing)
        top = votes.most_common(1)
        voted = next((p["text"] for p in passing if top and _norm(p["text"]) == top[0][0]), "")
        hits["vote"] += right(voted)
        agrees = any(_norm(default_text) and _norm(default_text) in _norm(p["text"]) for p in passing)
        hits["default unless outvoted"] += right(voted if not agrees and top and top[0][1] >= 2 else default_text)
    tokens.sort()
    return {"questions": len(records), "contains_answer": {k: round(v / len(records), 3) for k, v in hits.items()},
            "per_passage_tokens_p50": tokens[len(tokens) // 2] if tokens else None,
            "default_tokens_p50": sorted(b.get("model_tokens") or 0 for b in base.values())[len(base) // 2]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=Path, required=True, help="records of the defaults on the same questions")
    ap.add_argument("--ids", type=Path, help="question ids to run (one a line)")
    ap.add_argument("--records", type=Path, default=Path("/tmp/per_passage_records.json"))
    ap.add_argument("--reuse", action="store_true", help="score saved --records without running the model")
    args = ap.parse_args()
    base = {r["id"]: r for r in json.loads(args.base.read_text())}
    if not args.reuse:
        dataset = load_dataset(QUOREF, limit=200, outside_sample=300)
        wanted = set(args.ids.read_text().split()) if args.ids else None
        cases = [c for c in dataset.cases if wanted is None or c.id in wanted]
        pipe = prepare_pipeline(load_settings({}), dataset, progress=False)
        records = []
        for n, case in enumerate(cases, 1):
            records.append({"id": case.id, "answers": list(case.answers),
                            "per": per_passage_replies(pipe, case.question)})
            args.records.write_text(json.dumps(records))
            print(n, case.id, [p["text"][:30] for p in records[-1]["per"]], flush=True)
    records = json.loads(args.records.read_text())
    result = selections(records, base)
    print(json.dumps(result, indent=2))
    write_result("per_passage", result)


if __name__ == "__main__":
    main()
