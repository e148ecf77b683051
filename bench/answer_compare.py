"""Today's default against a candidate setting, side by side on this machine: first token, whole answer and
generated tokens/s (p50/p95), and whether every answer is the same. Both pipelines share the index; the questions
alternate between them (A, B, A, B ...) so that drift in the machine's speed falls on both alike.

Usage: .venv/bin/python bench/answer_compare.py KEY=VALUE [KEY=VALUE ...] [--questions N] [--split tune]
  e.g. bench/answer_compare.py prompt_lookup_tokens=10 --questions 40
Run it on an idle machine with no other model job (two llama.cpp processes on 2 cores slow each other 3-5x).
Writes bench/results/answer_compare.json with the CPU model and flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pct, timed_answer  # noqa: E402

from rag.machine import cpu_info
from rag.pipeline import RagPipeline
from rag.settings import PROJECT_ROOT, Settings, load_settings


def parse_change(text: str, settings: Settings) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    fields = {f.name: f for f in dataclasses.fields(settings)}
    if not sep or key not in fields:
        raise SystemExit(f"expected KEY=VALUE with KEY a setting, got {text!r}")
    current = getattr(settings, key)
    value: object = raw
    if isinstance(current, bool):
        value = raw.lower() in ("1", "true", "yes", "on")
    elif isinstance(current, int):
        value = int(raw)
    elif isinstance(current, float):
        value = float(raw)
    return key, value


def questions(split: str, limit: int) -> list[str]:
    rows = [json.loads(line) for line in (PROJECT_ROOT / "eval/datasets/seeds.jsonl").read_text().splitlines()]
    single = [r["question"] for r in rows if r.get("split") == split and not r.get("turns")]
    return single[:limit]


def summary(runs: list[dict[str, object]]) -> dict[str, float]:
    totals = [float(r["total"]) for r in runs]
    firsts = [float(r["first"]) for r in runs if r["first"] is not None]
    return {"first_token_p50_s": round(statistics.median(firsts), 3), "first_token_p95_s": round(pct(firsts, 0.95), 3),
            "answer_p50_s": round(statistics.median(totals), 3), "answer_p95_s": round(pct(totals, 0.95), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("changes", nargs="+", metavar="KEY=VALUE")
    parser.add_argument("--questions", type=int, default=30, help="single-turn questions of the split (default 30)")
    parser.add_argument("--split", default="tune")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = RagPipeline(load_settings({"index_dir": Path(tmp) / "idx"}), progress=False)
        changes = dict(parse_change(c, base.settings) for c in args.changes)
        candidate = base.variant(base.settings.replace(**changes))
        base.ensure_index()
        asked = questions(args.split, args.questions)
        for pipeline in (base, candidate):  # load each model and warm its caches before timing
            pipeline.ask("warm-up: who inspected the councils?")
        runs: dict[str, list[dict[str, object]]] = {"default": [], "candidate": []}
        for q in asked:
            for name, pipeline in (("default", base), ("candidate", candidate)):
                runs[name].append(timed_answer(pipeline, q))
            a, b = runs["default"][-1], runs["candidate"][-1]
            print(f"{a['total']:.2f}s / {b['total']:.2f}s {'same' if a['text'] == b['text'] else 'DIFFERENT'} {q!r}")
        same = sum(a["text"] == b["text"] for a, b in zip(runs["default"], runs["candidate"], strict=True))
        result = {"changes": changes, "questions": len(asked), "split": args.split, "identical_answers": same,
                  "machine": cpu_info().to_dict(), "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "default": summary(runs["default"]), "candidate": summary(runs["candidate"])}
        for key in result["default"]:
            result.setdefault("ratio", {})[key] = round(result["candidate"][key] / result["default"][key], 3)
        print(f"\n{'':22}{'default':>10}{'candidate':>11}{'ratio':>8}")
        for key, value in result["default"].items():
            print(f"{key:22}{value:>10}{result['candidate'][key]:>11}{result['ratio'][key]:>8}")
        print(f"identical answers: {same} of {len(asked)}; {json.dumps(changes)}; {result['machine']}")
        out = PROJECT_ROOT / "bench/results/answer_compare.json"
        out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
