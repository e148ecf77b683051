"""Memory bandwidth of this machine (torch sum over a 1 GiB float32 tensor, 1 and all threads, best of 5), and
what it allows a decoder: every generated token reads all of the model's weights once, so
tokens/s <= bandwidth / model bytes.
Usage: .venv/bin/python bench/memory_bandwidth.py [--gguf PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", type=Path, default=Path.home() / ".cache/rag-seeds/models/"
                    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    args = ap.parse_args()
    a = torch.ones(2**28, dtype=torch.float32)
    load = load_average()
    result: dict = {"load_avg": load}
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            a.sum()
            times.append(time.perf_counter() - t)
        result[f"read_gb_s_{threads}_threads"] = round(a.numel() * 4 / min(times) / 1e9, 1)
    best = max(v for k, v in result.items() if k.startswith("read_gb_s"))
    model_bytes = args.gguf.stat().st_size if args.gguf.is_file() else 0
    result["model_file_gb"] = round(model_bytes / 1e9, 3)
    result["decode_tokens_per_s_ceiling"] = round(best * 1e9 / model_bytes, 1) if model_bytes else None
    print(result)
    write_result("memory_bandwidth", result)


if __name__ == "__main__":
    main()
