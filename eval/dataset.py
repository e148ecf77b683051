"""Labelled question sets: a JSONL file over a documents folder, or a BEIR folder with its own corpus."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eval.beir import load_corpus, load_queries
from rag.errors import DatasetError


@dataclass(frozen=True)
class EvalCase:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    gold_docs: tuple[str, ...] = ()
    answerable: bool = True
    turns: tuple[str, ...] = ()
    type: str = "default"
    split: str = ""
    # A list question's gold items, each with its aliases: complete when one alias of every item is given.
    items: tuple[tuple[str, ...], ...] = ()
    evidence: tuple[str, ...] = ()  # gold evidence: quotes of the document text that state the answer
    paraphrase_of: str = ""  # the id of the question this one rewords
    answer_type: str = ""  # number, date, duration, person, place, organisation, rating, reason, other

    @property
    def group(self) -> str:
        """The paraphrase group: the original question's id."""
        return self.paraphrase_of or self.id


@dataclass
class Dataset:
    name: str
    path: Path
    cases: list[EvalCase]
    corpus: list | None = None  # Documents for a BEIR folder; None = index a documents folder
    kind: str = "jsonl"
    notes: dict[str, Any] = field(default_factory=dict)


# How the questions are typed for a run: as in the dataset, or all in lower case or capitals, to measure how an
# answer depends on the capitals that mark a question's names (rag/casing.py).
QUESTION_CASES = ("as-typed", "lower", "upper")


def load_dataset(path: Path, *, limit: int = 0, sample_seed: int = 0, outside_sample: int = 0,
                 question_case: str = "as-typed") -> Dataset:
    """A JSONL question file, or a BEIR folder (corpus.jsonl, queries.jsonl, qrels.tsv[, answers.jsonl]).
    ``limit`` takes a fixed random sample (seeded) so repeated runs score the same questions. ``outside_sample``
    first sets aside the questions of the ``--limit N`` sample that a report uses, so that tuning runs never
    read them; ``limit`` then samples the rest (with another seed). ``question_case`` (``QUESTION_CASES``)
    retypes every question and follow-up turn after sampling, so the same questions are asked."""
    if question_case not in QUESTION_CASES:
        raise DatasetError(f"question case {question_case!r} is not one of {', '.join(QUESTION_CASES)}")
    path = Path(path)
    if path.is_dir():
        for required in ("corpus.jsonl", "queries.jsonl", "qrels.tsv"):
            if not (path / required).is_file():
                raise DatasetError(f"{path} is not a BEIR folder: {required} is missing")
        queries = [q for q in load_queries(path) if q.gold_docs]
        cases = [EvalCase(q.query_id, q.text, q.answers, q.gold_docs, True, type="beir") for q in queries]
        dataset = Dataset(path.name, path, cases, corpus=load_corpus(path), kind="beir")
    elif path.is_file():
        cases = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                cases.append(_case(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{path}:{n}: not a valid question record ({exc})") from None
        dataset = Dataset(path.stem, path, cases)
    else:
        raise DatasetError(f"{path}: no such dataset file or folder")
    if outside_sample:
        reported = {c.id for c in _sample(dataset.cases, outside_sample, sample_seed)}
        dataset.cases = [c for c in dataset.cases if c.id not in reported]
        dataset.notes["outside_sample"] = f"the {outside_sample}-question report sample (seed {sample_seed}) left out"
        sample_seed += 1
    if limit and limit < len(dataset.cases):
        dataset.cases = _sample(dataset.cases, limit, sample_seed)
        dataset.notes["sample"] = f"{limit} questions, seeded random sample (seed {sample_seed})"
    if question_case != "as-typed":
        retype = str.lower if question_case == "lower" else str.upper
        dataset.cases = [replace(c, question=retype(c.question), turns=tuple(retype(t) for t in c.turns))
                         for c in dataset.cases]
        dataset.notes["question_case"] = f"every question and turn typed in {question_case} case"
    return dataset


def _sample(cases: list[EvalCase], n: int, seed: int) -> list[EvalCase]:
    if n >= len(cases):
        return list(cases)
    keep = set(random.Random(seed).sample(range(len(cases)), n))
    return [c for i, c in enumerate(cases) if i in keep]


def _case(row: dict[str, Any]) -> EvalCase:
    turns = tuple(row.get("turns") or ())
    question = turns[-1] if turns else row["question"]
    if not isinstance(question, str) or not question.strip():
        raise ValueError("the question is empty")
    # "all_answers" is the older form of a list question: every answer required, one alias each.
    items = tuple(tuple(item) if isinstance(item, list) else (item,)
                  for item in row.get("items") or row.get("all_answers") or ())
    return EvalCase(
        id=str(row["id"]), question=question, answers=tuple(row.get("answers") or ()),
        gold_docs=tuple(row.get("gold_docs") or ()), answerable=bool(row.get("answerable", True)), turns=turns,
        type=row.get("type", "default"), split=row.get("split", ""), items=items,
        evidence=tuple(row.get("evidence") or ()), paraphrase_of=str(row.get("paraphrase_of") or ""),
        answer_type=row.get("answer_type", ""),
    )
