"""transformers backend: a local Hugging Face model folder (config, tokenizer with a chat template, weights).
Loaded strictly from disk; nothing is fetched."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from rag.generation.base import ChatMessage, Generation, GenerationParams, GeneratorError


class TransformersGenerator:
    def __init__(self, model_dir: Path):
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise GeneratorError(f"{self.model_dir} is not a Hugging Face model folder (no config.json)")
        self._model = None
        self._tokenizer = None
        self._lock = threading.RLock()

    def describe(self) -> dict[str, object]:
        return {"backend": "transformers", "model": self.model_dir.name, "path": str(self.model_dir)}

    def _load(self):
        with self._lock:
            if self._model is None:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
                self._model = AutoModelForCausalLM.from_pretrained(str(self.model_dir), local_files_only=True)
                self._model.eval()
            return self._model, self._tokenizer

    def _inputs(self, messages: list[ChatMessage]):
        model, tokenizer = self._load()
        chat = [{"role": m.role, "content": m.content} for m in messages]
        if not getattr(tokenizer, "chat_template", None):
            raise GeneratorError(f"tokenizer in {self.model_dir} has no chat template")
        encoded = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                                return_dict=True)
        # Only what a causal LM's generate() accepts (BERT-style tokenizers also return token_type_ids).
        encoded = {k: encoded[k] for k in ("input_ids", "attention_mask") if k in encoded}
        return model, tokenizer, encoded

    def _gen_kwargs(self, params: GenerationParams, tokenizer) -> dict:
        kwargs: dict = {"max_new_tokens": params.max_tokens, "pad_token_id": tokenizer.pad_token_id
                        if tokenizer.pad_token_id is not None else tokenizer.eos_token_id}
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature)
        else:
            kwargs.update(do_sample=False)
        if params.stop:
            kwargs["stop_strings"] = list(params.stop)
            kwargs["tokenizer"] = tokenizer
        return kwargs

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> Generation:
        import torch

        started = time.perf_counter()
        with self._lock:
            model, tokenizer, encoded = self._inputs(messages)
            if params.temperature > 0:
                torch.manual_seed(params.seed)
            with torch.no_grad():
                out = model.generate(**encoded, **self._gen_kwargs(params, tokenizer))
        prompt_len = encoded["input_ids"].shape[1]
        new_tokens = out[0][prompt_len:]
        return Generation(text=tokenizer.decode(new_tokens, skip_special_tokens=True),
                          prompt_tokens=int(prompt_len), completion_tokens=int(len(new_tokens)),
                          seconds=time.perf_counter() - started)

    def stream(self, messages: list[ChatMessage], params: GenerationParams) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        with self._lock:
            model, tokenizer, encoded = self._inputs(messages)
            streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
            kwargs = {**encoded, **self._gen_kwargs(params, tokenizer), "streamer": streamer}
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    with torch.no_grad():
                        model.generate(**kwargs)
                except BaseException as exc:  # surfaced to the caller below
                    errors.append(exc)
                    streamer.end()

            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            for piece in streamer:
                if piece:
                    yield piece
            thread.join()
            if errors:
                raise GeneratorError(f"generation failed: {errors[0]}")
