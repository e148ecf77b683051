"""The evaluation harness: runs the pipeline over a labelled question set and scores retrieval, answers,
citations, abstention and speed. A thin front end over ``RagPipeline``, like the CLI and the UI."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from eval import metrics as M
from eval.dataset import Dataset, EvalCase, load_dataset
from eval.summary import aggregate, failures
from rag.citations import strip_markers
from rag.errors import DatasetError, RagError, user_message
from rag.pipeline import RagPipeline
from rag.progress import progress_bar
from rag.settings import Settings
from rag.types import Answer

log = logging.getLogger(__name__)

RETRIEVAL_DEPTH_CHUNKS = 40  # chunks fetched to rank 10 distinct documents


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
                      abstain_kind=answer.abstain_kind,
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


def run_eval(settings: Settings, dataset_path: Path, *, limit: int = 0, outside_sample: int = 0,
             retrieve_only: bool = False,
             out_dir: Path | None = None, docs_dir: Path | None = None, split: str = "",
             base: RagPipeline | None = None, progress: bool = True, question_case: str = "as-typed") -> dict[str, Any]:
    dataset = load_dataset(dataset_path, limit=limit, outside_sample=outside_sample, question_case=question_case)
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
        "provenance": pipeline.provenance() if not retrieve_only else None,
        "totals": aggregate(records, retrieve_only=retrieve_only),
        "failures": failures(records),
        "questions": records,
    }
    if out_dir is not None:
        from eval.report import write_reports

        write_reports(results, Path(out_dir))
    return results


