"""The part of a person's name a question asks for ("What is the first name of ...", "... full name ...").

Failure kind: near-fact pick, a right person in the wrong shape. The reader names the right person but gives the
surname when the question asks for the first name ("Conein" for "Lucien"), or one word of a full name ("Carter"
for "James Carter"). When a reply is nothing but names, each is cut to the part asked for, or completed from the
passages: the longest name in them that holds it, when one such name outnumbers the others (the "name_part"
check, applied in ``RagPipeline.finish``). Replies that are sentences are left alone (a name inside a clause
reads wrongly cut).

Failure kind: near-fact pick, the wrong person. A question that describes someone ("the person that Beatrice is
sent to romance") is not answered by a name it gives itself ("Beatrice Reiner"): ``names_only_the_asked_about``
finds such replies (the "other_person" check in rag/answer_check.py)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from rag.citations import strip_markers
from rag.question import question_names
from rag.text import STOPWORDS

NamePart = Literal["first", "last", "full"]

_ASKED = (
    ("first", re.compile(r"\b(?:first|given|christian|fore)[ -]?names?\b", re.IGNORECASE)),
    ("last", re.compile(r"\b(?:last|family|sur)[ -]?names?\b", re.IGNORECASE)),
    ("full", re.compile(r"\b(?:full|complete|whole)[ -]names?\b", re.IGNORECASE)),
)

# A word, with the full stop of an initial or an abbreviated title ("J.", "Dr.").
_WORD = re.compile(r"[^\W\d_][\w'’-]*\.?")
_PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "la", "le", "bin", "ibn", "al",
              "el", "y", "dos", "das", "ter", "zu"}
_JOINS = re.compile(r"\s*(?:,|;|\band\b|&)\s*")
# Words that start a name run without being part of anyone's name.
_TITLES = {"mr", "mrs", "ms", "miss", "dr", "sir", "dame", "lady", "lord", "professor", "prof", "rev", "reverend",
           "father", "brother", "sister", "saint", "st", "captain", "capt", "general", "colonel", "major",
           "lieutenant", "sergeant", "president", "senator", "judge", "king", "queen", "prince", "princess",
           "pope", "emperor", "count", "countess", "duke", "duchess", "baron", "uncle", "aunt", "detective",
           "inspector", "officer", "agent", "doctor", "mister"}
_NOT_NAME_WORDS = {"the", "a", "an", "and", "or", "of", "in", "on", "at", "to", "for", "by", "with", "from", "it",
                   "he", "she", "they", "his", "her", "their", "this", "that", "when", "while", "after", "before",
                   "but", "as", "if", "then", "there", "we", "i", "you", "is", "was", "were"}
# Capitalised words that open sentences without being names.
_OPENERS = {"according", "after", "afterward", "afterwards", "along", "also", "although", "another", "as", "because",
            "before", "both", "but", "despite", "during", "each", "eventually", "every", "finally", "first",
            "following", "hence", "however", "initially", "instead", "last", "later", "like", "many", "meanwhile",
            "next", "now", "once", "one", "originally", "several", "since", "some", "soon", "still", "then",
            "therefore", "though", "three", "thus", "today", "together", "two", "ultimately", "unlike", "until",
            "upon", "when", "where", "whereas", "while", "whilst", "yesterday", "yet"}
_SUFFIXES = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv", "v", "vi", "vii", "viii"}


def asked_name_part(question: str) -> NamePart | None:
    """Which part of a name the question asks for, if it asks for one."""
    for part, pattern in _ASKED:
        if pattern.search(question):
            return part  # type: ignore[return-value]
    return None


def _key(word: str) -> str:
    return re.sub(r"['’]s$", "", word).rstrip(".").lower()


def _initial(word: str) -> bool:
    """An initial standing for a name ("A.", "J.")."""
    return len(word) == 2 and word[0].isupper() and word[1] == "."


def _words(run: list[str]) -> list[str]:
    """A run without the common words that open or close it ("When Mary" -> Mary) and a possessive "'s"."""
    words = list(run)
    while words and (_key(words[-1]) in _NOT_NAME_WORDS or words[-1] in _PARTICLES):
        words.pop()
    while words and _key(words[0]) in _NOT_NAME_WORDS and not _initial(words[0]):  # "A. Y. Jackson" keeps its "A."
        words.pop(0)
    if words:
        words[-1] = re.sub(r"['’]s$", "", words[-1])
    return words


def _runs(text: str) -> list[tuple[list[str], bool]]:
    """The runs of capitalised words in ``text`` (particles such as "van" allowed inside), each with whether it
    opens a sentence (where a capital says nothing)."""
    runs: list[tuple[list[str], bool]] = []
    run: list[str] = []
    opens = True
    sentence_start = True
    last_end = 0
    for match in _WORD.finditer(text):
        word = match.group()
        between = text[last_end:match.start()]
        # Punctuation or a line break (after a heading) ends a name; a line break also starts a sentence.
        if run and (between.strip() or "\n" in between):
            runs.append((run, opens))
            run = []
        if re.search(r"[.!?\n]", between) or not last_end and not between.strip():
            sentence_start = True
        ends_sentence = word.endswith(".") and len(word) > 2 and _key(word) not in _TITLES | _SUFFIXES
        if ends_sentence:
            word = word[:-1]
        if word[0].isupper():
            if not run:
                opens = sentence_start
            run.append(word)
            if re.search(r"['’]s$", word):
                runs.append((run, opens))  # a possessive ends a name ("Starr's Ringo's Rotogravure")
                run = []
        elif run and word in _PARTICLES:
            run.append(word)
        elif run:
            runs.append((run, opens))
            run = []
        sentence_start = False
        if ends_sentence:
            if run:
                runs.append((run, opens))
            run = []
            sentence_start = True
        last_end = match.end()
    if run:
        runs.append((run, opens))
    return [(words, opens) for words, opens in ((_words(r), o) for r, o in runs) if words and words[0][0].isupper()]


def weighed_names(text: str) -> list[tuple[list[str], float]]:
    """The names in ``text``: runs of capitalised words, without a sentence's first word when it is a common word
    ("Later Mary Beekman" -> Mary Beekman): one written in lower case in ``text``, or a usual opener. Each with a
    weight: 0.5 for a run whose first word only stands where every word has a capital (a sentence's start), as
    that word may be a common one ("Meantime Mary"), 1 otherwise."""
    lower = {w for w in re.findall(r"[^\W\d_][\w'’-]*", text) if w[0].islower()}
    runs = _runs(text)
    mid_sentence = {_key(w) for words, opens in runs for w in (words[1:] if opens else words)}
    found = []
    for words, opens in runs:
        first = words[0].lower()
        if opens and len(words) > 1 and (first in lower or first in _OPENERS or first in STOPWORDS):
            words, opens = words[1:], False
        found.append((words, 0.5 if opens and _key(words[0]) not in mid_sentence else 1.0))
    return found


def names_in(text: str) -> list[list[str]]:
    """The names in ``text`` (``weighed_names`` without the weights)."""
    return [words for words, _ in weighed_names(text)]


def _personal(words: Sequence[str]) -> list[str]:
    """The words of a name without what precedes its last title or follows it as a suffix ("LAPD Detective James
    Carter Jr." -> James Carter)."""
    out = list(words)
    titled = [i for i, w in enumerate(out[:-1]) if _key(w) in _TITLES]
    if titled:
        out = out[titled[-1] + 1:]
    while len(out) > 1 and out[0].isupper() and len(out[0]) > 1 and not _initial(out[0]):
        out.pop(0)  # an acronym before the name: "LAPD", "CIA"
    while len(out) > 1 and _key(out[-1]) in _SUFFIXES:
        out.pop()
    return out


def _completion(word: str, passages: Sequence[str], part: NamePart) -> list[str] | None:
    """The part asked for of the longer name in the passages that holds the one-word name ``word``: the given
    name of the person it is the surname of (for "first"), the surname of the person it is the given name of
    (for "last"), the whole name (for "full"). None when the word is already that part somewhere, or when no one
    such answer is more frequent than every other."""
    counts: Counter[tuple[str, ...]] = Counter()  # weighed occurrences
    for text in passages:
        for run, weight in weighed_names(text):
            person = _personal(run)
            keys = [_key(w) for w in person]
            if len(person) < 2 or word not in keys:
                continue
            if part == "first":
                if keys[0] == word and weight == 1:
                    return None  # already used as a given name
                if keys[-1] == word:
                    counts[(person[0],)] += weight
            elif part == "last":
                if keys[-1] == word and weight == 1:
                    return None  # already used as a surname
                if keys[0] == word:
                    counts[(person[-1],)] += weight
            else:
                counts[tuple(person)] += weight
    ranked = counts.most_common(2)
    if not ranked or len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None  # nobody holds it, or two people hold it as often: keep the reader's pick
    return list(ranked[0][0])


def _shaped(name: list[str], passages: Sequence[str], part: NamePart) -> list[str]:
    person = _personal(name)
    if len(person) == 1:
        return _completion(_key(person[0]), passages, part) or name
    if part == "first":
        return name if _initial(person[0]) else person[:1]  # "A. Y. Jackson": the given name is not in the text
    if part == "last":
        return person[-1:]
    return name


def _reply_items(reply: str) -> list[tuple[str, list[list[str]]]]:
    """The items of a reply joined by commas, "and" or "&" (citation markers and a final full stop dropped), each
    with its runs of capitalised words."""
    body = strip_markers(reply).strip().rstrip(".")
    return [(item, [words for words, _ in _runs(item)]) for item in _JOINS.split(body) if item.strip()]


def shape_name_parts(question: str, reply: str, passages: Sequence[str]) -> str:
    """``reply`` with each name cut to the part the question asks for, or completed from ``passages`` when the
    question asks for a full name and the reply gives one word of it. A reply that is not a bare list of names,
    or a question that asks for no part of a name, comes back unchanged."""
    part = asked_name_part(question)
    if part is None or names_only_the_asked_about(question, reply, passages):
        return reply  # nothing to shape, or the wrong person: the "other_person" check's case, left whole for it
    items = _reply_items(reply)
    if not items:
        return reply
    given, shaped_items = [], []
    for item, runs in items:
        if len(runs) != 1 or " ".join(runs[0]) != re.sub(r"['’]s$", "", item.strip()):
            return reply  # a clause, not a bare name
        given.append(" ".join(runs[0]))
        shaped_items.append(" ".join(_shaped(runs[0], passages, part)))
    if given == shaped_items:
        return reply
    return shaped_items[0] if len(shaped_items) == 1 else ", ".join(shaped_items[:-1]) + " and " + shaped_items[-1]


# "the name of the person who ...", "the first name of the man that ...", "the surname of the man who ...": someone
# the question describes rather than names.
_DESCRIBED = re.compile(r"(?:\b|(?<=sur)|(?<=fore))names?\s+of\s+(?:the|a|an|this|that)\s+"
                        r"(?:[\w'’-]+\s+){1,4}?(?:who|whom|whose|that)\b", re.IGNORECASE)


def names_only_the_asked_about(question: str, reply: str, passages: Sequence[str] = ()) -> list[str]:
    """The names of a bare-name reply, when every one of them names someone a question names, in a question that
    asks for a part of the name of someone it describes ("What is the full name of the person Beatrice is sent to
    romance?" -> "Beatrice Reiner"): the reply names whom the question is about, not whom it asks for. A name
    names the question's person when it shares a word with a name in the question, or when it is another part of
    that person's name in ``passages`` ("Burne-Jones" for "... who worked with Edward", the passages' only
    Edward being Edward Burne-Jones). [] when the reply names someone else, is a sentence, or the question asks
    for no described person's name."""
    if asked_name_part(question) is None or not _DESCRIBED.search(question):
        return []
    runs = [item_runs for _, item_runs in _reply_items(reply)]
    if not runs or any(len(r) != 1 for r in runs):
        return []
    asked = set(question_names(question))
    names = [r[0] for r in runs]
    if all({_key(w) for w in name} & asked or _another_part(name, question, asked, passages) for name in names):
        return [" ".join(name) for name in names]
    return []


def _another_part(name: list[str], question: str, asked: set[str], passages: Sequence[str]) -> bool:
    """Whether ``name`` is part of the full name, in ``passages``, of a name the question gives: the question's
    name (all its words) belongs to exactly one person with a longer name there, and that name holds ``name``.
    Two people sharing the question's name ("Edward Burne-Jones", "Edward Poynter") leave it open."""
    if not passages:
        return False
    wanted = {_key(w) for w in name}
    people = {tuple(_key(w) for w in _personal(run)) for text in passages for run in names_in(text)}
    for given in names_in(question):
        keys = {_key(w) for w in given}
        if not keys <= asked:
            continue  # a question word or an opener, not a name the question gives
        holders = {person for person in people if len(person) > len(keys) and keys <= set(person)}
        if len(holders) == 1 and wanted <= set(next(iter(holders))) and not wanted & keys:
            return True
    return False
