"""Batch question files: TXT (a question a line), CSV (``question`` column, optional ``id``) or JSONL
(``{"id", "question", ...}``) in; JSONL or CSV out, written row by row so an interrupted run loses nothing
and ``resume`` skips ids already written."""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import BatchError, RagError, user_message
from rag.parallel import make_executor
from rag.pipeline import RagPipeline
from rag.progress import progress_bar
from rag.settings import Settings

log = logging.getLogger(__name__)

INPUT_FORMATS = (".txt", ".csv", ".jsonl")
OUTPUT_FORMATS = (".jsonl", ".csv")
CSV_COLUMNS = ["id", "question", "answer", "abstained", "abstain_kind", "abstain_reason", "cited_docs", "quotes",
               "error", "provenance"]


@dataclass(frozen=True)
class BatchItem:
    id: str
    question: str
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # a malformed input line: reported in its own output row


@dataclass
class BatchSummary:
    total: int = 0
    written: int = 0
    skipped_existing: int = 0
    errors: int = 0
    abstained: int = 0


def read_questions(path: Path, max_question_chars: int = Settings.max_question_chars) -> list[BatchItem]:
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in INPUT_FORMATS:
        raise BatchError(f"{path}: unsupported question file type {ext!r}; use .txt, .csv or .jsonl")
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BatchError(f"{path}: not UTF-8 text ({exc})") from None
    except OSError as exc:
        raise BatchError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if ext == ".txt":
        items = [BatchItem(f"q{n}", line.strip()) for n, line in enumerate(raw.splitlines(), start=1)
                 if line.strip() and not line.lstrip().startswith("#")]
    elif ext == ".csv":
        items = list(_read_csv(raw, path))
    else:
        items = list(_read_jsonl(raw))
    return _dedupe([_check(item, max_question_chars) for item in items])


def _check(item: BatchItem, max_chars: int) -> BatchItem:
    if item.error:
        return item
    if not item.question.strip():
        return BatchItem(item.id, item.question, item.extra, "the question is empty")
    if len(item.question) > max_chars:
        return BatchItem(item.id, item.question[:200], item.extra,
                         f"the question is {len(item.question)} characters, over the {max_chars} limit "
                         "(setting max_question_chars)")
    return item


def _read_csv(raw: str, path: Path) -> Iterator[BatchItem]:
    reader = csv.DictReader(raw.splitlines())
    if not reader.fieldnames or "question" not in reader.fieldnames:
        raise BatchError(f"{path}: CSV needs a 'question' column (found {reader.fieldnames})")
    for n, row in enumerate(reader, start=2):
        ident = (row.get("id") or "").strip() or f"row{n}"
        extra = {k: v for k, v in row.items() if k not in ("id", "question") and k is not None}
        yield BatchItem(ident, (row.get("question") or "").strip(), extra)


def _read_jsonl(raw: str) -> Iterator[BatchItem]:
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield BatchItem(f"line{n}", "", {}, f"line {n} is not valid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            yield BatchItem(f"line{n}", "", {}, f"line {n} is not a JSON object")
            continue
        question = obj.get("question")
        ident = str(obj["id"]) if obj.get("id") is not None else f"line{n}"
        extra = {k: v for k, v in obj.items() if k not in ("id", "question")}
        if not isinstance(question, str):
            yield BatchItem(ident, "", extra, f"line {n} has no 'question' string")
            continue
        yield BatchItem(ident, question.strip(), extra)


def _dedupe(items: list[BatchItem]) -> list[BatchItem]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item.id in seen:
            out.append(BatchItem(f"{item.id}#dup{len(out)}", item.question, item.extra,
                                 f"duplicate id {item.id!r} in the input"))
            continue
        seen.add(item.id)
        out.append(item)
    return out


def _repair_tail(path: Path) -> None:
    """Drop a partial last line left by a killed run, so appending continues on a clean line boundary."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)
        log.warning("%s: dropped an incomplete last row from an interrupted run", path)


def existing_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    _repair_tail(path)
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            return {row["id"] for row in csv.DictReader(fh) if row.get("id")}
    ids = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                ids.add(str(json.loads(line)["id"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return ids


def _csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh), [])


class RowWriter:
    """Appends one row at a time and flushes it to disk, so a kill loses at most the row being written."""

    def __init__(self, path: Path, *, append: bool):
        self.path = Path(path)
        self.csv = self.path.suffix.lower() == ".csv"
        new = not (append and self.path.exists() and self.path.stat().st_size > 0)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A resumed CSV keeps the columns it was started with (one written by an older version has fewer).
        columns = CSV_COLUMNS if new or not self.csv else _csv_header(self.path) or CSV_COLUMNS
        self.fh = open(self.path, "w" if new else "a", encoding="utf-8", newline="")  # noqa: SIM115
        self.writer = csv.DictWriter(self.fh, columns, extrasaction="ignore") if self.csv else None
        if self.writer and new:
            self.writer.writeheader()
            self._flush()

    def write(self, row: dict[str, Any]) -> None:
        if self.writer:
            citations = row.get("citations") or []
            self.writer.writerow({
                "id": row["id"], "question": row.get("question", ""), "answer": row.get("answer", ""),
                "abstained": row.get("abstained", ""), "abstain_kind": row.get("abstain_kind", ""),
                "abstain_reason": row.get("abstain_reason", ""),
                "cited_docs": "; ".join(dict.fromkeys(c["doc"] for c in citations)),
                "quotes": " | ".join(c["quote"] for c in citations), "error": row.get("error", ""),
                "provenance": json.dumps(row["provenance"], sort_keys=True) if row.get("provenance") else "",
            })
        else:
            self.fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._flush()

    def _flush(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


def answer_row(pipeline: RagPipeline, item: BatchItem, *, retrieve_only: bool,
               documents: tuple[str, ...] = ()) -> dict[str, Any]:
    """One output row: the ``rag ask --json`` object plus ``id`` and carried-through fields, or an error.
    ``documents`` limits retrieval to those document ids or globs."""
    base: dict[str, Any] = {"id": item.id, **item.extra}
    if item.error:
        return {**base, "question": item.question, "error": item.error}
    try:
        if retrieve_only:
            hits = pipeline.search(item.question, documents=documents)
            return {**base, "question": item.question,
                    "passages": [h.to_json(n) for n, h in enumerate(hits, start=1)]}
        return {**base, **pipeline.ask(item.question, documents=documents).to_json()}
    except RagError as exc:  # bad input (an empty or overlong question): one line in the log and the row
        log.warning("question %s: %s", item.id, exc)
        return {**base, "question": item.question, "error": user_message(exc)}
    except Exception as exc:  # a bug; one failing question must not stop a run of thousands
        log.exception("question %s failed", item.id)
        return {**base, "question": item.question, "error": f"{type(exc).__name__}: {exc}"}


_worker_pipeline: RagPipeline | None = None


def _init_worker(settings: Settings, workers: int) -> None:
    """A worker process's own pipeline; the cores are shared out so workers do not oversubscribe them."""
    global _worker_pipeline
    import torch

    share = max(1, (os.cpu_count() or 1) // max(workers, 1))
    torch.set_num_threads(share)
    if settings.n_threads == 0:
        settings = settings.replace(n_threads=share)
    _worker_pipeline = RagPipeline(settings, progress=False)


def _worker_row(job: tuple[BatchItem, bool, tuple[str, ...]]) -> dict[str, Any]:
    assert _worker_pipeline is not None, "worker not initialised"
    return answer_row(_worker_pipeline, job[0], retrieve_only=job[1], documents=job[2])


def run_batch(pipeline: RagPipeline, in_path: Path, out_path: Path, *, resume: bool = False,
              retrieve_only: bool = False, progress: bool = True, workers: int = 1,
              ray_address: str = "", documents: tuple[str, ...] = ()) -> BatchSummary:
    """Answer every question into ``out_path``, from the ``documents`` given (ids or globs; all by default).
    With ``workers`` > 1 (processes on this machine) or a ``ray_address``, questions are answered in parallel by
    workers with their own pipelines; rows are still written in input order, so the output is the serial run's."""
    out_path = Path(out_path)
    if out_path.suffix.lower() not in OUTPUT_FORMATS:
        raise BatchError(f"{out_path}: output must be .jsonl or .csv")
    items = read_questions(in_path, pipeline.settings.max_question_chars)
    summary = BatchSummary(total=len(items))
    done = existing_ids(out_path) if resume else set()
    todo = [i for i in items if i.id not in done]
    summary.skipped_existing = len(items) - len(todo)
    pipeline.ensure_index()
    pipeline.resolve_documents(documents)  # a filter that names nothing fails here, before any row is written
    writer = RowWriter(out_path, append=resume)
    executor = None
    try:
        if (workers > 1 or ray_address) and todo:
            executor = make_executor(workers, ray_address, initializer=_init_worker,
                                     initargs=(pipeline.settings, workers))
            rows = executor.map(_worker_row, [(item, retrieve_only, documents) for item in todo])
        else:
            rows = (answer_row(pipeline, item, retrieve_only=retrieve_only, documents=documents) for item in todo)
        for row in progress_bar(rows, "Answering" if not retrieve_only else "Retrieving", enabled=progress,
                                unit="q", total=len(todo)):
            writer.write(row)
            summary.written += 1
            summary.errors += "error" in row
            summary.abstained += bool(row.get("abstained"))
    finally:
        writer.close()
        if executor is not None:
            executor.close()
    return summary
