"""Does a cited answer actually answer the question? Abstention decided in code, after generation.

The 1.5B model cannot both answer and abstain reliably from one prompt (asked to reply "not in documents"
when unsure, it declined on a quarter of answerable seed questions), so it is asked only to answer, and the
checks below turn a non-answer into an abstention. Each check targets a failure seen on the tuning split of
``eval/datasets/seeds.jsonl`` (docs/decisions.md):

- the model declined anyway ("not mentioned", ...);
- the reply only restates the question ("A new director was appointed in January.");
- the question asks for a name outright and the reply has none, or for a number and the reply has none;
- the only number in the reply is a section label in the source ("6.7 Jackie Drayton gave thanks ...").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.citations import numbers, strip_markers, terms
from rag.prompts import is_decline
from rag.types import Citation

# Only questions that ask for a name outright: "who" and "which committee" are often answered with a role or a
# common noun ("the head of children's services", "the scrutiny committee").
_ASKS_NAME = re.compile(r"\bname\b|\bcalled\b", re.IGNORECASE)
_ASKS_NUMBER = re.compile(r"\bhow (many|much|long|old)\b|\bwhat (number|percentage|proportion)\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"\b[A-Z][a-zA-Z'’-]+")
_SECTION_LABEL = re.compile(r"(?m)^\s*(\d+(?:\.\d+)+)\s")


@dataclass(frozen=True)
class Verdict:
    answers: bool
    reason: str | None = None


class AnswerCheck:
    def judge(self, question: str, raw: str, answer_text: str, citations: Sequence[Citation],
              sources: Sequence[str]) -> Verdict:
        """``raw`` is the model's reply, ``answer_text`` the supported, cited part of it, ``sources`` the texts
        of the passages the citations point into."""
        answer_text = strip_markers(answer_text)
        if is_decline(raw):
            return Verdict(False, "the model found no answer in the passages")
        if not citations:
            return Verdict(False, "no sentence of the generated answer is supported by the passages")
        new_terms = terms(answer_text) - terms(question)
        if not new_terms:
            return Verdict(False, "the answer only restates the question")
        if _ASKS_NAME.search(question) and not _names(answer_text) - _names(question):
            return Verdict(False, "the question asks for a name and the answer gives none")
        answer_numbers = numbers(answer_text)
        if _ASKS_NUMBER.search(question) and not answer_numbers:
            return Verdict(False, "the question asks for a number and the answer gives none")
        labels = {m.group(1) for text in sources for m in _SECTION_LABEL.finditer(text)}
        if answer_numbers and answer_numbers <= labels and not _used_as_quantity(answer_numbers, sources):
            return Verdict(False, "the answer's number is a section label in the document, not a quantity")
        return Verdict(True)


def _names(text: str) -> set[str]:
    """Capitalised words other than the first of each sentence (a cheap proper-noun detector)."""
    found = set()
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        words = _CAPITALISED.findall(sentence)
        if words and sentence.startswith(words[0]):
            first = words[0]
            words = words[1:] if first.lower() in _SENTENCE_STARTERS else words
        found.update(w.lower().rstrip("'’s") for w in words)
    return found


_SENTENCE_STARTERS = {"the", "a", "an", "it", "he", "she", "they", "this", "that", "in", "on", "at", "by", "over",
                      "under", "after", "before", "during", "there", "its", "their", "his", "her"}


def _used_as_quantity(wanted: set[str], sources: Sequence[str]) -> bool:
    """A number that also appears in running text (not only at the start of a numbered paragraph)."""
    for text in sources:
        for line in text.splitlines():
            label = _SECTION_LABEL.match(line + " ")
            body = line[label.end():] if label else line
            if wanted & numbers(body):
                return True
    return False
