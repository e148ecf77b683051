"""A reply sentence that restates the question, cut to what it adds ("concise" in ``answer_checks``).

The 1.5B reader often answers in a sentence that repeats the question around the answer: "Russell joins a
Buddhist collective [1]." for "Who joins a Buddhist collective?", "The band signed by Dualtone Records ... is The
Greencards [1]." for "What is the name of the band signed by Dualtone Records ...?". The answer is the part the
question does not give. This module keeps that part and drops the restatement, after every check has run on the
whole reply (the checks and the citations see the model's sentence; only the text shown changes). Measured on
recorded answers: docs/decisions.md, "A reply that restates the question, cut to what it adds".

Only questions that ask for a thing (what/which/who/whom/whose/where/when, not "what did X do", not how or why),
and only when the cut is clean:

- every word the sentence adds to the question lies in one run of at most ``MAX_WORDS`` words;
- at least ``MIN_RESTATED`` content words outside that run restate the question;
- the cut does not split a capitalised name ("Cabinet Member for Children and Families" stays whole);
- the run starts and ends on a word that can bound a noun phrase: a capitalised word or a number at either
  edge, or at the start an article or possessive, or a function word just before ("is", "by", "of" ...), so
  that "Hans Muller thought that survivor guilt would prevent ..." is left whole (the cut would start on a verb).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rag.citations import MARKER_PATTERN, terms
from rag.text import NUMBER_WORDS

MAX_WORDS = 8
MIN_RESTATED = 2

_ASKS_FOR_A_THING = re.compile(
    r"^\W*(?:(?:in|from|to|for|at|on|by|with|of|during|under|after|before)\s+)?"
    r"(?:what|which|who|whom|whose|where|when)\b", re.IGNORECASE)
# "What does X do ...", "What happened ...": the answer is an action, a clause, not a thing.
_ASKS_FOR_AN_ACTION = re.compile(
    r"^\W*what\s+(?:does|do|did|is|was|are|were|will|would|can|could|has|had|have)\b.*\b(?:do|doing|done)\b"
    r"|^\W*what\s+(?:happens|happened|happen)\b", re.IGNORECASE)
# One cited sentence of an answer text: its words, its citation markers, its closing punctuation.
_CITED_SENTENCE = re.compile(rf"(\S.*?)((?:{MARKER_PATTERN})+)([.!?;]*)(?=\s|$)")
_DETERMINERS = frozenset({"the", "a", "an", "his", "her", "its", "their", "this", "these", "those"})
_ARTICLES = frozenset({"the", "a", "an"})
_NUMBERS = frozenset(NUMBER_WORDS) | {str(n) for n in range(100)}
_TITLE_JOINS = frozenset({"for", "of", "and", "the", "de", "&"})
_SUBJECT_PRONOUNS = frozenset({"he", "she", "they", "it", "we"})
_QUOTES = "\"'\u201c\u201d\u2018\u2019"


def asks_for_a_thing(question: str) -> bool:
    return bool(_ASKS_FOR_A_THING.search(question)) and not _ASKS_FOR_AN_ACTION.search(question)


def _capitalised(word: str) -> bool:
    word = word.lstrip(_QUOTES + "(")
    return word[:1].isupper()


def _bounds_a_phrase(word: str) -> bool:
    word = word.strip(",;:" + _QUOTES + "()")
    return _capitalised(word) or word[:1].isdigit() or word[:1] in "$\u00a3\u20ac" or word.lower() in _NUMBERS


def _name_word(words: list[str], kinds: list[str], i: int) -> bool:
    """A capitalised word that can be part of a name: not the sentence's capitalised first function word."""
    return 0 <= i < len(words) and _capitalised(words[i]) and (i > 0 or kinds[0] != "function")


def _name_edge(words: list[str], kinds: list[str], k: int, step: int) -> int:
    """Where the name holding ``words[k]`` ends in the direction ``step``: capitalised words, with up to two of
    "of", "for", "the", "and" ... inside ("Committee for the Scientific Survey", "In Utero", "S. Allen Chambers").
    A capitalised first word of the sentence counts only if it is not a function word ("The", "In")."""
    if not (_capitalised(words[k]) or words[k][:1].isdigit()):
        return k
    while True:
        nxt = k + step
        joins = 0
        while joins < 2 and 0 <= nxt < len(words) and words[nxt].lower() in _TITLE_JOINS \
                and not _name_word(words, kinds, nxt):
            nxt += step
            joins += 1
        if not _name_word(words, kinds, nxt):
            return k
        k = nxt


def concise_sentence(sentence: str, question_terms: set[str], shape: Callable[[str], str] | None = None) -> str:
    """The part of one sentence (no citation markers) that the question does not give, or the sentence unchanged
    when the cut is not clean (see the module docstring). ``shape`` reshapes a part that was cut (a bare name to
    the part of it the question asks for, rag/name_parts.py)."""
    body = sentence.strip()
    end = body[-1] if body[-1:] in ".!?" else ""
    words = body.rstrip(".!?").split()
    # Each word: "new" (a content word the question lacks), "asked" (the question's own) or "function".
    kinds = []
    for word in words:
        found = terms(word)
        kinds.append("function" if not found else "asked" if found <= question_terms else "new")
    new = [k for k, kind in enumerate(kinds) if kind == "new"]
    if not new:
        return sentence
    first, last = _name_edge(words, kinds, new[0], -1), _name_edge(words, kinds, new[-1], 1)
    if first > 0 and words[first - 1].lower() in _ARTICLES:
        first -= 1
    # A side is cut only if it restates the question; a side with fewer of its words is part of the answer
    # ("Viking metal" for "... subgenre of black metal", "4 miles" for "... length in miles", "Kill 'Em All").
    if sum(kind == "asked" for kind in kinds[last + 1:]) < MIN_RESTATED:
        last = len(words) - 1
    if sum(kind == "asked" for kind in kinds[:first]) < MIN_RESTATED:
        first = 0
    kept = words[first:last + 1]
    if len(kept) == len(words) or len(kept) > MAX_WORDS:
        return sentence
    if _name_word(words, kinds, first - 1) or _name_word(words, kinds, last + 1):  # the cut would split a name
        return sentence
    if last + 1 < len(words) and not _bounds_a_phrase(words[last]):
        return sentence
    if first > 0 and not (_bounds_a_phrase(words[first]) or words[first].lower() in _DETERMINERS
                          or kinds[first - 1] == "function"):
        return sentence
    if sum(c in "\"\u201c\u201d" for c in " ".join(kept)) % 2:  # the cut would split a quotation
        return sentence
    if _SUBJECT_PRONOUNS & {w.strip(",;:") for w in kept}:  # a clause, not a thing: "Peter, and he died in 2007"
        return sentence
    text = " ".join(kept).strip(",;:")
    if shape is not None:
        text = shape(text)
    return text[:1].upper() + text[1:] + end


def concise_answer(question: str, text: str, shape: Callable[[str], str] | None = None) -> str:
    """An answer text (cited sentences, "... [1]. ... [2].") with each sentence that restates the question cut to
    what it adds (then reshaped by ``shape``); unchanged for questions that do not ask for a thing."""
    if not asks_for_a_thing(question):
        return text
    question_terms = terms(question)

    def cut(match: re.Match[str]) -> str:
        words, markers, closing = match.group(1), match.group(2), match.group(3)
        shorter = concise_sentence(words, question_terms, shape)
        return f"{shorter}{markers}{closing}" if shorter != words else match.group(0)

    return _CITED_SENTENCE.sub(cut, text)
