"""Follow-up questions: the standalone rewrite that retrieval searches with, checked against the conversation."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from rag.citations import strip_markers
from rag.generation import GenerationParams, Generator
from rag.prompts import ABSTAIN_TEXT, is_decline, rewrite_messages
from rag.question import invented_terms, question_names, topic_of

log = logging.getLogger(__name__)


def standalone_question(generator: Generator, question: str, history: Sequence[tuple[str, str]], *,
                        check: bool = True, references: bool = True, seed: int = 0,
                        timings: dict[str, float] | None = None) -> str:
    """Turn a follow-up into a standalone question using the conversation so far. With ``references``, a
    follow-up that refers back with a pronoun gets the previous answer's name put in (``resolve_references``)
    and no model is asked. With ``check``, a model rewrite that brings in a name, year or number the
    conversation never mentioned (a council swapped for another, "the inspection before that" turned into a
    year) is asked for once more, told to use only the conversation's names, and failing that the follow-up is
    asked with the previous question beside it."""
    if not history:
        return question
    resolved = resolve_references(question, history) if references else None
    if resolved is not None:
        return resolved
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


# Third-person references a follow-up makes to what the previous answer named. "it" is left out: it is as often
# empty ("Is it true that ...") as a reference.
_POSSESSIVE = {"his", "its", "their", "hers"}
_REFERENCE = re.compile(r"\b(he|she|they|him|them|his|its|their|hers|her|there)\b", re.IGNORECASE)
_PLURAL = frozenset({"they", "them", "their"})
# After "her": a word that starts no noun phrase, so "her" is the object ("What did Ofsted tell her about ...").
_NOT_A_NOUN_START = {"about", "that", "to", "in", "on", "at", "by", "for", "from", "with", "of", "and", "or",
                     "was", "is", "had", "has", "would", "could", "should", "did", "do", "when", "after", "before",
                     "there", "here", "then", "now", "again", "back", "up", "out", "off", "over", "as", "if",
                     "because", "so", "but", "why", "how", "what", "where", "while", "during"}
# A name as written: capitalised words, possibly joined by "of", "for", "the" ("Department for Education").
_NAME_RUN = re.compile(r"[A-Z][\w'’.-]*(?:\s+(?:(?:of|for|the|on|upon)\s+)*[A-Z][\w'’.-]*)*")
# "that council", "this director", "the same councillor": a noun phrase pointing back at what the previous answer
# named. A body or place noun takes the place "there" would (``place_named``), a person noun the name "he" would.
# The nouns of a place or a body; a question "Which <noun> ...?" asks for one (``_ASKS_PLACE``).
_PLACE_NOUNS = ("council|authority|town|city|country|county|borough|area|region|place|village|school|organisation|"
                "organization|body|agency|team|orchestra|club|company|band|institution|hospital|university|service")
_BODY_NOUNS = _PLACE_NOUNS + "|committee|department|charity|newspaper|paper|group"
_PERSON_NOUNS = ("man|woman|person|boy|girl|councillor|director|minister|officer|official|member|secretary|leader|"
                 "chief|executive|inspector|manager|spokesman|spokeswoman|spokesperson|chairman|chair|mayor")
_DEMONSTRATIVE = re.compile(rf"\b(?:that|this|the same)\s+(?:(?P<body>{_BODY_NOUNS})|(?P<person>{_PERSON_NOUNS}))"
                            r"(?P<possessive>['’]s)?\b", re.IGNORECASE)
# A word before "that" after which it is a determiner, not a relative pronoun ("the report that council officers
# wrote" is no reference to a council).
_BEFORE_DETERMINER = {"in", "at", "from", "to", "for", "of", "by", "with", "about", "on", "did", "does", "do", "was",
                      "is", "were", "are", "has", "had", "have", "what", "which", "who", "whom", "how", "when",
                      "where", "why", "and", "or", "but", "then", "could", "would", "will", "can", "should"}


def resolve_references(question: str, history: Sequence[tuple[str, str]]) -> str | None:
    """The follow-up with its pronouns (he, she, his, its, their, there, ...) and pointing phrases ("that council",
    "this director") replaced by the name the previous answer gave, word for word otherwise; None when the
    follow-up makes no such reference or the previous answer names nothing of the kind (then the model rewrites
    it). A 1.5B model asked to rewrite a follow-up also rewords it,
    and swapped a council or a question's subject on the fresh conversations of issue 14; a substitution keeps
    every word the user wrote and can bring in nothing the conversation did not say."""
    references = list(_REFERENCE.finditer(question))
    pointers = [m for m in _DEMONSTRATIVE.finditer(question) if _points_back(question, m)]
    if not references and not pointers:
        return None
    words = {m.group(1).lower() for m in references}
    wants_place = "there" in words or any(m.group("body") for m in pointers)
    place = place_named(*history[-1]) if wants_place else None
    if wants_place and place is None:
        return None
    names = answer_names(*history[-1])
    if not names and (words - {"there"} or any(m.group("person") for m in pointers)):
        return None
    # A plural reference to a list answer ("Bergen, Tromso and Oslo") means them all; otherwise the first name is
    # what the answer is about ("Marta Lind, since 1990").
    if words <= _PLURAL and len(names) > 1 and _only_names(history[-1][1], names):
        name = ", ".join(names[:-1]) + " and " + names[-1]
    else:
        name = names[0] if names else ""
    out, last = [], 0
    for m in sorted(references + pointers, key=lambda m: m.start()):
        replacement = (_pointer_replacement(m, name, place) if m.re is _DEMONSTRATIVE
                       else _pronoun_replacement(question, m, name, place))
        out += [question[last:m.start()], replacement]
        last = m.end()
    out.append(question[last:])
    return "".join(out)


def _pointer_replacement(m: re.Match[str], name: str, place: str | None) -> str:
    """What "that council" / "this director('s)" becomes: the place for a body noun, the name for a person noun."""
    replacement = (place or "") if m.group("body") else name
    return _possessive(replacement) if m.group("possessive") else replacement


def _pronoun_replacement(question: str, m: re.Match[str], name: str, place: str | None) -> str:
    """What a pronoun of the follow-up becomes: the place for "there" ("in Haringey" unless a preposition comes
    before it), the name with "'s" for a possessive ("its", "her" before a noun), else the name."""
    word = m.group(1).lower()
    following = question[m.end():].split(None, 1)
    next_word = re.sub(r"\W", "", following[0]).lower() if following else ""
    if word == "there":
        before = question[:m.start()].rstrip().rsplit(None, 1)
        after_preposition = bool(before) and before[-1].lower() in {"from", "in", "at", "to", "near"}
        return (place or "") if after_preposition else f"in {place}"
    if word in _POSSESSIVE or (word == "her" and next_word and next_word not in _NOT_A_NOUN_START):
        return _possessive(name)
    return name


def _possessive(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")


def _points_back(question: str, match: re.Match[str]) -> bool:
    """Is "that/this <noun>" a determiner phrase ("What did that council say?") rather than a relative clause
    ("the report that council officers wrote")?"""
    if not match.group(0).lower().startswith("that"):
        return True
    before = question[:match.start()].rstrip(" ,").rsplit(None, 1)
    return not before or before[-1].lower() in _BEFORE_DETERMINER


def answer_names(question: str, answer: str) -> list[str]:
    """The names an answer gives that its question did not ("Which council was at the centre of the Baby P
    case?" / "Haringey council [1]" -> ["Haringey"]), in order; none for an abstention."""
    text = strip_markers(answer).strip()
    if not text or is_decline(text) or text == ABSTAIN_TEXT:
        return []
    asked = set(question_names(question))
    found: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        for m in _NAME_RUN.finditer(sentence):
            phrase = _as_name(re.sub(r"^The\s+", "", m.group()))
            words = set(question_names(phrase))
            if m.start() == 0 and not words:
                continue  # a capitalised sentence opener ("The", "Three")
            if words and not words <= asked and phrase not in found:
                found.append(phrase)
    return found


# "in Haringey", "at the Halden Orchestra": a name the conversation gave as a place.
_LOCATIVE = re.compile(r"\b(?:in|at)\s+(?:the\s+)?(" + _NAME_RUN.pattern + ")")
# A previous question whose answer is a place or a body ("Where ...", "Which council ..."), not a person.
_ASKS_PLACE = re.compile(rf"^\W*(?:where\b|(?:in |at )?(?:which|what)\s+(?:\w+\s+)?(?:{_PLACE_NOUNS})s?\b)",
                         re.IGNORECASE)


def place_named(question: str, answer: str) -> str | None:
    """What "there" refers to: the previous answer's name when its question asked for a place or a body ("Which
    council ...?"), else a place the previous answer gives ("... in Haringey"), else one the previous question gives
    ("Who was sacked in Haringey?"); None when the turn gives none (a person is no "there")."""
    found = answer_names(question, answer) if _ASKS_PLACE.search(question) else []
    if not found:
        found = [m.group(1) for m in _LOCATIVE.finditer(strip_markers(answer))]
    if not found:
        found = [m.group(1) for m in _LOCATIVE.finditer(question)]
    return _as_name(found[0]) if found else None


def _as_name(phrase: str) -> str:
    """A name as matched, without a closing full stop, quote or possessive ("Haringey's" -> "Haringey")."""
    return re.sub(r"['’]s$", "", phrase.rstrip(".'’"))


def _only_names(answer: str, names: Sequence[str]) -> bool:
    """Is the answer a bare list of the names ("Bergen, Tromso and Oslo [1].")?"""
    rest = strip_markers(answer)
    for name in names:
        rest = rest.replace(name, " ")
    return not re.sub(r"\b(?:and|or|the)\b|[\s,.;&]", "", rest, flags=re.IGNORECASE)
