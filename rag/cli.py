"""Command line: ``rag index | search | ask | chat | prepare-model``. A thin front end over RagPipeline."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from eval.dataset import QUESTION_CASES
from rag.cli_args import EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, add_common, add_filter, add_generation
from rag.cli_service import SERVICE_COMMANDS, add_service_commands
from rag.console import console, err_console, stream_to_console
from rag.errors import DatasetError, RagError, user_message
from rag.pipeline import RagPipeline
from rag.settings import Settings, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Ask questions about your documents, offline, "
                                     "with answers cited to the exact passage.")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_document_commands(sub)
    _add_answer_commands(sub)
    add_service_commands(sub)
    return parser


def _add_document_commands(sub: argparse._SubParsersAction) -> None:
    """index, search (and docs below): the documents and retrieval."""
    p = sub.add_parser("index", help="index files and folders (incremental)")
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the bundled seeds)")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything")
    p.add_argument("--workers", dest="ingest_workers", type=int, metavar="N", help="processes that read files")
    p.add_argument("--ray", dest="ray_address", metavar="ADDRESS",
                   help="read and embed on a Ray cluster ('local' starts one here)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_common(p)

    p = sub.add_parser("search", help="retrieval only: the best passages for a query")
    p.add_argument("query")
    p.add_argument("--k", dest="top_k", type=int, metavar="N", help="number of passages")
    p.add_argument("--json", action="store_true")
    add_filter(p)
    add_common(p)


def _add_answer_commands(sub: argparse._SubParsersAction) -> None:
    """ask, chat, batch, eval: everything that runs the generator."""
    p = sub.add_parser("ask", help="answer one question with cited sources",
                       description="Examples:\n  rag ask \"Who is the interim director of children's services in "
                       "Sefton?\"\n  rag ask --doc '001_*' --json \"What rating did Ofsted give?\"",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_filter(p)
    add_common(p)
    add_generation(p)

    p = sub.add_parser("chat", help="multi-turn chat in the terminal")
    add_filter(p)
    add_common(p)
    add_generation(p)

    p = sub.add_parser("batch", help="answer a file of questions (.txt, .csv, .jsonl) into .jsonl or .csv")
    p.add_argument("input", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--resume", action="store_true", help="skip ids already in OUTPUT")
    p.add_argument("--retrieve-only", action="store_true", help="write retrieval results without generating")
    p.add_argument("--workers", dest="batch_workers", type=int, metavar="N",
                   help="answer in N processes, each with its own model (rows stay in input order)")
    p.add_argument("--ray", dest="ray_address", metavar="ADDRESS",
                   help="answer on a Ray cluster ('local' starts one here)")
    add_filter(p)
    add_common(p)
    add_generation(p)

    p = sub.add_parser("eval", help="score retrieval, answers, citations and abstention on a labelled set")
    p.add_argument("dataset", type=Path, nargs="?", help="JSONL question file or BEIR folder")
    p.add_argument("--limit", type=int, default=0, help="a fixed random sample of N questions")
    p.add_argument("--outside-sample", type=int, default=0, metavar="N",
                   help="leave out the questions of the --limit N report sample (for tuning runs)")
    p.add_argument("--retrieve-only", action="store_true", help="score retrieval only (no generation)")
    p.add_argument("--out", type=Path, help="report folder (default: eval-runs/NAME-TIMESTAMP)")
    p.add_argument("--docs", type=Path, help="documents folder for a JSONL dataset (default: the seeds)")
    p.add_argument("--split", default="", help="only questions of this split (tune or locked)")
    p.add_argument("--question-case", choices=QUESTION_CASES, default="as-typed",
                   help="ask every question as typed, or all in lower case or capitals (how much the answers "
                        "depend on capitals)")
    p.add_argument("--check", type=Path, metavar="THRESHOLDS", help="JSON of minimum totals; exit 1 if below")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="compare two runs")
    add_common(p)
    add_generation(p)


SETTING_FLAGS = ("index_dir", "top_k", "generator", "gguf_path", "openai_base_url", "openai_model", "hf_model_dir",
                 "max_new_tokens", "temperature", "ui_host", "ui_port", "ingest_workers", "batch_workers",
                 "ray_address")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name in SETTING_FLAGS}
    return load_settings(overrides, Path(args.config) if args.config else None)


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def cmd_index(pipeline: RagPipeline, args: argparse.Namespace) -> int:
    paths = args.paths or [pipeline.settings.seeds_dir]
    report = pipeline.index_paths(paths, rebuild=args.rebuild)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        if report.rebuilt_reason:
            console.print(f"[yellow]Rebuilt: {escape(report.rebuilt_reason)}[/]")
        console.print(f"Indexed into {pipeline.settings.index_dir}: {len(report.added)} added, "
                      f"{len(report.updated)} updated, {len(report.unchanged)} unchanged, {len(report.removed)} "
                      f"removed, {len(report.skipped)} skipped, {report.chunks_embedded} chunks embedded in "
                      f"{report.seconds:.1f}s.")
        for s in report.skipped:
            console.print(f"[red]skipped[/] {escape(s.path)}: {escape(s.reason)}", highlight=False, soft_wrap=True)
    return EXIT_SKIPPED if report.skipped else EXIT_OK


def cmd_search(pipeline: RagPipeline, args: argparse.Namespace) -> int:
    pipeline.ensure_index()
    hits = pipeline.search(args.query, args.top_k, documents=args.documents)
    if args.json:
        print(json.dumps({"query": args.query, "passages": [h.to_json(n, detail=True)
                                                             for n, h in enumerate(hits, start=1)]}, indent=2))
        return EXIT_OK
    if not hits:
        console.print("No matching passages.")
    for n, h in enumerate(hits, start=1):
        console.print(f"[bold cyan][{n}][/] {escape(h.chunk.doc_id)} — {escape(h.title)} "
                      f"[dim](score {h.score:.4f}, dense {h.dense_score or 0:.3f}, bm25 {h.bm25_score or 0:.2f})[/]")
        console.print("    " + escape(" ".join(h.chunk.text.split())[:400]))
    return EXIT_OK


def cmd_ask(pipeline: RagPipeline, args: argparse.Namespace) -> int:
    pipeline.ensure_index()
    if args.json:
        print(json.dumps(pipeline.ask(args.question, documents=args.documents).to_json(), indent=2,
                         ensure_ascii=False))
        return EXIT_OK
    answer = stream_to_console(pipeline, args.question, [], tuple(args.documents))
    return EXIT_OK if answer is not None else EXIT_ERROR


def cmd_chat(pipeline: RagPipeline, args: argparse.Namespace) -> int:
    pipeline.ensure_index()
    pipeline.resolve_documents(args.documents)  # a filter that names nothing fails now, not at every question
    console.print("[bold]Ask about your documents.[/] Empty line or Ctrl-D to quit; /reset clears the history.")
    history: list[tuple[str, str]] = []
    while True:
        try:
            question = console.input("[bold green]> [/]").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return EXIT_OK
        if not question:
            return EXIT_OK
        if question == "/reset":
            history.clear()
            continue
        try:
            answer = stream_to_console(pipeline, question, history, tuple(args.documents))
        except RagError as exc:
            err_console.print(f"[red]{escape(user_message(exc))}[/]")
            continue
        if answer is not None:
            history.append((answer.standalone_question or question, answer.text))


def cmd_batch(pipeline: RagPipeline, args: argparse.Namespace) -> int:
    from rag.batch import run_batch

    s = pipeline.settings
    summary = run_batch(pipeline, args.input, args.output, resume=args.resume, retrieve_only=args.retrieve_only,
                        progress=not args.quiet, workers=s.batch_workers, ray_address=s.ray_address,
                        documents=tuple(args.documents))
    console.print(f"{summary.written} rows written to {args.output} ({summary.skipped_existing} already there, "
                  f"{summary.errors} errors, {summary.abstained} abstained) of {summary.total} questions.")
    return EXIT_SKIPPED if summary.errors else EXIT_OK


def cmd_eval(pipeline: RagPipeline, args: argparse.Namespace) -> int:
    import time

    from eval.harness import run_eval
    from eval.report import compare
    from eval.summary import check_thresholds

    if args.compare:
        console.print(compare(*args.compare), markup=False, highlight=False)
        return EXIT_OK
    if args.dataset is None:
        raise DatasetError("give a DATASET (JSONL file or BEIR folder), or --compare A B")
    name = args.dataset.stem if args.dataset.is_file() else args.dataset.name
    out = args.out or Path("eval-runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    results = run_eval(pipeline.settings, args.dataset, limit=args.limit, outside_sample=args.outside_sample,
                       retrieve_only=args.retrieve_only,
                       out_dir=out, docs_dir=args.docs, split=args.split, base=pipeline,
                       progress=not args.quiet, question_case=args.question_case)
    table = Table("metric", "value")
    from eval.report import TOTAL_LABELS

    for key, label in TOTAL_LABELS:
        value = results["totals"].get(key)
        if value is not None:
            table.add_row(label, f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(f"{len(results['failures'])} failures. Reports: {out}/report.md, {out}/report.html, "
                  f"{out}/results.json")
    if args.check:
        problems = check_thresholds(results, json.loads(args.check.read_text()))
        for p in problems:
            err_console.print(f"[bold red]regression:[/] {escape(p)}")
        if problems:
            return EXIT_ERROR
        console.print(f"All totals meet {args.check}.")
    return EXIT_OK


COMMANDS = {"batch": cmd_batch, "eval": cmd_eval, "index": cmd_index, "search": cmd_search, "ask": cmd_ask,
            "chat": cmd_chat, **SERVICE_COMMANDS}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("bm25s", "sentence_transformers", "transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.INFO if args.verbose else logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        settings = _settings(args)
        pipeline = RagPipeline(settings, progress=_progress(args))
        return COMMANDS[args.command](pipeline, args)
    except RagError as exc:  # bad input or setup: one clear line; anything else is a bug and keeps its traceback
        message = user_message(exc)
        # soft_wrap: one line even when stderr is a pipe or a log file (rich would wrap at 80 columns).
        err_console.print(f"[bold red]error:[/] {escape(str(message))}", soft_wrap=True, highlight=False)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
