"""OpenAI-compatible HTTP backend: Ollama, vLLM, llama.cpp server or any /v1/chat/completions endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx

from rag.generation.base import ChatMessage, Generation, GenerationParams, GeneratorError


class OpenAICompatibleGenerator:
    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self._client: httpx.Client | None = None

    def describe(self) -> dict[str, object]:
        return {"backend": "openai", "model": self.model, "base_url": self.base_url}

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout)
        return self._client

    def _body(self, messages: list[ChatMessage], params: GenerationParams, stream: bool) -> dict:
        body: dict = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "seed": params.seed,
            "stream": stream,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        return body

    def _error(self, exc: Exception) -> GeneratorError:
        return GeneratorError(f"OpenAI-compatible endpoint {self.base_url} failed: {exc}")

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> Generation:
        started = time.perf_counter()
        try:
            response = self.client.post("/chat/completions", json=self._body(messages, params, stream=False))
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise self._error(exc) from None
        usage = data.get("usage") or {}
        try:
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise GeneratorError(f"unexpected response from {self.base_url}: {str(data)[:200]}") from exc
        return Generation(text=text, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                          completion_tokens=int(usage.get("completion_tokens") or 0),
                          seconds=time.perf_counter() - started)

    def stream(self, messages: list[ChatMessage], params: GenerationParams) -> Iterator[str]:
        try:
            with self.client.stream("POST", "/chat/completions",
                                    json=self._body(messages, params, stream=True)) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    try:
                        event = json.loads(payload)
                    except ValueError:
                        continue
                    choices = event.get("choices") or []
                    piece = (choices[0].get("delta") or {}).get("content") if choices else None
                    if piece:
                        yield piece
        except httpx.HTTPError as exc:
            raise self._error(exc) from None
