"""Fakes for fast tests of pipeline logic (never for a reported figure): a generator that replies from a script."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from rag.generation.base import ChatMessage, Generation, GenerationParams


class ScriptedGenerator:
    """Replies with ``reply(messages)``, and records every prompt it was given (``prompts``)."""

    def __init__(self, reply: Callable[[list[ChatMessage]], str]):
        self.reply = reply
        self.prompts: list[list[ChatMessage]] = []

    def describe(self) -> dict[str, object]:
        return {"backend": "scripted", "model": "scripted"}

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> Generation:
        self.prompts.append(messages)
        text = self.reply(messages)
        return Generation(text=text, prompt_tokens=sum(len(m.content.split()) for m in messages),
                          completion_tokens=len(text.split()), seconds=0.0)

    def stream(self, messages: list[ChatMessage], params: GenerationParams) -> Iterator[str]:
        text = self.generate(messages, params).text
        yield from (piece + " " for piece in text.split(" ")[:-1])
        yield text.split(" ")[-1]
