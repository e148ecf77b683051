"""Follow-up questions: the standalone rewrite that retrieval searches with, checked against the conversation."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from rag.generation import GenerationParams, Generator
from rag.prompts import rewrite_messages
from rag.question import invented_terms, topic_of

log = logging.getLogger(__name__)


def standalone_question(generator: Generator, question: str, history: Sequence[tuple[str, str]], *,
                        check: bool = True, seed: int = 0, timings: dict[str, float] | None = None) -> str:
    """Turn a follow-up into a standalone question using the conversation so far. With ``check``, a rewrite that
    brings in a name, year or number the conversation never mentioned (a council swapped for another, "the
    inspection before that" turned into a year) is asked for once more, told to use only the conversation's
    names, and failing that the follow-up is asked with the previous question beside it."""
    if not history:
        return question
    text = _rewrite_once(generator, question, history, strict=False, seed=seed, timings=timings)
    if not check:
        return text or question
    invented = invented_terms(text, question, history)
    if not invented:
        return text or question
    log.info("rewrite %r brings in %s, not in the conversation: asking again", text, ", ".join(invented))
    text = _rewrite_once(generator, question, history, strict=True, seed=seed, timings=timings)
    if text and not invented_terms(text, question, history):
        return text
    return f"{question} ({topic_of(history[-1][0])})"


def _rewrite_once(generator: Generator, question: str, history: Sequence[tuple[str, str]], *, strict: bool,
                  seed: int, timings: dict[str, float] | None) -> str:
    params = GenerationParams(max_tokens=64, temperature=0.0, seed=seed, stop=("\n",))
    gen = generator.generate(rewrite_messages(question, history, strict=strict), params)
    if timings is not None:
        timings["rewrite_tokens"] = timings.get("rewrite_tokens", 0) + gen.prompt_tokens + gen.completion_tokens
    return gen.text.strip().strip('"').strip()
