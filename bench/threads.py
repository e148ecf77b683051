"""Threads for the default model (issue 15): llama.cpp takes one thread count for prompt processing
(n_threads_batch) and one for generation (n_threads). Each combination of 1 and 2 is timed on the answer prompt
of a seed question (4 passages, ~630 tokens, empty KV cache) and on 64 greedy generated tokens; then the default
combination again under OpenMP environment settings (each in its own process, since OpenMP reads them at start).
Run on an idle machine, with no other model job: two llama.cpp processes on 2 cores slow each other 3-5x.
Usage: .venv/bin/python bench/threads.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, write_result  # noqa: E402

QUESTION = "How many cases did Sheffield council examine after the Baby P case?"
COMBOS = [(2, 2), (1, 1), (1, 2), (2, 1)]  # (n_threads for generation, n_threads_batch for the prompt)
OMP_VARIANTS = [{}, {"OMP_WAIT_POLICY": "PASSIVE"}, {"OMP_WAIT_POLICY": "ACTIVE"}, {"OMP_PROC_BIND": "TRUE"}]


def prompt_messages() -> list[dict]:
    from rag.pipeline import RagPipeline
    from rag.prompts import answer_messages
    from rag.settings import PROJECT_ROOT, load_settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"index_dir": Path(tmp) / "index", "seeds_dir": PROJECT_ROOT / "seeds"})
        pipeline = RagPipeline(settings, progress=False)
        pipeline.ensure_index()
        hits = pipeline.search(QUESTION, settings.context_k)
    return [{"role": m.role, "content": m.content} for m in answer_messages(QUESTION, hits)]


def time_one(llm, messages: list[dict], repeats: int) -> dict:
    prompt_s, gen_rates, tokens = [], [], 0
    for _ in range(repeats):
        llm.reset()  # empty KV cache: the whole prompt is processed each time
        started = time.perf_counter()
        first = None
        pieces = 0
        for _chunk in llm.create_chat_completion(messages=messages, max_tokens=64, temperature=0.0, top_k=1,
                                                 stream=True):
            if first is None:
                first = time.perf_counter()
                tokens = llm.n_tokens
            pieces += 1
        prompt_s.append(first - started)
        if pieces > 1:
            gen_rates.append((pieces - 1) / (time.perf_counter() - first))
    seconds = statistics.median(prompt_s)
    return {"prompt_tokens": tokens, "first_token_s": round(seconds, 3),
            "prompt_tok_per_s": round(tokens / seconds, 1),
            "gen_tok_per_s": round(statistics.median(gen_rates), 1) if gen_rates else None}


def run_combos(repeats: int, combos: list[tuple[int, int]]) -> list[dict]:
    from llama_cpp import Llama

    from rag.generation.model_assets import ensure_default_gguf
    from rag.settings import load_settings

    model = ensure_default_gguf(load_settings().model_cache_dir, progress=False)
    messages = prompt_messages()
    rows = []
    for gen_threads, batch_threads in combos:
        llm = Llama(model_path=str(model), n_ctx=4096, seed=0, verbose=False, n_threads=gen_threads,
                    n_threads_batch=batch_threads)
        time_one(llm, messages, 1)  # warm-up: page the weights in
        row = {"n_threads": gen_threads, "n_threads_batch": batch_threads, **time_one(llm, messages, repeats),
               "load": load_average()}
        print(json.dumps(row), flush=True)
        rows.append(row)
        del llm
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", action="store_true", help="time the default combination only (OpenMP runs)")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_combos(args.repeats, [(2, 2)])[0]))
        return
    rows = run_combos(args.repeats, COMBOS)
    omp = []
    for env in OMP_VARIANTS:
        out = subprocess.run([sys.executable, __file__, "--child", "--repeats", str(args.repeats)], check=True,
                             capture_output=True, text=True, env={**os.environ, **env})
        omp.append({"env": env or "default", **json.loads(out.stdout.strip().splitlines()[-1])})
        print(omp[-1], flush=True)
    print(write_result("threads", {"combos": rows, "openmp": omp,
                                   "note": "idle machine, one job; medians of the repeats after one warm-up"}))


if __name__ == "__main__":
    main()
