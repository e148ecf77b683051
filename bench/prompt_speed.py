"""Time to first token of the default model against llama.cpp's prompt-processing knobs.

The answer prompt for a seed question (4 passages, ~630 tokens) is evaluated from an empty KV cache with each
setting: batch size (n_batch = n_ubatch), flash attention, threads; first token = prompt processing + one decode
step. Also: the same prompt with 2 and 3 passages (the only other way to shorten it), to show how TTFT scales
with prompt length, and the prompt rate against the machine's compute peak.
Usage: .venv/bin/python bench/prompt_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, write_result  # noqa: E402

from rag.generation.model_assets import ensure_default_gguf  # noqa: E402
from rag.pipeline import RagPipeline  # noqa: E402
from rag.prompts import answer_messages  # noqa: E402
from rag.settings import PROJECT_ROOT, load_settings  # noqa: E402

QUESTION = "How many cases did Sheffield council examine after the Baby P case?"


def first_token_seconds(llm, messages: list[dict], repeats: int) -> tuple[float, int]:
    times, tokens = [], 0
    for _ in range(repeats):
        llm.reset()  # empty KV cache: nothing of the prompt is reused
        started = time.perf_counter()
        for _chunk in llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0, top_k=1,
                                                 stream=True):
            break
        times.append(time.perf_counter() - started)
        tokens = llm.n_tokens
    return statistics.median(times), tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from llama_cpp import Llama

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"index_dir": Path(tmp) / "index", "seeds_dir": PROJECT_ROOT / "seeds"})
        pipeline = RagPipeline(settings, progress=False)
        pipeline.ensure_index()
        hits = pipeline.search(QUESTION, settings.context_k)
    model = ensure_default_gguf(settings.model_cache_dir, progress=False)
    prompts = {n: [{"role": m.role, "content": m.content} for m in answer_messages(QUESTION, hits[:n])]
               for n in (2, 3, 4)}
    variants = [
        ("default (n_batch 512, 2 threads)", {}),
        ("n_batch 1024", {"n_batch": 1024, "n_ubatch": 1024}),
        ("n_batch 128", {"n_batch": 128, "n_ubatch": 128}),
        ("flash attention", {"flash_attn": True}),
        ("1 thread", {"n_threads": 1, "n_threads_batch": 1}),
    ]
    rows = []
    for name, kwargs in variants:
        llm = Llama(model_path=str(model), n_ctx=4096, seed=0, verbose=False, **kwargs)
        seconds, tokens = first_token_seconds(llm, prompts[4], args.repeats)
        rows.append({"variant": name, "passages": 4, "prompt_tokens": tokens, "first_token_s": round(seconds, 3),
                     "prompt_tok_per_s": round(tokens / seconds, 1), "load": load_average()})
        print(rows[-1], flush=True)
        if not kwargs:
            for n in (2, 3):
                seconds, tokens = first_token_seconds(llm, prompts[n], args.repeats)
                rows.append({"variant": name, "passages": n, "prompt_tokens": tokens,
                             "first_token_s": round(seconds, 3), "prompt_tok_per_s": round(tokens / seconds, 1),
                             "load": load_average()})
                print(rows[-1], flush=True)
        del llm
    write_result("prompt_speed", {"model": model.name, "rows": rows})


if __name__ == "__main__":
    main()
