"""The evaluation harness: runs the pipeline over a labelled question set and scores retrieval, answers,
citations, abstention and speed. A thin front end over ``RagPipeline``, like the CLI and the UI."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eval import metrics as M
from eval.beir import load_corpus, load_queries
from rag.citations import strip_markers
from rag.errors import DatasetError, RagError, user_message
from rag.pipeline import RagPipeline
from rag.progress import progress_bar
from rag.settings import Settings
from rag.types import Answer

log = logging.getLogger(__name__)

RETRIEVAL_DEPTH_CHUNKS = 40  # chunks fetched to rank 10 distinct documents


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


def load_dataset(path: Path, *, limit: int = 0, sample_seed: int = 0, outside_sample: int = 0) -> Dataset:
    """A JSONL question file, or a BEIR folder (corpus.jsonl, queries.jsonl, qrels.tsv[, answers.jsonl]).
    ``limit`` takes a fixed random sample (seeded) so repeated runs score the same questions. ``outside_sample``
    first sets aside the questions of the ``--limit N`` sample that a report uses, so that tuning runs never
    read them; ``limit`` then samples the rest (with another seed)."""
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


def eval_index_dir(settings: Settings, dataset: Dataset, docs_dir: Path | None) -> Path:
    """Beside the main index; one per corpus, reused (and incrementally updated) across runs."""
    corpus = dataset.path if dataset.corpus is not None else (docs_dir or settings.seeds_dir)
    digest = hashlib.sha256(str(corpus.resolve()).encode()).hexdigest()[:10]
    return settings.index_dir.parent / "eval-index" / f"{dataset.name}-{digest}"


def prepare_pipeline(settings: Settings, dataset: Dataset, *, docs_dir: Path | None = None,
                     base: RagPipeline | None = None, progress: bool = True) -> RagPipeline:
    """A pipeline over the dataset's corpus (cached, incrementally updated), sharing loaded models."""
    index_dir = eval_index_dir(settings, dataset, docs_dir)
    wanted = settings.replace(index_dir=index_dir)
    pipeline = base.variant(wanted, progress=progress) if base else RagPipeline(wanted, progress=progress)
    if dataset.corpus is not None:
        pipeline.add_documents(dataset.corpus, root=str(dataset.path.resolve()))
    else:
        pipeline.index_paths([docs_dir or settings.seeds_dir])
    return pipeline


def _ranked_docs(pipeline: RagPipeline, query: str) -> list[str]:
    docs: list[str] = []
    for hit in pipeline.search(query, RETRIEVAL_DEPTH_CHUNKS):
        if hit.chunk.doc_id not in docs:
            docs.append(hit.chunk.doc_id)
    return docs[:10]


GoldSpans = dict[str, list[tuple[str, int, int]]]  # case id -> (doc, start, end) of each gold evidence quote


def gold_evidence_spans(pipeline: RagPipeline, cases: list[EvalCase]) -> GoldSpans:
    """Each case's gold evidence quotes located in its gold documents' normalised text; a quote found in none
    of them is a dataset error (a typo in a quote would otherwise score every citation as off-evidence)."""
    texts: dict[str, str] = {}
    spans: GoldSpans = {}
    problems = []
    for case in cases:
        for quote in case.evidence:
            found = None
            for doc in case.gold_docs:
                if doc not in texts:
                    try:
                        texts[doc] = pipeline.index.document_text(doc)
                    except KeyError:
                        texts[doc] = ""
                at = texts[doc].find(quote)
                if at >= 0:
                    found = (doc, at, at + len(quote))
                    break
            if found is None:
                problems.append(f"{case.id}: evidence not found in {', '.join(case.gold_docs)}: {quote[:60]!r}")
            else:
                spans.setdefault(case.id, []).append(found)
    if problems:
        raise DatasetError("gold evidence that is not in the documents:\n" + "\n".join(problems[:20]))
    return spans


def run_case(pipeline: RagPipeline, case: EvalCase, *, retrieve_only: bool,
             gold_spans: GoldSpans | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {**asdict(case)}
    started = time.perf_counter()
    try:
        if retrieve_only:
            query = " ".join(case.turns) if case.turns else case.question
            answer = None
        else:
            history: list[tuple[str, str]] = []
            for turn in case.turns[:-1]:
                prior = pipeline.ask(turn, history)
                history.append((prior.standalone_question or turn, strip_markers(prior.text)))
            started = time.perf_counter()
            answer = pipeline.ask(case.question, history)
            query = answer.standalone_question or case.question
        ranked = _ranked_docs(pipeline, query)
    except RagError as exc:  # bad input (an empty or overlong question): recorded in one line, the run goes on
        log.warning("question %s: %s", case.id, exc)
        record["error"] = user_message(exc)
        return record
    except Exception as exc:  # a bug: recorded with its traceback in the log, the run goes on
        log.exception("question %s failed", case.id)
        record["error"] = f"{type(exc).__name__}: {exc}"
        return record
    record["latency_s"] = time.perf_counter() - started
    record["retrieved_docs"] = ranked
    gold = set(case.gold_docs)
    scores: dict[str, float] = {}
    if gold:
        scores.update({"recall@1": M.recall_at(ranked, gold, 1), "recall@5": M.recall_at(ranked, gold, 5),
                       "recall@10": M.recall_at(ranked, gold, 10), "mrr": M.mrr(ranked, gold),
                       "ndcg@10": M.ndcg_at(ranked, gold)})
    if answer is not None:
        record.update(prediction=answer.text, abstained=answer.abstained, abstain_reason=answer.abstain_reason,
                      standalone_question=answer.standalone_question, raw_generation=answer.raw_generation,
                      unsupported_sentences=list(answer.unsupported),
                      citations=[{"n": c.n, "doc": c.doc_id, "start": c.start, "end": c.end, "quote": c.quote,
                                  "support": c.support} for c in answer.citations],
                      timings=answer.timings)
        scores.update(_answer_scores(case, answer, record, (gold_spans or {}).get(case.id, [])))
    record["scores"] = scores
    return record


def _answer_scores(case: EvalCase, answer: Answer, record: dict[str, Any],
                   spans: list[tuple[str, int, int]]) -> dict[str, float]:
    scores: dict[str, float] = {}
    tokens = sum(answer.timings.get(k, 0) for k in ("prompt_tokens", "completion_tokens", "rewrite_tokens"))
    if tokens:
        record["model_tokens"] = tokens
    if case.answerable and case.answers:
        prediction = "" if answer.abstained else answer.text
        # For the failure table: which gold answers the passages given to the model held, and which of the
        # required ones the answer gave; that separates a retrieval miss from the model picking wrongly.
        wanted = [item[0] for item in case.items] if case.items else list(case.answers)
        shown = " ".join(h.chunk.text for h in answer.passages)
        record["answers_in_passages"] = M.answers_found(shown, wanted, case.items)
        record["answers_given"] = M.answers_found(prediction, wanted, case.items)
        scores["exact_match"] = M.exact_match(prediction, case.answers)
        scores["token_f1"] = M.token_f1(prediction, case.answers)
        scores["contains_answer"] = M.contains_answer(prediction, case.answers, case.items)
        if case.items:
            scores["list_completeness"] = M.list_completeness(prediction, case.items)
        gold = set(case.gold_docs)
        cited = {c.doc_id for c in answer.citations}
        scores["cites_gold"] = float(bool(cited & gold)) if gold else float(bool(cited))
        scores["correct_and_cited"] = scores["contains_answer"] * scores["cites_gold"]
        if spans and answer.citations:
            on = [M.overlaps_any((c.doc_id, c.start, c.end), spans) for c in answer.citations]
            scores["evidence_precision"] = sum(on) / len(on)
            scores["cites_gold_evidence"] = float(any(on))
    if not answer.abstained:
        quotes = {c.n: c.quote for c in answer.citations}
        sentences = [(s.text, [quotes[n] for n in s.citation_ns]) for s in answer.sentences]
        scores["citation_recall"], scores["citation_precision"] = M.citation_scores(
            sentences, answer.standalone_question or case.question)
    return scores


def _mean(records: list[dict], key: str) -> float | None:
    values = [r["scores"][key] for r in records if key in r.get("scores", {})]
    return round(statistics.fmean(values), 4) if values else None


def _share(records: list[dict], test) -> float | None:
    return round(sum(bool(test(r)) for r in records) / len(records), 4) if records else None


ANSWER_KEYS = ("exact_match", "token_f1", "contains_answer", "list_completeness", "cites_gold", "correct_and_cited",
               "evidence_precision", "cites_gold_evidence", "citation_precision", "citation_recall")


def aggregate(records: list[dict], *, retrieve_only: bool, by_split: bool = True) -> dict[str, Any]:
    ok = [r for r in records if "error" not in r]
    totals: dict[str, Any] = {"questions": len(records), "errors": len(records) - len(ok)}
    for key in ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"):
        totals[key] = _mean(ok, key)
    latencies = [r["latency_s"] for r in ok if "latency_s" in r]
    totals["latency_p50_s"] = round(M.percentile(latencies, 0.5), 3)
    totals["latency_p95_s"] = round(M.percentile(latencies, 0.95), 3)
    if not retrieve_only:
        totals.update(_answer_totals(ok))
    totals["by_type"] = _by_type(ok, retrieve_only=retrieve_only)
    splits = sorted({r.get("split") or "" for r in ok} - {""})
    if by_split and len(splits) > 1:
        totals["by_split"] = {name: aggregate([r for r in records if r.get("split") == name],
                                              retrieve_only=retrieve_only, by_split=False) for name in splits}
    return totals


def _answer_totals(ok: list[dict]) -> dict[str, Any]:
    totals: dict[str, Any] = {key: _mean(ok, key) for key in ANSWER_KEYS}
    answerable = [r for r in ok if r["answerable"]]
    unanswerable = [r for r in ok if not r["answerable"]]
    abstained = [r for r in ok if r.get("abstained")]
    totals["abstention_recall"] = _share(unanswerable, lambda r: r.get("abstained"))
    totals["abstention_precision"] = _share(abstained, lambda r: not r["answerable"])
    totals["false_abstention_rate"] = _share(answerable, lambda r: r.get("abstained"))
    follow_ups = [r for r in answerable if r.get("turns")]
    totals["follow_up_correct_and_cited"] = _mean(follow_ups, "correct_and_cited")
    totals.update(paraphrase_consistency(ok))
    tokens = [r["model_tokens"] for r in ok if r.get("model_tokens")]
    totals["model_tokens_p50"] = round(M.percentile(tokens, 0.5), 1) if tokens else None
    for key, rate in (("prompt_tok_per_s", "prompt_tok_per_s"), ("gen_tok_per_s", "gen_tok_per_s")):
        rates = [r["timings"][rate] for r in ok if rate in r.get("timings", {})]
        totals[key] = round(statistics.fmean(rates), 1) if rates else None
    return totals


def paraphrase_consistency(records: list[dict]) -> dict[str, Any]:
    """Share of paraphrase groups (a question and its rewordings, answerable, at least two in the run) whose
    every member is correct and cited: an answer that flips with the wording is not yet right."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        if r["answerable"] and "correct_and_cited" in r.get("scores", {}):
            groups[r.get("paraphrase_of") or r["id"]].append(r)
    reworded = [members for members in groups.values() if len(members) > 1]
    if not reworded:
        return {"paraphrase_groups": 0, "paraphrase_consistency": None}
    held = sum(all(m["scores"]["correct_and_cited"] == 1.0 for m in members) for members in reworded)
    return {"paraphrase_groups": len(reworded), "paraphrase_consistency": round(held / len(reworded), 4)}


def _by_type(ok: list[dict], *, retrieve_only: bool) -> dict[str, dict[str, Any]]:
    by_type: dict[str, dict[str, Any]] = defaultdict(dict)
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in ok:
        groups[r["type"]].append(r)
    for t, rs in sorted(groups.items()):
        by_type[t]["n"] = len(rs)
        for key in ("recall@5", "contains_answer", "correct_and_cited", "citation_recall"):
            by_type[t][key] = _mean(rs, key)
        if not retrieve_only:
            by_type[t]["abstained"] = round(sum(bool(r.get("abstained")) for r in rs) / len(rs), 4)
    return dict(by_type)


def failures(records: list[dict]) -> list[dict[str, str]]:
    """Every question the run got wrong, with the cause as far as the record tells."""
    out = []
    for r in records:
        s = r.get("scores", {})
        if "error" in r:
            cause = f"error: {r['error']}"
        elif not r["answerable"]:
            if r.get("abstained", True):
                continue
            cited = r.get("citations") or []
            support = f", best citation support {max(c['support'] for c in cited):.2f}" if cited else ""
            cause = ("answered an unanswerable question: the model stated a related fact from the passages and "
                     f"the citation check found it supported{support}")
        elif r.get("abstained"):
            cause = f"wrongly abstained ({r.get('abstain_reason')}; {_retrieved(r)})"
        elif "contains_answer" in s and not s["contains_answer"]:
            cause = _wrong_answer_cause(r)
        elif "cites_gold" in s and not s["cites_gold"]:
            cause = "correct answer but no citation of a gold document"
        elif s.get("evidence_precision", 1.0) < 1.0:
            cause = (f"a citation is off the gold evidence ({s['evidence_precision']:.2f} of the citations on it)")
        elif s.get("citation_recall", 1.0) < 1.0 or s.get("citation_precision", 1.0) < 1.0:
            cause = "a citation does not support its sentence (judge)"
        elif "recall@10" in s and not s["recall@10"] and "contains_answer" not in s:
            cause = "retrieval missed the gold document"
        else:
            continue
        out.append({"id": r["id"], "question": r["question"], "prediction": r.get("prediction", ""),
                    "expected": " | ".join(_wanted(r)) or "(abstain)", "cause": cause})
    return out


def _wanted(r: dict) -> list[str]:
    """What a record's answer must give: one name per list item, else the accepted answers."""
    if r.get("items"):
        return [item[0] for item in r["items"]]
    return list(r.get("answers") or [])


def _retrieved(r: dict) -> str:
    return "gold document retrieved" if r.get("scores", {}).get("recall@5") else "gold document NOT in top 5"


def _wrong_answer_cause(r: dict) -> str:
    wanted = _wanted(r)
    given, held = r.get("answers_given", []), r.get("answers_in_passages")
    retrieved = _retrieved(r)
    if held is None:  # a record from before these fields existed
        return f"wrong or incomplete answer ({retrieved})"
    if r.get("items") and given:
        missing = [a for a in wanted if a not in given]
        where = ("it is in the passages shown" if set(missing) & set(held)
                 else "not in the passages shown, word for word")
        return f"incomplete: gives {', '.join(given)} but not {', '.join(missing)} ({where}; {retrieved})"
    if held:
        return (f"the model picked another fact: {', '.join(held)} is in the passages shown ({retrieved})")
    return f"wrong answer; no gold answer is in the passages shown, word for word ({retrieved})"


def run_eval(settings: Settings, dataset_path: Path, *, limit: int = 0, outside_sample: int = 0,
             retrieve_only: bool = False,
             out_dir: Path | None = None, docs_dir: Path | None = None, split: str = "",
             base: RagPipeline | None = None, progress: bool = True) -> dict[str, Any]:
    dataset = load_dataset(dataset_path, limit=limit, outside_sample=outside_sample)
    if split:
        dataset.cases = [c for c in dataset.cases if c.split == split]
    pipeline = prepare_pipeline(settings, dataset, docs_dir=docs_dir, base=base, progress=progress)
    started = time.perf_counter()
    spans = {} if retrieve_only else gold_evidence_spans(pipeline, dataset.cases)
    records = [run_case(pipeline, case, retrieve_only=retrieve_only, gold_spans=spans)
               for case in progress_bar(dataset.cases, f"Evaluating {dataset.name}", enabled=progress, unit="q")]
    results = {
        "dataset": str(dataset.path), "name": dataset.name, "kind": dataset.kind, "split": split or "all",
        "retrieve_only": retrieve_only, "notes": dataset.notes,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.perf_counter() - started, 1),
        "settings": {k: str(v) for k, v in asdict(settings).items()},
        "model": pipeline.generator.describe() if not retrieve_only else None,
        "totals": aggregate(records, retrieve_only=retrieve_only),
        "failures": failures(records),
        "questions": records,
    }
    if out_dir is not None:
        from eval.report import write_reports

        write_reports(results, Path(out_dir))
    return results


def check_thresholds(results: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """Regressions: every total below its recorded minimum (or above its maximum for *_max keys). A key
    ``SPLIT/metric`` checks that split's totals (``locked/correct_and_cited``)."""
    problems = []
    for key, limit in thresholds.items():
        if key.startswith("_"):
            continue
        name, upper = (key[:-4], True) if key.endswith("_max") else (key, False)
        totals = results["totals"]
        if "/" in name:
            split, name = name.split("/", 1)
            totals = totals.get("by_split", {}).get(split, {})
        value = totals.get(name)
        label = key[:-4] if upper else key
        if value is None:
            problems.append(f"{label}: not measured")
        elif (value > limit) if upper else (value < limit):
            problems.append(f"{label} = {value} is {'above' if upper else 'below'} the recorded threshold {limit}")
    return problems
