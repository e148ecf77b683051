"""llama.cpp backend (default): a local GGUF model run by llama-cpp-python on the CPU."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from rag.generation.base import ChatMessage, Generation, GenerationParams, GeneratorError

log = logging.getLogger(__name__)


class LlamaCppGenerator:
    def __init__(self, model_path: Path, *, n_ctx: int = 4096, n_threads: int = 0, seed: int = 0,
                 prompt_lookup_tokens: int = 0):
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise GeneratorError(f"GGUF model not found: {self.model_path}")
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.seed = seed
        self.prompt_lookup_tokens = prompt_lookup_tokens
        self._llm = None
        # llama.cpp contexts are not thread-safe; one request at a time per loaded model.
        self._lock = threading.RLock()

    def describe(self) -> dict[str, object]:
        return {"backend": "llama_cpp", "model": self.model_path.name, "path": str(self.model_path),
                "n_ctx": self.n_ctx, "n_threads": self.n_threads,
                **({"prompt_lookup_tokens": self.prompt_lookup_tokens} if self.prompt_lookup_tokens else {})}

    @property
    def llm(self):
        with self._lock:
            if self._llm is None:
                try:
                    from llama_cpp import Llama
                except ImportError as exc:
                    raise GeneratorError("the llama_cpp backend needs llama-cpp-python") from exc
                started = time.perf_counter()
                draft = None
                if self.prompt_lookup_tokens:
                    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

                    draft = LlamaPromptLookupDecoding(num_pred_tokens=self.prompt_lookup_tokens)
                self._llm = Llama(model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                                  seed=self.seed, verbose=False, draft_model=draft,
                                  # verifying draft tokens needs the logits of every position
                                  logits_all=draft is not None)
                log.info("loaded %s in %.1fs", self.model_path.name, time.perf_counter() - started)
            return self._llm

    def completion_kwargs(self, messages: list[ChatMessage], params: GenerationParams) -> dict:
        """The llama-cpp-python `create_chat_completion` arguments for one reply (bench/token_confidence.py adds an
        observer to them)."""
        kwargs = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "seed": params.seed,
            "stop": list(params.stop) or None,
        }
        if params.temperature == 0.0:
            # Greedy: top_k=1 makes the sampler deterministic regardless of other sampling settings.
            kwargs.update(top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0)
        return kwargs

    def _perf(self, reset: bool = False) -> dict[str, float] | None:
        """llama.cpp's own counters (prompt tokens evaluated, generated tokens, and their times); None if the
        binding does not expose them."""
        try:
            import llama_cpp

            ctx = self._llm._ctx.ctx  # internal handle; guarded because it is not public API
            if reset:
                llama_cpp.llama_perf_context_reset(ctx)
                return None
            data = llama_cpp.llama_perf_context(ctx)
            return {"n_p_eval": data.n_p_eval, "t_p_eval": data.t_p_eval_ms / 1000,
                    "n_eval": data.n_eval, "t_eval": data.t_eval_ms / 1000}
        except (AttributeError, TypeError, OSError):
            return None

    def _fresh(self):
        """The model with its KV cache emptied. llama-cpp-python keeps the tokens of the last prompt and evaluates
        only the part of the next one past their common prefix; the rest is then evaluated in other batches, whose
        sums round differently, and a greedy reply can flip with what was asked before (a seed question answered
        "Sheffield" after another question and "Southport Visiter" alone). Evaluated from the start, the same
        prompt gets the same reply in any order (docs/decisions.md, "A reply does not depend on the question
        before it"); the shared prefix is only the system prompt, a few dozen tokens."""
        llm = self.llm
        llm.reset()
        return llm

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> Generation:
        with self._lock:
            llm = self._fresh()
            self._perf(reset=True)
            started = time.perf_counter()
            out = llm.create_chat_completion(**self.completion_kwargs(messages, params))
            seconds = time.perf_counter() - started
            perf = self._perf()
        usage = out.get("usage") or {}
        return Generation(
            text=out["choices"][0]["message"]["content"] or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=seconds,
            prompt_eval_tokens=perf["n_p_eval"] if perf else None,
            prompt_eval_seconds=perf["t_p_eval"] if perf else None,
            eval_tokens=perf["n_eval"] if perf else None,
            eval_seconds=perf["t_eval"] if perf else None,
        )

    def stream(self, messages: list[ChatMessage], params: GenerationParams) -> Iterator[str]:
        with self._lock:
            for chunk in self._fresh().create_chat_completion(stream=True, **self.completion_kwargs(messages, params)):
                delta = chunk["choices"][0].get("delta", {})
                piece = delta.get("content")
                if piece:
                    yield piece

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False))
