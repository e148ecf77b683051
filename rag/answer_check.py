"""Does a cited answer actually answer the question? Abstention decided in code, after generation.

The 1.5B model cannot both answer and abstain reliably from one prompt (asked to reply "not in documents"
when unsure, it declined on a quarter of answerable seed questions), so it is asked only to answer, and the
checks below turn a non-answer into an abstention. Each check targets a failure seen on the tuning split of
``eval/datasets/seeds.jsonl`` (docs/decisions.md):

- the model declined anyway ("not mentioned", ...);
- the reply only restates the question ("A new director was appointed in January."), unless it picks one of the
  choices the question offers ("Which one of A, B and C ...?" -> "B") from a sentence that names no other;
- the question asks for a name outright and the reply has none, or for a number and the reply has none;
- the only number in the reply is a section label in the source ("6.7 Jackie Drayton gave thanks ...").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.citations import Referents, numbers, question_weights, relevance, strip_markers, terms
from rag.name_parts import names_only_the_asked_about
from rag.prompts import is_decline
from rag.question import (
    ANSWER_CHECKS,
    TYPE_HINTS,
    YEAR,
    asked_office,
    asks_rating,
    choice_groups,
    counted_terms,
    counted_words,
    expected_type,
    has_type,
    mentions,
    name_groups,
    name_tokens,
    names_office,
    profile,
    proper_names,
    question_names,
    states_rating,
)
from rag.text import DAY_NAMES, MONTH_NAMES, Span, split_sentences, stem, tokenize
from rag.types import Citation, Hit

# Only questions that ask for a name outright: "who" and "which committee" are often answered with a role or a
# common noun ("the head of children's services", "the scrutiny committee").
_ASKS_NAME = re.compile(r"\bname\b|\bcalled\b", re.IGNORECASE)
# A word of two characters or more that starts with a letter (any script: "Dürer", "Åkerfeldt", "Þorgerður"; digits
# may follow: "U2"), kept when that letter is upper case; or a dotted acronym ("M.I.A.", "U.S."). An ASCII-only
# pattern took "Müller" for no name at all (docs/decisions.md, "Names outside ASCII").
_WORD = re.compile(r"\b(?:[A-Z]\.){2,}|\b[^\W\d_][\w'’-]+")
_SECTION_LABEL = re.compile(r"(?m)^\s*(\d+(?:\.\d+)+)\s")


# Why a reply is not an answer, as a kind for programs (``Answer.abstain_kind``; the reason text is for people).
# A constraint check's abstention has the check's name as its kind (ANSWER_CHECKS).
DECLINED = "declined"  # the model said the passages hold no answer
UNSUPPORTED = "unsupported"  # the citation check kept no sentence of the reply; the "supported" check retries it
RESTATED = "restated"
NO_NAME = "no_name"
NO_NUMBER = "no_number"
SECTION_LABEL = "section_label"


@dataclass(frozen=True)
class Verdict:
    answers: bool
    reason: str | None = None
    kind: str | None = None  # one of the kinds above when the reply is not an answer


class AnswerCheck:
    def judge(self, question: str, raw: str, answer_text: str, citations: Sequence[Citation],
              sources: Sequence[str]) -> Verdict:
        """``raw`` is the model's reply, ``answer_text`` the supported, cited part of it, ``sources`` the texts
        of the passages the citations point into."""
        answer_text = strip_markers(answer_text)
        if is_decline(raw):
            return Verdict(False, "the model found no answer in the passages", DECLINED)
        if not citations:
            return Verdict(False, "no sentence of the generated answer is supported by the passages", UNSUPPORTED)
        quotes = [c.quote for c in citations]
        if not added_terms(question, answer_text) and not picks_from(question, answer_text, quotes):
            return Verdict(False, "the answer only restates the question", RESTATED)
        if _ASKS_NAME.search(question) and not _names(answer_text) - _names(question):
            return Verdict(False, "the question asks for a name and the answer gives none", NO_NAME)
        answer_numbers = numbers(answer_text)
        if expected_type(question) == "number" and not answer_numbers:
            return Verdict(False, "the question asks for a number and the answer gives none", NO_NUMBER)
        labels = {m.group(1) for text in sources for m in _SECTION_LABEL.finditer(text)}
        if answer_numbers and answer_numbers <= labels and not _used_as_quantity(answer_numbers, sources):
            return Verdict(False, "the answer's number is a section label in the document, not a quantity",
                           SECTION_LABEL)
        return Verdict(True)


def picks_from(question: str, answer_text: str, quotes: Sequence[str]) -> bool:
    """Does the reply name some, not all, of the names the question offers as choices ("Which one of Rotherham,
    Calderdale and North Yorkshire ...?" -> "Calderdale"), from a cited sentence that names its pick and none of
    the other choices? Such a reply answers with the question's own words; a sentence that lists every choice
    ("inspections of Rotherham, Calderdale and North Yorkshire") supports any pick, so it tells them apart for
    none."""
    choices = choice_groups(question)
    if not choices:
        return False  # most questions offer none: no need to read the reply or its sentences
    said = set(tokenize(answer_text))
    cited = [set(tokenize(quote)) for quote in quotes]
    for group in choices:
        chosen = [alternative for alternative in group if set(alternative) <= said]
        others = [alternative for alternative in group if alternative not in chosen]
        if chosen and others and any(any(set(a) <= words for a in chosen) and
                                     not any(set(a) <= words for a in others) for words in cited):
            return True
    return False


# Clause breaks inside a sentence: a list of items does not run across them.
_CLAUSE_BREAK = re.compile(r"[;:()\[\]\"“”]|\s[-–—]\s")
# A short aside in brackets, read past so that it does not cut the list it stands in ("Jackie Drayton (Cabinet
# Member ...), John Doyle (Director ...) and Andrew Jones (...)").
_ASIDE = re.compile(r"\s*[(\[][^()\[\]]{0,120}[)\]]")
# What joins the items of a list: a comma (", and" included) or a bare "and"/"or"; ", as well as" and ", as were"
# end a list as "and" does ("new support workers, as well as new business staff"; "The head was sacked, as were a
# social worker and three managers": the first item is the clause before).
_ITEM_JOIN = re.compile(r"(\s*,\s*(?:and\s+|or\s+|as well as\s+|as (?:were|was|are|is|did|had|have)\s+)?"
                        r"|\s+(?:and|or|as well as)\s+)")
_ITEM_WORDS = 3  # an item is read as the 3 words either side of a join: enough for "front line staff"
_MIDDLE_ITEM_WORDS = 4  # a middle item longer than this is a clause, not a list item


def coordinated_items(text: str) -> list[list[set[str]]]:
    """The lists of items a sentence coordinates ("foster carers, adoptive parents and front line staff"), each
    item as its content terms. The first item is read as the last words before its join and the last as the
    first words after, so "gave thanks to all foster carers, ..." yields "to all foster carers"; a middle item
    of more than a few words means the commas join clauses, and the run is cut there."""
    found: list[list[set[str]]] = []
    for clause in _CLAUSE_BREAK.split(_ASIDE.sub("", text)):
        parts = _ITEM_JOIN.split(clause)
        segments, joins = parts[0::2], [j.strip().rstrip(",").strip() or "," for j in parts[1::2]]
        start = 0
        while start < len(joins):
            end = start  # the run covers segments start..end+1, joined by joins[start..end]
            while end + 1 < len(joins) and joins[end] == "," and \
                    len(segments[end + 1].split()) <= _MIDDLE_ITEM_WORDS:
                end += 1
            if joins[end] == ",":  # a run of commas with no final "and"/"or" is not a list
                start = end + 1
                continue
            items = [segments[start].split()[-_ITEM_WORDS:]]
            items += [segments[i].split() for i in range(start + 1, end + 1)]
            items.append(segments[end + 1].split()[:_ITEM_WORDS])
            sets = [terms(" ".join(words)) for words in items]
            if sum(1 for s in sets if s) >= 2:
                found.append([s for s in sets if s])
            start = end + 1
    return found


def one_of_several(question: str, answer_text: str, quotes: Sequence[str]) -> bool:
    """Does the reply give one item of a list that a cited sentence coordinates, and leave out another item that
    the question does not name either ("Who was thanked?" -> "foster carers" [cited: "... thanked foster carers,
    adoptive parents and front line staff"])? Then the question likely wants the whole list."""
    said, asked = terms(strip_markers(answer_text)), terms(question)
    for quote in quotes:
        for items in coordinated_items(quote):
            given = [item for item in items if item & said]
            left = [item for item in items if not item & (said | asked)]
            if given and left:
                return True
    return False


# How far (in tokens) a number may stand from the word naming what it counts: "272 cases", "50 unallocated
# referrals", "one or two cases", "cases numbered 272".
_COUNT_WINDOW = 4


def counts(counted: Sequence[str], text: str, wanted: set[str] | None = None) -> bool:
    """Does ``text`` give a number (one of ``wanted``, if given) within _COUNT_WINDOW tokens of a word naming what
    the question counts?"""
    tokens = tokenize(text)
    stems = [stem(t) for t in tokens]
    for i, token in enumerate(tokens):
        value = numbers(token)
        if not value or (wanted is not None and not value & wanted):
            continue
        if any(s in counted for s in stems[max(0, i - _COUNT_WINDOW): i + _COUNT_WINDOW + 1]):
            return True
    return False


def ungrounded(question: str, answer_text: str, quotes: Sequence[str]) -> bool:
    """Failure kinds: unanswerable answered, near-fact pick. The reply adds words to the question ("a rating of
    inadequate") and none of them is in a cited sentence: the citation check kept the reply for the question's
    own words, which the sentence holds, while the answer came from elsewhere or nowhere."""
    new = added_terms(question, answer_text)
    return bool(new) and not new & terms(" ".join(quotes))


def added_terms(question: str, answer_text: str) -> set[str]:
    """The content terms a reply adds to the question: none means it only restates it."""
    return terms(answer_text) - terms(question)


def counts_other(counted: Sequence[str], answer_text: str, quotes: Sequence[str], head: str = "") -> bool:
    """Failure kind: near-fact pick / unanswerable answered. The reply's numbers count something else: in no cited
    sentence does one of them stand near a word naming what the question counts, nor share the sentence with the
    counted noun ``head`` ("only two found" in a sentence about "272 cases", for "how many of the cases ...").
    The reply's own words do not vouch for its number: "Two social workers were recruited" cited from a sentence
    whose "two" counts cases is a number of something else."""
    given = numbers(answer_text)
    if not given:
        return False  # no number: the "type" check's case
    for quote in quotes:
        if counts(counted, quote, given) or head and given & numbers(quote) and head in terms(quote):
            return False
    return True


def counted_head(question: str, counted: Sequence[str]) -> str:
    """The noun a "how many" question counts: the last counted term that is not a name the question gives
    ("cases" in "how many of the cases Sheffield examined"); "" when there is none."""
    own = {stem(n) for n in question_names(question)}
    heads = [t for t in counted if t not in own]
    return heads[-1] if heads else ""


def _names(text: str) -> set[str]:
    """Capitalised words other than the first of each sentence (a cheap proper-noun detector)."""
    found = set()
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        words = [w for w in _WORD.findall(sentence) if w[0].isupper()]
        if words and sentence.startswith(words[0]):
            first = words[0]
            words = words[1:] if first.lower() in _SENTENCE_STARTERS else words
        found.update(w.lower().rstrip("'’s") for w in words)
    return found


_CALENDAR = frozenset(MONTH_NAMES + DAY_NAMES)


def names_someone(question: str, reply: str, quotes: Sequence[str]) -> bool:
    """Does the reply give a name the question does not ("Appointed in January" gives none)? A capitalised word
    counts unless it is a month or a day, or the cited sentences write it in lower case (a reply's first word:
    "Appointed" from "... was appointed in January")."""
    lower = {w.rstrip("'’s") for q in quotes for w in _WORD.findall(q) if w[0].islower()}
    return bool({n for n in _names(reply) - _names(question) if n not in _CALENDAR and n not in lower})


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


# --- constraints the question puts on the answer (rag/question.py) --------------------------------------------


# Questions a title or heading answers: its name asked outright, or the publication that ran the text (a
# newspaper's name is its masthead, the first line of the page: "Which newspaper ran the article?").
_TITLE_ASKED = re.compile(r"\b(?:headline|title|called|name of the (?:report|article|story)"
                          r"|(?:news)?papers?|publications?|publishers?|outlets?|magazines?|journals?|websites?"
                          r"|broadcasters?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Mismatch:
    """A reply that does not fit the question; ``keep`` says which evidence a retry may use (a passage and one of
    its sentences), and ``hint`` is added to the question for the retry. ``keep`` is None for a mismatch that
    abstains at once: one whose retries were measured to trade one wrong answer for another."""

    kind: str
    reason: str
    keep: Callable[[Hit, str], bool] | None
    hint: str = ""


class ConstraintCheck:
    def __init__(self, document_text: Callable[[str], str], checks: Sequence[str] = ANSWER_CHECKS,
                 focus_ratio: float = 0.5, referents: Referents | None = None):
        self.document_text = document_text
        self.referents = referents  # a pronoun's name counts as said in its sentence (``annotate_pronouns``)
        self.checks = tuple(checks)
        self.focus_ratio = focus_ratio
        self._tokens: dict[str, set[str]] = {}
        self._listed: dict[str, list[tuple[tuple[str, ...], ...]]] = {}
        self._split: dict[str, tuple[str, list[Span]]] = {}

    def check(self, question: str, answer_text: str, citations: Sequence[Citation], passages: Sequence[Hit], *,
              multi_part: bool = False) -> Mismatch | None:
        asked = profile(question)
        text = strip_markers(answer_text)
        if "grounded" in self.checks and citations and ungrounded(question, text, self._quotes(citations)):
            return Mismatch("grounded", "none of the answer's own words is in the sentences it cites",
                            keep=lambda hit, sentence: True)
        if "title" in self.checks and not _TITLE_ASKED.search(question) and _is_a_title(text, passages):
            return Mismatch("title", "the reply is a document's title or heading, not an answer",
                            keep=lambda hit, sentence: not _is_a_title(sentence, [hit]))
        wanted = asked.answer_type
        if "type" in self.checks and wanted and not multi_part and not has_type(text, wanted):
            return Mismatch("type", f"the question asks for a {wanted} and the answer gives none",
                            keep=lambda hit, sentence: has_type(sentence, wanted), hint=TYPE_HINTS[wanted])
        counted = counted_terms(question) if "count" in self.checks and not multi_part else ()
        if counted and counts_other(counted, text, [c.quote for c in citations], counted_head(question, counted)):
            what = " ".join(counted_words(question))
            return Mismatch("count", f"the question counts {what}; the answer's number counts something else",
                            keep=lambda hit, sentence: counts(counted, sentence),
                            hint=f"Answer with the number of {what}.")
        years = asked.years

        def states_a_year_asked(hit: Hit, sentence: str) -> bool:
            return any(y in sentence for y in years)

        if "year" in self.checks and years:
            stated = set(YEAR.findall(" ".join(c.quote for c in citations) + " " + text))
            if stated and not stated & set(years):
                return Mismatch("year", f"the question asks about {', '.join(years)}; the cited text states "
                                f"{', '.join(sorted(stated))}", keep=states_a_year_asked)
        if "year_doc" in self.checks and years and citations and \
                not any(self._mentions(c.doc_id, y) for c in citations for y in years):
            return Mismatch("year_doc", f"the cited document never states {', '.join(years)}",
                            keep=states_a_year_asked)
        if "names" in self.checks and asked.names and citations:
            cited = list(dict.fromkeys(c.doc_id for c in citations))
            groups = name_groups(question)
            missing = [g for g in groups if not any(self._holds(doc, g) for doc in cited)]
            # A question about several things is answered part by part, each part from a document that names
            # one of them (names_any); it only fails when no cited document names any of them.
            if missing and (not multi_part or len(missing) == len(groups)):
                said = ", ".join(" or ".join(" ".join(alt) for alt in g) for g in missing)
                return Mismatch("names", f"the cited document never mentions {said}",
                                keep=lambda hit, sentence: self._holds_all(hit.chunk.doc_id, groups))
        office = asked_office(question) if "office" in self.checks and citations and not multi_part else ""
        if office and not any(names_office(office, quote) for quote in self._quotes(citations)):
            return Mismatch("office", f"the question asks who holds the office of {office}; no cited sentence "
                            "names that office", keep=lambda hit, sentence: names_office(office, sentence),
                            hint=f"Answer with the {office} the passages name.")
        if office and not names_someone(question, text, [c.quote for c in citations]):
            return Mismatch("office", f"the question asks who holds the office of {office}; the answer names no "
                            "one", keep=lambda hit, sentence: names_office(office, sentence),
                            hint=f"Answer with the name of the {office}.")
        if "rating" in self.checks and citations and not multi_part and asks_rating(question) and \
                not any(states_rating(quote) for quote in self._quotes(citations)):
            return Mismatch("rating", "the question asks for a rating; no cited sentence states one",
                            keep=lambda hit, sentence: states_rating(sentence),
                            hint="Answer with the rating the passages give.")
        if not multi_part and (own := self.own_person(question, text, [h.chunk.text for h in passages])) is not None:
            return own
        if "sibling" in self.checks and asked.names and citations and not multi_part:
            return self._about_a_sibling(question, text, citations)
        return None

    def _quotes(self, citations: Sequence[Citation]) -> list[str]:
        """The cited sentences, each with the names its pronouns stand for (``annotate_pronouns``)."""
        if self.referents is None:
            return [c.quote for c in citations]
        return [f"{c.quote} {self.referents(c.doc_id, c.start, c.end)}" for c in citations]

    def own_person(self, question: str, reply: str, passages: Sequence[str] = ()) -> Mismatch | None:
        """Failure kind: near-fact pick, the wrong person. A bare-name reply that names only whom the question
        names, to a question asking for a part of the name of someone it describes (rag/name_parts.py): retried on
        the sentences that name someone else, with the hint "Not X.". Also read on a reply abstained as a
        restatement ("James" for "... the person who put James in charge"), whose only name is the question's."""
        if "other_person" not in self.checks:
            return None
        own = names_only_the_asked_about(question, reply, passages)  # [] at once for most questions: asked first
        asked = profile(question) if own else None
        if asked is None or not asked.names:
            return None
        said = " and ".join(own)
        return Mismatch("other_person", f"the question asks for someone it describes; the answer names {said}, "
                        "whom the question names",
                        keep=lambda hit, sentence: _names_other_than(sentence, asked.names), hint=f"Not {said}.")

    def _about_a_sibling(self, question: str, text: str, citations: Sequence[Citation]) -> Mismatch | None:
        """Failure kind: trap answered about the wrong entity. A name the question gives is one of a list its
        cited document gives ("councils in Rotherham, Calderdale and North Yorkshire"), and the answer is about
        another of that list: the reply itself names another and not this one, or the cited sentence names another
        and not this one, or neither, and the list name said last before it is another, with this one nowhere in
        the sentences around it. Abstains without a retry: retried on the sentences about the asked name, the
        model still answered with the other one's facts (docs/decisions.md)."""
        for group in name_groups(question):
            if len(group) != 1:
                continue  # a question's own list ("Sheffield and Sefton") is answered part by part
            name = group[0]
            for c in citations:
                for listed in self._lists(c.doc_id):
                    if name not in listed:
                        continue
                    others = [alt for alt in listed if alt != name and not _names_in(question, alt)]
                    named = [alt for alt in others if _names_in(text, alt)]
                    # A short reply that is itself another of the list answers a question relating the two
                    # ("Who does Linda dump?" -> "Milt"); it is not about the wrong one.
                    if named and len(text.split()) <= _SHORT_REPLY_WORDS:
                        continue
                    if named and not _names_in(text, name):
                        other: tuple[str, ...] | None = named[0]
                    else:
                        document, sentences = self._sentences_of(c.doc_id)
                        other = subject_elsewhere(document, sentences, c.start, c.end, name, others)
                    if other is not None:
                        return Mismatch("sibling", f"the question asks about {' '.join(name)}; the answer is "
                                        f"about {' '.join(other)}", keep=None)
        return None

    def _text(self, doc_id: str) -> str:
        """A document's text; "" for one no longer in the index (removed while an answer was being checked)."""
        try:
            return self.document_text(doc_id)
        except KeyError:
            return ""

    def _sentences_of(self, doc_id: str) -> tuple[str, list[Span]]:
        """A document's text and its sentences (cached for the life of the index)."""
        if doc_id not in self._split:
            text = self._text(doc_id)
            self._split[doc_id] = (text, split_sentences(text))
        return self._split[doc_id]

    def _lists(self, doc_id: str) -> list[tuple[tuple[str, ...], ...]]:
        """The lists of names the document's sentences give ("Rotherham, Calderdale and North Yorkshire")."""
        if doc_id not in self._listed:
            self._listed[doc_id] = [g for sentence in self._sentences_of(doc_id)[1]
                                    for g in choice_groups(sentence.text)]
        return self._listed[doc_id]

    def focus(self, question: str, citations: Sequence[Citation], passages: Sequence[Hit]) -> float:
        """How much of the question the cited sentences hold (rag/citations.py, relevance), the best of them."""
        weights = question_weights(question, [s.text for s in _sentences(passages)])
        return max((relevance(weights, c.quote) for c in citations), default=0.0)

    def off_focus(self, question: str, citations: Sequence[Citation], passages: Sequence[Hit]) -> Mismatch | None:
        """Failure kind: near-fact pick. The cited sentence holds under ``focus_ratio`` of what the closest
        sentence of the passages holds of the question: ask again on the close sentences (and keep whichever
        answer is better grounded, rag/pipeline.py)."""
        sentences = _sentences(passages)
        weights = question_weights(question, [s.text for s in sentences])
        best = max((relevance(weights, s.text) for s in sentences), default=0.0)
        mine = max((relevance(weights, c.quote) for c in citations), default=0.0)
        if best <= 0 or mine >= self.focus_ratio * best:
            return None
        floor = self.focus_ratio * best
        return Mismatch("focus", f"the cited sentence holds {mine:.2f} of the question, the closest {best:.2f}",
                        keep=lambda hit, sentence: relevance(weights, sentence) >= floor)

    def names_apart(self, question: str, passages: Sequence[Hit]) -> bool:
        """Does the question give names that no one of the passages' documents holds together, while the
        documents between them hold all ("which temporary staff did Sheffield and Sefton rely on")? Such a
        question is about several things, each answered by its own document. The words of an office are no such
        thing ("Sefton's Cabinet Member" is one council's)."""
        names = proper_names(question)
        docs = list(dict.fromkeys(h.chunk.doc_id for h in passages))
        if len(names) < 2 or len(docs) < 2:
            return False
        held = [{n for n in names if self._mentions(doc, n)} for doc in docs]
        return not any(len(h) == len(names) for h in held) and set().union(*held) == set(names)

    def names_cover(self, question: str, pool: Sequence[Hit]) -> tuple[str, ...]:
        """The documents, in rank order, that hold the question's names between them when no document of
        ``pool`` holds them all: the best-ranked document naming each name ("which temporary staff did Sheffield
        and Sefton rely on", where the Sefton report ranks below the four passages a prompt reads). () when one
        document names them all, a name is in none, or one document is the best for every name."""
        names = proper_names(question)
        if len(names) < 2:
            return ()
        docs = list(dict.fromkeys(h.chunk.doc_id for h in pool))
        held = {doc: {n for n in names if self._mentions(doc, n)} for doc in docs}
        if any(len(h) == len(names) for h in held.values()):
            return ()
        best = [next((d for d in docs if name in held[d]), None) for name in names]
        if None in best:
            return ()
        cover = [d for d in docs if d in best]  # rank order, each document once
        return tuple(cover) if len(cover) > 1 else ()

    def within_question(self, question: str, pool: Sequence[Hit],
                        keep: Callable[[Hit, str], bool]) -> Callable[[Hit, str], bool]:
        """``keep`` narrowed to what the question itself pins down, wherever ``pool`` can meet it: the sentence's
        document holds every name the question gives, and the sentence states a year the question gives. A
        retry asked on sentences from another council's report, or from another year ("In 2019, what judgement
        ..." retried on sentences about 2009 inspections elsewhere), answers with their facts."""
        named = self.named_documents(question, pool)
        years = profile(question).years
        dated = bool(years) and any(y in h.chunk.text for h in pool for y in years)

        def fits(hit: Hit, sentence: str) -> bool:
            return keep(hit, sentence) and (not named or hit.chunk.doc_id in named) and \
                (not dated or any(y in sentence for y in years))
        return fits

    def named_documents(self, question: str, pool: Sequence[Hit]) -> set[str]:
        """The documents of ``pool`` that hold every name group the question gives (all of them when it gives
        none)."""
        groups = name_groups(question)
        return {d for d in {h.chunk.doc_id for h in pool} if self._holds_all(d, groups)}

    def names_any(self, doc_id: str, question: str) -> bool:
        """Does the document name any of the names the question gives, the words of an office aside (true when
        the question gives none)?"""
        names = proper_names(question)
        return not names or any(self._mentions(doc_id, n) for n in names)

    def _holds_all(self, doc_id: str, groups: Sequence[tuple[tuple[str, ...], ...]]) -> bool:
        return all(self._holds(doc_id, g) for g in groups)

    def _holds(self, doc_id: str, group: tuple[tuple[str, ...], ...]) -> bool:
        return any(all(self._mentions(doc_id, n) for n in alternative) for alternative in group)

    def _mentions(self, doc_id: str, name: str) -> bool:
        if doc_id not in self._tokens:
            self._tokens[doc_id] = name_tokens(self._text(doc_id))
        return mentions(self._tokens[doc_id], name)




def _names_other_than(sentence: str, names: Sequence[str]) -> bool:
    """Does the sentence name someone other than the question's names (a word of two or more letters with a
    capital, not the sentence's first)?"""
    return bool(_names(sentence) - {n.lower() for n in names})


# A reply of at most this many words that names another of the list is that name given as the answer.
_SHORT_REPLY_WORDS = 4
# How many sentences before and after a cited sentence may name the asked name and so keep the sentence about it.
# A report's topic carries forward: a sentence is about the name said before it, so two sentences back count, and
# only one ahead ("... one North Yorkshire team had 50 referrals. There were also 25 cases. In another team, there
# were 15 cases. [Baby P ...] Rotherham Council said ..." is not about Rotherham). Two ahead fired on 20 Quoref
# gold sentences of 6,200, one ahead on 27, none ahead on 48 (docs/decisions.md).
_SUBJECT_BEFORE = 2
_SUBJECT_AFTER = 1


def _name_pattern(name: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b" + r"\W+".join(re.escape(w) for w in name) + r"\w*", re.IGNORECASE)


def _names_in(text: str, name: tuple[str, ...]) -> bool:
    return bool(_name_pattern(name).search(text))


def subject_elsewhere(document: str, sentences: Sequence[Span], start: int, end: int, name: tuple[str, ...],
                      others: Sequence[tuple[str, ...]]) -> tuple[str, ...] | None:
    """Which of ``others`` the span ``document[start:end]`` is about instead of ``name``: one it names, or else the
    one named last before it; None when ``name`` is named in the span, in the _SUBJECT_BEFORE sentences before it
    or the _SUBJECT_AFTER after it (``sentences``: the document's), or the span is about none of them."""
    inside = [i for i, s in enumerate(sentences) if s.end > start and s.start < end]
    if inside:
        low = sentences[max(0, inside[0] - _SUBJECT_BEFORE)].start
        high = sentences[min(len(sentences) - 1, inside[-1] + _SUBJECT_AFTER)].end
        if _name_pattern(name).search(document, low, high):
            return None
    named = [alt for alt in others if _name_pattern(alt).search(document, start, end)]
    if named:
        return named[0]
    last, where = None, -1
    for alt in (name, *others):
        for match in _name_pattern(alt).finditer(document, 0, start):
            if match.start() > where:
                last, where = alt, match.start()
    return None if last == name else last


def _sentences(passages: Sequence[Hit]) -> list[Span]:
    return [s for h in passages for s in split_sentences(h.chunk.text, offset=h.chunk.start)]


def _same_terms(text: str, title: str) -> bool:
    a, b = terms(text), terms(title)
    return bool(a) and bool(b) and len(a & b) >= 0.8 * len(a) and len(a & b) >= 0.6 * len(b)


# A heading: a line of a passage standing alone, of at least 3 words (a newspaper's or a section's name, "Southport
# Visiter", "Agenda item", is a name a question may ask for), with no sentence-ending punctuation.
_HEADING_END = tuple('.!?:;,"\'”’)')
_HEADING_WORDS = 3


def headings(text: str) -> list[str]:
    """The lines of ``text`` that read as headings ("OFSTED Report of Inspection of Sheffield's Social Care Services -
    July 2019" inside an agenda item), not sentences."""
    return [line for line in (raw.strip() for raw in text.split("\n"))
            if len(line.split()) >= _HEADING_WORDS and not line.endswith(_HEADING_END)]


def _is_a_title(text: str, passages: Sequence[Hit]) -> bool:
    """Failure kind: a title returned as the answer. The reply has the terms of a passage's document title or of
    a heading inside a passage (a report's heading in the minutes that discuss it)."""
    titles = {h.title for h in passages} | {line for h in passages for line in headings(h.chunk.text)}
    return any(_same_terms(text, title) for title in titles)
