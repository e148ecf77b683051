"""Fakes for fast tests of pipeline logic (never for a reported figure): a generator that replies from a script and
an embedder that hashes words (deterministic, no model, microseconds)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from rag.generation.base import ChatMessage, Generation, GenerationParams
from rag.pipeline import RagPipeline
from rag.settings import load_settings


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


class HashingEmbedder:
    """Bag of hashed words and word pairs, L2-normalised: texts sharing words are close, as with a real embedder,
    so retrieval-shaped logic (indexing, snapshots, removal, fusion) can be tested without loading a model."""

    def __init__(self, dimension: int = 64):
        self._dimension = dimension
        self.calls = 0  # texts encoded so far (tests check that unchanged documents are not re-embedded)

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def fingerprint(self) -> str:
        return f"fake-hashing-{self._dimension}"

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        self.calls += len(texts)
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            for token in words + [" ".join(pair) for pair in zip(words, words[1:], strict=False)]:
                digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self._dimension] += 1.0 if digest[4] & 1 else -1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else np.eye(1, self._dimension, dtype=np.float32)[0]
        return out


def story_folder(tmp_path: Path, name: str, text: str) -> Path:
    """A documents folder with one story (``name``.txt: a heading, then ``text``) and an unrelated document, for
    pipeline tests with a scripted reader."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / f"{name}.txt").write_text(f"{name.title()}\n\n{text}\n")
    (folder / "other.txt").write_text("Other\n\nA bakery in Trondheim sells bread.\n")
    return folder


def scripted_pipeline(index_dir: Path, docs_dir: Path, embedder, reply: Callable[[list[ChatMessage]], str],
                      **settings: object) -> RagPipeline:
    """A pipeline over ``docs_dir`` (indexed into ``index_dir``) whose reader replies ``reply(messages)``; the
    reader is ``pipeline.generator`` (its ``prompts`` record what it was asked)."""
    pipeline = RagPipeline(load_settings({"index_dir": index_dir, "seeds_dir": docs_dir, **settings}),
                           embedder=embedder, generator=ScriptedGenerator(reply), progress=False)
    pipeline.ensure_index()
    return pipeline
