"""Arguments that several ``rag`` commands share, and the exit codes."""

from __future__ import annotations

import argparse

from rag.settings import GENERATOR_CHOICES

EXIT_OK, EXIT_ERROR, EXIT_SKIPPED = 0, 1, 3


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", dest="index_dir", metavar="DIR", help="index folder (default: settings)")
    p.add_argument("--config", metavar="FILE", help="TOML settings file (default: $RAG_CONFIG, ./rag.toml)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_filter(p: argparse.ArgumentParser) -> None:
    p.add_argument("--doc", dest="documents", action="append", default=[], metavar="PATTERN",
                   help="only this document: an id as `rag docs` lists it, or a glob such as 'reports/2019/*' "
                        "(repeatable; retrieval searches only these documents)")


def add_generation(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", dest="top_k", type=int, metavar="N", help="passages to retrieve")
    p.add_argument("--generator", choices=GENERATOR_CHOICES, help="generator backend")
    p.add_argument("--gguf", dest="gguf_path", metavar="FILE", help="GGUF model file for llama_cpp")
    p.add_argument("--openai-base-url", metavar="URL", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")
    p.add_argument("--openai-model", metavar="NAME", help="model name at the endpoint")
    p.add_argument("--hf-model", dest="hf_model_dir", metavar="DIR", help="local Hugging Face model folder")
    p.add_argument("--max-new-tokens", type=int, metavar="N")
    p.add_argument("--temperature", type=float, help="0 (default) is greedy and reproducible")
