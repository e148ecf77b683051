"""The generator interface. Every implementation passes tests/test_generator_conformance.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rag.errors import GeneratorError as GeneratorError  # re-exported: backends import it from here


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 128
    temperature: float = 0.0  # 0 = greedy, so answers reproduce
    seed: int = 0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    first_token_seconds: float | None = None
    # Backend counters where available (llama.cpp): tokens actually evaluated and the time they took.
    prompt_eval_tokens: int | None = None
    prompt_eval_seconds: float | None = None
    eval_tokens: int | None = None
    eval_seconds: float | None = None


@runtime_checkable
class Generator(Protocol):
    """A chat model. ``stream`` yields text pieces; ``generate`` returns the whole completion."""

    def describe(self) -> dict[str, object]:
        """Backend, model name/path and settings, for the answer's ``model`` field."""

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> Generation: ...

    def stream(self, messages: list[ChatMessage], params: GenerationParams) -> Iterator[str]: ...

