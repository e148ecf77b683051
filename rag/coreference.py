"""Whom "he", "she", "his" and "her" stand for, read off the text before them: shown to the reader, counted by the
citations.

Failure kind: coreference pick. A story says "Following a period of inactivity, a positive influence on his work
arose from his meeting with the composer Bernard van Dieren; he also gained creative impetus from a year spent in
Ireland." Asked who gained the impetus, the 1.5B reader names the one person the sentence names, van Dieren. The
reader is shown the name a pronoun most likely stands for beside it ("he (Heseltine) also gained ..."), so it can
copy it, and the citation check counts that name as said in the pronoun's sentence, so the answer cites the
sentence that says what he did. Possessives are annotated the same way for the questions that ask whose ("the
person whose sister wants to sell the car": "her (Havens) sister"). Only the safest guesses are made
(``pronoun_referents``); quotes, offsets and the passages shown to the user stay the document's own text.
docs/decisions.md, "Pronouns annotated for the reader" and "Possessives annotated too".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from rag.name_parts import _OPENERS, names_in, weighed_names
from rag.text import MONTH_NAMES, NUMBER_WORDS, STOPWORDS, Span, split_sentences
from rag.types import Hit

# Subject pronouns: none of them stands before a name that is its sentence's subject ("He meets Greta").
_SUBJECT_PRONOUNS = {"he", "she", "they", "we", "i", "you", "it"}
# The pronouns annotated, with the possessives "his" and "her" ("the person whose sister ..." asks whose "her
# sister" it is): "they" and "it" stand for groups and things too often to guess.
_PRONOUN = re.compile(r"\b(?:[Hh]e|[Ss]he|[Hh]is|[Hh]er)\b")
# A name straight after one of these is an object or a place, not who the sentence is about.
_BEFORE_NON_SUBJECT = {"of", "in", "on", "at", "to", "for", "by", "with", "from", "into", "near", "than", "about",
                       "and", "or", "as", "like", "the", "a", "an", "his", "her", "their", "its", "&"}
_PERSON_OF = {"he": "he", "she": "she", "his": "he", "her": "she"}
# After an object "her" ("told her to", "gave her a", "saw her again"), not a possessive one ("her sister"), comes
# a function word, a capital or punctuation: an object "her" does not stand for the clause's subject.
_AFTER_OBJECT_HER = (STOPWORDS - {"own", "most", "more", "other", "only", "few", "same"}) | _BEFORE_NON_SUBJECT | {
    "again", "back", "away", "home", "alone", "too", "also", "so", "very", "well", "now", "then", "there", "here",
    "once", "up", "out", "off", "down", "over", "around", "along", "through", "instead", "anyway", "later",
    "that", "what", "how", "why", "whether", "if", "not", "never"}
_PARENTHESIS = re.compile(r"^\s*\([^)]*\)")
_OF_NAME = re.compile(r"^of\s+(?:the\s+)?(?:[A-Z][\w'’-]*\s+)+")
# Words that cannot follow a subject as its verb.
_NOT_A_VERB = (_BEFORE_NON_SUBJECT - {"and"}) | {"though", "although", "while", "when", "where", "who", "whom",
                                                  "whose", "which", "that", "because", "if", "but", "so", "after",
                                                  "before", "until", "since", "then"}
# Words that open a clause whose subject a later pronoun of the sentence may stand for ("when MacKay sets out, he").
_SUBORDINATORS = {"when", "after", "before", "while", "as", "because", "since", "once", "until", "although",
                  "though", "if", "whereas", "but"}
_QUOTED = re.compile(r'"[^"]*"|“[^”]*”')
# Capitalised words that open sentences without being names: openers, numbers ("Six months after ..."), months.
_COMMON = _OPENERS | STOPWORDS | set(NUMBER_WORDS) | set(MONTH_NAMES)
# Words that open sentences as prepositions or time phrases ("Through his work, ...", "Months later, he"), not as
# names; and the endings of participles and adverbs that do ("Wandering and exhausted, he", "Subsequently, he").
_OPENING_WORDS = {"through", "throughout", "across", "amid", "amidst", "among", "amongst", "within", "without",
                  "beyond", "against", "behind", "beneath", "besides", "alongside", "toward", "towards", "via",
                  "days", "weeks", "months", "years", "decades", "hours", "minutes", "moments", "shortly", "soon"}
_OPENING_ENDINGS = ("ing", "ed", "ly", "ward", "wards")
# Names end so too (Jed, Alfred, Mildred, Cecily, Shelly, Beverly): an ending counts on words of 6 letters or more,
# and not these.
_NAME_ENDINGS = ("fred", "dred", "erly", "ily", "elly")
# Verbs that report speech or thought, and "that": a name after one is the subject of what is reported.
_REPORTING = {"said", "says", "say", "told", "tells", "claimed", "claims", "believed", "believes", "thought",
              "thinks", "felt", "feels", "stated", "states", "argued", "argues", "wrote", "writes", "added", "adds",
              "noted", "notes", "reported", "reports", "announced", "announces", "insisted", "insists", "learns",
              "learned", "realizes", "realises", "realized", "realised", "knew", "knows", "that"}


def _opening_word(word: str) -> bool:
    """Whether a capitalised word alone at a sentence's start is an opener rather than a name."""
    word = word.lower()
    return word in _OPENING_WORDS or len(word) >= 6 and word.endswith(_OPENING_ENDINGS) \
        and not word.endswith(_NAME_ENDINGS)


# Sentences further back than this do not lend a pronoun their subject.
_LOOKBACK = 4


def _subjects(sentence: str, known: set[str], common: set[str]) -> list[tuple[int, str, bool, str]]:
    """The names a sentence makes the subject of a verb, in order: where each starts, the name, whether it is
    the main clause's, and the word before it. A subject is a name followed by a word in lower case (its verb) and
    not led by a preposition or article. The main clause's is the sentence's first name, standing at its start or
    after one opening phrase and a comma ("After a failed career, Heseltine turned ..."). A name that opens the
    sentence counts only when ``known`` holds its first word (the text capitalises it mid-sentence too), or when it
    is not a ``common`` word and no comma follows it: a capital there says nothing ("However, he ...", "Elated,
    Dan ...")."""
    found: list[tuple[int, str, bool, str]] = []
    cursor = 0
    for words in names_in(sentence):
        name = " ".join(words)
        at = sentence.find(name, cursor)
        if at < 0:
            continue
        cursor = at + len(name)
        before = sentence[:at].rstrip()
        if all(w.isupper() for w in words):
            continue  # an acronym names an organisation ("NME reviewer John Robinson")
        if not before and words[0] not in known and (
                words[0].lower() in common or sentence[cursor:].startswith(",")
                or len(words) == 1 and _opening_word(words[0])):
            continue  # an opener ("However, he ...", "Elated, Dan ...", "Considered one of her best, ...")
        previous = before.split()[-1].lower() if before else ""
        if previous in _BEFORE_NON_SUBJECT:
            continue
        # What may stand before the main clause's subject: an opening phrase and its comma, then a few words
        # that describe the subject ("In a review, BBC critic Lena Moss said"), or an opening adverb ("Later").
        # Not a verb before it ("He meets Greta"): no pronoun, and no last word in lower case ending as verbs do.
        lead = before.rsplit(",", 1)[-1].split()
        verb_like = bool(lead) and lead[-1].islower() and lead[-1].endswith(("s", "ed"))
        main = not found and before.count(",") <= 1 and (
            len(lead) <= 3 and not verb_like
            and not {w.lower() for w in lead} & (_BEFORE_NON_SUBJECT | _SUBORDINATORS | _SUBJECT_PRONOUNS)
            or len(lead) == 1 and lead[0].lower() in _OPENERS)
        after = sentence[cursor:]
        if re.match(r"['’]s\b", after):
            continue  # a possessive: "Heseltine's interest"
        after = _PARENTHESIS.sub("", after, count=1)
        # Only the main clause's subject may have an apposition before its verb ("Tammy, a waitress, looks");
        # elsewhere a comma ends the phrase ("the owner of El Greco, is").
        rest = _OF_NAME.sub("", after.lstrip(" ,") if main else after.lstrip(" "), count=1)
        following = rest.split()[0] if rest.split() else ""
        if not following or not following[0].islower() or following.lower() in _NOT_A_VERB \
                or not main and following == "and":
            continue
        found.append((at, name, main, previous))
    # A capital that only opens the sentence, with a name a few words on, is a word describing that name
    # ("Shadow children's minister Tim Loughton said"): the name is the subject.
    if len(found) > 1 and found[0][0] == 0 and " " not in found[0][1] and found[0][1].split()[0] not in known \
            and len(sentence[:found[1][0]].split()) <= 4:
        at, name, _, previous = found[1]
        found = [(at, name, True, previous)] + found[2:]
    return found


def _fullest(name: str, seen: Sequence[str]) -> str:
    """The longest form of ``name`` said so far that opens or ends as it does ("Heseltine" -> "Philip Arnold
    Heseltine", "Sandra" -> "Sandra Walker")."""
    words = name.split()
    n = len(words)
    forms = [s for s in seen if len(s.split()) > n and (s.split()[-n:] == words or s.split()[:n] == words)]
    return max(forms, key=len) if forms else name


# A full stop with no space after it, between a word and a capital: two sentences joined ("critic.From the start"),
# as texts pasted from paragraphs often have. Not an initial or abbreviation ("U.S."): a lower-case letter before.
_JOINED = re.compile(r"(?<=[a-z][.!?])(?=[A-Z][a-z])")


def _sentences(text: str) -> list[Span]:
    """The sentences of ``text``, those joined without a space apart."""
    out = []
    for span in split_sentences(text):
        cuts = [0] + [m.start() for m in _JOINED.finditer(span.text)] + [len(span.text)]
        out += [Span(span.start + a, span.start + b, span.text[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)
                if b > a]
    return out


def _possessive(after: str) -> bool:
    """Whether "his" or "her" followed by ``after`` is a possessive before its noun ("her sister wants"), not a
    pronoun on its own ("the idea was his", "told her to")."""
    following = re.match(r" ([a-z][\w'’-]*)", after)
    return following is not None and following.group(1) not in _AFTER_OBJECT_HER


def pronoun_referents(text: str) -> list[tuple[int, int, str]]:
    """Each "he", "she" and possessive "his" and "her" of ``text`` that has a likely referent: (start, end, name).
    Only the safest guesses are made: the main subject of the pronoun's own sentence when it comes first
    ("Lindqvist met Berg, with whom he ..."), the subject of a clause a subordinator opens just before it ("when
    MacKay sets out, he ..."), else the subject of the last sentence that names anyone ("he" opening a sentence
    stands for that sentence's subject too). A name is "he" or "she" from the first pronoun that is taken to stand
    for it on, and a pronoun of the other kind passes it over. A possessive is given only a name that some "he" or
    "she" of the text stands for, of its own kind: the names a story's possessives could point at are many more
    than its people ("a band his classmates formed", after a sentence about Hooter College)."""
    found: list[tuple[int, int, str]] = []
    # Possessives with their candidates, given a name once the whole text has said who is "he" or "she".
    possessives: list[tuple[int, int, str, list[str | None]]] = []
    topics: list[str | None] = []  # each sentence's subject: its main clause's name, or whom its opening "He" is
    named: list[bool] = []  # whether each sentence names anyone
    seen: list[str] = []
    gender: dict[str, str] = {}
    # Words the text capitalises mid-sentence and never writes in lower case: names, not openers.
    common = {w.lower() for w in re.findall(r"[^\W\d_][\w'’-]*", text) if w[0].islower()} | _COMMON
    known = {words[0] for words, weight in weighed_names(text) if weight == 1.0 and words[0].lower() not in common}

    def previous_topic() -> str | None:
        """The subject of the last sentence that names anyone (within _LOOKBACK), if it has one."""
        for n in range(len(topics) - 1, max(-1, len(topics) - 1 - _LOOKBACK), -1):
            if topics[n] is not None or named[n]:
                return topics[n]
        return None

    for span in _sentences(text):
        # Whom a quotation names is not who says it: '"Haringey has far to go," he said.'
        masked = _QUOTED.sub(lambda m: " " * len(m.group()), span.text)
        subjects = _subjects(masked, known, common)
        main = next(((at, name) for at, name, is_main, _ in subjects if is_main), None)
        carried: str | None = None
        for match in _PRONOUN.finditer(span.text):
            word = match.group().lower()
            said = _PERSON_OF[word]
            possessive = word != said
            # A possessive is named at the end, once the whole text has said who is "he" or "she"; it is never
            # guessed before its own clause's main subject ("In his essay, Bulosan treats"), nor after a reported
            # clause's subject ("Loughton said Balls had promised much, but six months into his watch"), nor
            # inside a quotation, whose speaker is not its subject.
            if possessive and (not _possessive(span.text[match.end():])
                               or main is not None and main[0] > match.start() or masked[match.start()] == " "
                               or any(at < match.start() and before in _REPORTING for at, _, _, before in subjects)):
                continue
            candidates = [_fullest(name, seen) for at, name, is_main, before in reversed(subjects)
                          if at < match.start() and not is_main and before in _SUBORDINATORS]
            # A clause after a semicolon has its own subject ("Leila is brought in; Zurga is captivated as he
            # listens"); a pronoun in one without a subject goes on as below.
            clause = span.text.rfind(";", 0, match.start()) + 1
            own = next((name for _, name, is_main, _ in _subjects(
                masked[clause:match.start()].lstrip(), known, common) if is_main), None) if clause else None
            if own is not None:
                candidates.append(_fullest(own, seen))
            elif main is not None and main[0] < match.start():
                candidates.append(_fullest(main[1], seen))
            elif carried is not None:
                candidates.append(carried)
            else:
                candidates.append(previous_topic())
            if possessive:
                possessives.append((span.start + match.start(), span.start + match.end(), said, candidates))
                continue
            name = next((c for c in candidates if c is not None and gender.get(c, said) == said), None)
            if name is None:
                continue
            gender.setdefault(name, said)
            found.append((span.start + match.start(), span.start + match.end(), name))
            if carried is None and main is None and not span.text[:match.start()].strip():
                carried = name  # a sentence that opens with "He" is about the same person; one with "His" need not be
        names = [" ".join(words) for words in names_in(span.text)]
        seen += names
        topics.append(_fullest(main[1], seen) if main is not None else carried)
        named.append(bool(names))
    for start, end, said, candidates in possessives:
        name = next((c for c in candidates if c is not None and gender.get(c) == said), None)
        if name is not None:
            found.append((start, end, name))
    return sorted(found)


def annotate(document: str, start: int, end: int,
             referents: Sequence[tuple[int, int, str]] | None = None) -> str:
    """``document[start:end]`` with the likely referent after each pronoun guessed ("he (Heseltine)"), read
    from the whole document so that a passage's first pronoun can point before the passage (``referents``: those
    of ``pronoun_referents(document)``, when already found)."""
    out, cursor = [], start
    for p_start, p_end, name in pronoun_referents(document) if referents is None else referents:
        if p_start < start or p_end > end:
            continue
        contraction = re.match(r"['’](?:s|d|ll|ve)\b", document[p_end:end])
        if contraction:
            p_end += contraction.end()  # "she's (Sandra)", not "she (Sandra)'s"
        out.append(document[cursor:p_end])
        out.append(f" ({name})")
        cursor = p_end
    out.append(document[cursor:end])
    return "".join(out)


_ANNOTATED = re.compile(r"\b([Hh]e|[Ss]he|[Hh]is|[Hh]er) \(([A-Z][^()]*)\)")


def unannotated(reply: str) -> str:
    """A reply with each annotation the reader copied from its passages put as the name alone ("He (Sean)" ->
    "Sean", "his (Sean) band" -> "Sean's band"): the user's passages and the citations' quotes have no annotation."""
    return _ANNOTATED.sub(lambda m: m.group(2) + ("'s" if m.group(1).lower() in ("his", "her") else ""), reply)


class PronounReferents:
    """Whom each "he", "she", "his" and "her" of the indexed documents likely stands for, read once a document: the
    reader is shown passages with the names beside their pronouns, and the citation check counts a pronoun's name
    as said in its sentence, so that a reply naming whom "he" stands for cites the sentence that says what he did."""

    def __init__(self, document_text: Callable[[str], str]):
        self.document_text = document_text
        self._found: dict[str, tuple[str, list[tuple[int, int, str]]]] = {}

    def _of(self, doc_id: str) -> tuple[str, list[tuple[int, int, str]]]:
        if doc_id not in self._found:
            try:
                text = self.document_text(doc_id)
            except KeyError:  # removed from the index while a question was being answered
                return "", []
            self._found[doc_id] = (text, pronoun_referents(text))
        return self._found[doc_id]

    def names(self, doc_id: str, start: int, end: int) -> str:
        """The names the pronouns of ``document[start:end]`` stand for, space-separated ("" for none)."""
        return " ".join(dict.fromkeys(name for s, e, name in self._of(doc_id)[1] if start <= s and e <= end))

    def annotated(self, hit: Hit) -> str:
        """The passage's text with each pronoun's name beside it ("he (Heseltine) also gained ...")."""
        chunk = hit.chunk
        text, found = self._of(chunk.doc_id)
        if text[chunk.start:chunk.end] != chunk.text:
            return chunk.text
        return annotate(text, chunk.start, chunk.end, found)
