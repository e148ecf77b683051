"""The relevance gate's two signals per question: the best dense similarity, and whether the best BM25 passage
holds every name the question gives (rag/retriever.py, Relevance). Shows where answerable, trap and out-of-scope
questions fall, and whether the names signal (settings.relevance_by_names) would let an off-topic one through.

Questions: the seeds tune split (never the locked split) and a seeded sample of Quoref questions outside the
reported 300-question sample.
Usage: .venv/bin/python bench/relevance_gate.py [--quoref 300] [--out relevance_gate]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import tuning_questions, write_result  # noqa: E402

from eval.harness import prepare_pipeline  # noqa: E402
from rag.settings import load_settings  # noqa: E402

# Written for this bench (not from any question set): questions about nothing in the seeds, and questions that
# hinge on one rare exact term of theirs (the embedder scores such acronyms low).
OFF_TOPIC = """What is the boiling point of water at sea level?
Who painted the Mona Lisa?
How many players are on a football team?
What is the population of Canada?
Which planet is closest to the Sun?
How do you bake sourdough bread?
What is the speed of light?
Who wrote War and Peace?
What year did the Berlin Wall fall?
How tall is the Eiffel Tower?
What is the chemical symbol for gold?
Which river flows through Cairo?
What language is spoken in Brazil?
How many bones are in the human body?
Who invented the telephone?
What is the largest ocean on Earth?
When did the Titanic sink?
What is the currency of Japan?
How do I reset my router password?
Which team won the 1966 World Cup?
What are the symptoms of the flu?
How long does it take to fly from London to New York?
What is photosynthesis?
Who was the first person on the Moon?
What is the best way to learn Spanish?
How many calories are in an apple?
What is the tallest building in Dubai?
Which composer wrote the Four Seasons?
What does a car mechanic charge for an oil change?
How far is Edinburgh from Glasgow?""".splitlines()
RARE_TERM = """What does MAST stand for?
What is ICS short for?
What is a PEP?
What is Aspire?
What is Operation Fortify?
Who is Risthardh Hare?
What is the Old Bailey?
What happened at the Old Bailey?
What is the Southport Visiter?
What does DCSF mean?""".splitlines()


def written(pipeline, questions: list[str], kind: str) -> list[dict]:
    rows = []
    for n, question in enumerate(questions, start=1):
        _, relevance = pipeline.retriever.search_with_relevance(question, 5)
        rows.append({"id": f"{kind}{n}", "question": question, "kind": kind, "dense": round(relevance.dense, 4),
                     "names_found": relevance.names_found})
    return rows


def signals(which: str, n: int) -> list[dict]:
    dataset, cases = tuning_questions(which, keep=lambda c: not c.turns)
    if n and len(cases) > n:
        cases = random.Random(1).sample(cases, n)
    pipeline = prepare_pipeline(load_settings(), dataset, progress=False)
    rows = []
    for case in cases:
        _, relevance = pipeline.retriever.search_with_relevance(case.question, 5)
        kind = "answerable" if case.answerable else case.type
        rows.append({"id": case.id, "question": case.question, "kind": kind, "dense": round(relevance.dense, 4),
                     "names_found": relevance.names_found})
    if which == "seeds":
        rows += written(pipeline, OFF_TOPIC, "off_topic") + written(pipeline, RARE_TERM, "rare_term")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quoref", type=int, default=300, help="Quoref questions (0: none)")
    parser.add_argument("--out", default="relevance_gate")
    args = parser.parse_args()
    rows = signals("seeds", 0) + (signals("quoref", args.quoref) if args.quoref else [])
    summary = {}
    for kind in sorted({r["kind"] for r in rows}):
        these = [r for r in rows if r["kind"] == kind]
        summary[kind] = {"n": len(these), "dense_min": min(r["dense"] for r in these),
                         "dense_max": max(r["dense"] for r in these),
                         "names_found": sum(r["names_found"] for r in these),
                         "below_dense_floor": [(r["id"], r["dense"], r["names_found"]) for r in these
                                               if r["dense"] < 0.25]}
        print(kind, summary[kind])
    write_result(args.out, {"summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
