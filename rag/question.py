"""What a question asks for, read from its wording: the type of answer, whether it wants a list, and the names
and years it pins the answer to. The answer checks (rag/answer_check.py) hold a reply to these.

Deliberately shallow: a wh-phrase table, not a parser. Each signal is only used where a wrong reading costs
little (a retry with a hint, or a check that a name the question gives occurs in the cited document).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.text import DAY_NAMES, MONTH_NAMES, NUMBER_WORDS, STOPWORDS, stem, tokenize

# Which constraint checks run (settings.answer_checks); each names the failure kind it targets (issue 14):
# "type": a duration/number/date question answered with something else (a reason for "over what period");
# "year": the cited sentence states another year than the one the question asks about;
# "names": a name or body the question gives occurs in none of the cited documents (a trap about council A
# answered from council B's report); "title": the reply is a document's headline, not an answer.
# "focus": the cited sentence holds far less of the question than the closest sentence does (a near-fact pick);
# asked again on the close sentences, the better-grounded answer is kept.
# "count": a "how many X" question answered with a number that counts something else ("272 cases" for "how many
# social workers"; a near-fact pick, or an unanswerable question answered from a related number).
# "year_doc": no cited document states the year the question gives at all (a question about "the Act of 1989"
# answered from a document that never mentions 1989; the trap kind of "names", for years).
# "sibling": the cited sentence, or the reply itself, is about another of the names its document lists with the
# one the question gives ("councils in Rotherham, Calderdale and North Yorkshire": a question about Calderdale
# answered from a sentence about North Yorkshire; a trap answered about the wrong entity, the document naming
# both). Abstains without a retry: retries answered with the other name's facts again.
# "grounded": none of the reply's own words (those the question does not give) is in a cited sentence: the cited
# sentence supports the restated question, not the answer ("a rating of inadequate" cited from a sentence about
# "serious failings").
# "supported": the citation check kept no sentence of the reply (the model paraphrased past the passages, or
# answered from outside them); asked once more on the closest sentences, and the retry checked like any answer.
# "office": a "who is/was the <office>" question answered from sentences that never name that office (the
# council's Cabinet Member given for "who was the director"; a trap answered with another office's holder), or
# answered with no name at all ("Appointed in January").
# "restated_terse": a reply refused for only restating the question is asked once more, terse, on the same passages.
# "rating": a "what rating ..." question answered from sentences that state no rating (a trap answered with what
# the inspectors found instead).
ANSWER_CHECKS = ("type", "year", "names", "title", "focus", "count", "year_doc", "sibling", "grounded", "supported",
                 "name_part", "other_person", "concise", "office", "restated_terse", "rating")

# Expected answer types, checked in this order (a "how long" question is a duration, not a number).
_TYPE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("duration", re.compile(
        r"\bhow long\b|\b(?:over|for|during|in) (?:what|which|how long an?) (?:period|time|length|timescale|span)\b"
        r"|\bwhat (?:period|length of time|timescale|time ?span)\b", re.IGNORECASE)),
    # "how much" only for money or a count ("how much progress" asks for a judgement, not a number).
    ("number", re.compile(
        r"\bhow (?:many|old)\b|\bhow much (?:money|cash|funding|did|does|do|was|is|were|will|has|had)\b"
        r"|\bwhat (?:number|percentage|proportion|share|age|amount|total|sum)\b"
        # "the number of ..." asks for one; "a number of", "a large number of" only mean "several".
        r"|(?<!\ba )(?<!\blarge )(?<!\bgreat )(?<!\bsmall )\bnumber of\b", re.IGNORECASE)),
    ("date", re.compile(
        r"^\W*(?:and |so |then )?when\b|\bwhen (?:did|was|were|is|will|had|has|does|do|are)\b|\bby when\b"
        r"|\bsince when\b|\b(?:what|which) (?:year|month|months|date|day|time of year)\b|\bin what year\b",
        re.IGNORECASE)),
)

# A question wants several things: "which councils", "who were", "name the ...", "list ...".
_PLURAL_WH = re.compile(r"\b(?:which|what)\s+(?:other\s+|two\s+|three\s+|four\s+|five\s+|new\s+|main\s+|key\s+)?"
                        r"([a-z]+s)\b", re.IGNORECASE)
_LIST_CUES = re.compile(r"\bwho (?:were|are)\b|\bname (?:the|all|every|both)\b|^\W*list\b|\blist (?:the|all|every)\b"
                        r"|\bwhat (?:were|are) the\b|\bwhich (?:were|are) the\b", re.IGNORECASE)
# Words ending in s that are not plural nouns after "which"/"what".
_NOT_PLURAL = {"is", "was", "has", "does", "this", "its", "his", "hers", "us", "yes", "as", "whereas", "thus",
               "progress", "process", "business", "status", "address", "access", "success", "loss", "news",
               "analysis", "basis", "crisis", "focus", "bus", "class", "less", "unless", "across", "always",
               "plus", "virus", "series", "species", "means"}

YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")  # a four-digit year, 1800-2099
_CAPITALISED = re.compile(r"\b[A-Z][A-Za-z'-]*[A-Za-z]|\b[A-Z]{2,}\b")
# Capitalised words that are not names: question words, and words a question starts with.
NOT_NAMES = STOPWORDS | {
    "who", "whom", "whose", "what", "which", "when", "where", "why", "how", "name", "list", "give", "tell", "say",
    "describe", "explain", "according", "did", "does", "do", "was", "were", "is", "are", "has", "had", "have",
    "can", "could", "would", "should", "will", "i", "ok", "okay", "please", "and", "so", "then", "also",
    # prepositions a question may open with ("During which song ...", "Following the inspection, ...")
    "across", "among", "behind", "besides", "between", "beyond", "despite", "during", "following", "regarding",
    "since", "throughout", "until", "upon", "within", "without", "apart", "aside", "except", "excluding",
    "including", "unlike", "compared", "alongside", "beside", "concerning", "considering", "overall",
    # instructions a question may open with ("Compare ...", "Summarise ...")
    "compare", "contrast", "summarise", "summarize", "identify", "outline", "state", "find", "show", "provide",
    "mention", "specify", "discuss", "detail", "define", "recommend", "suggest", "estimate", "calculate", "count",
    "quote", "cite", "check", "confirm", "briefly", "roughly", "approximately", "exactly", "specifically",
}


@dataclass(frozen=True)
class QuestionProfile:
    answer_type: str | None  # "duration", "number", "date", or None (no checkable type)
    wants_list: bool
    names: tuple[str, ...]  # capitalised words the question pins the answer to (lower case, no possessive)
    years: tuple[str, ...]


def expected_type(question: str) -> str | None:
    for name, pattern in _TYPE_PATTERNS:
        if pattern.search(question):
            return name
    return None


# "how many [of the] <what is counted> <verb or preposition> ...": the words naming what is counted.
_HOW_MANY = re.compile(r"\bhow many\s+(?:of\s+(?:the|its|their|his|her|these|those)\s+)?"
                       r"((?:[^?.,;:!]|(?<=\d)[.,](?=\d))*)", re.IGNORECASE)
# Words skipped before the counted noun ("how many more staff", "how many other councils").
_COUNT_MODIFIERS = frozenset({"more", "other", "further", "fewer", "less"})
# Words that end the counted noun phrase besides STOPWORDS (which hold the auxiliaries and most prepositions).
_PHRASE_END = frozenset("""during following across since per between within among without towards toward via
    like near inside outside around beyond upon until throughout against""".split())


def counted_words(question: str) -> tuple[str, ...]:
    """The words naming what a "how many" question counts ("How many extra social workers will Sheffield hire?"
    -> extra, social, workers); () when it names nothing ("how many raised concerns?", "out of how many?")."""
    match = _HOW_MANY.search(question)
    if not match:
        return ()
    words: list[str] = []
    for token in tokenize(match.group(1)):
        if not words and token in _COUNT_MODIFIERS:
            continue
        # A past-tense verb ends the phrase ("how many volunteers worked ..."); first, it means the question
        # counts a subject it leaves out ("how many raised concerns?"), or an "-ed" adjective that cannot be told
        # apart from one: nothing to check.
        if token in STOPWORDS or token in _PHRASE_END or token.endswith("ed"):
            if not words:
                return ()
            break
        if not token[0].isdigit():
            words.append(token)
    return tuple(words)


# Count nouns too general to say what a number must stand beside ("how many people": "75,000 workers").
_GENERIC_COUNTED = frozenset({"people", "persons", "person", "times", "things", "ones", "individuals"})


def counted_terms(question: str) -> tuple[str, ...]:
    """The stems of ``counted_words``, for matching; () when what is counted is too general to check."""
    words = counted_words(question)
    if any(w in _GENERIC_COUNTED for w in words):
        return ()
    return tuple(stem(w) for w in words)


def wants_list(question: str) -> bool:
    if _LIST_CUES.search(question):
        return True
    for match in _PLURAL_WH.finditer(question):
        word = match.group(1).lower()
        if word not in _NOT_PLURAL and not word.endswith(("ss", "us", "is")):
            return True
    return False


def question_names(question: str) -> tuple[str, ...]:
    """Capitalised words other than question words; the first word counts only when it is no common word
    (so "Sheffield examined how many cases?" keeps Sheffield, "Name the councils" drops Name)."""
    names: list[str] = []
    for match in _CAPITALISED.finditer(question):
        word = re.sub(r"'s?$", "", match.group()).lower()
        if word in NOT_NAMES:
            continue
        names.extend(t for t in tokenize(word) if len(t) >= 2 and t not in NOT_NAMES and t not in names)
    return tuple(names)


# Capitalised words that name an office rather than who holds it or where ("Sefton's Cabinet Member", "the Acting
# Executive Director"). A question about one council's office holder is about that council: another council's
# report that has a "Cabinet Member" answers no part of it.
OFFICE_WORDS = frozenset("""acting assistant cabinet chair chairman chairperson chairwoman chief commissioner councillor
    deputy director editor executive governor head inspector interim leader manager mayor member minister officer
    president principal secretary senior spokesman spokesperson spokeswoman vice""".split())


def proper_names(question: str) -> tuple[str, ...]:
    """``question_names`` without the words of an office (``OFFICE_WORDS``): the names a question may be split
    by, one document per name."""
    return tuple(name for name in question_names(question) if name not in OFFICE_WORDS)


# Words of an office that say which holder, not which office ("the acting director" is a director).
_OFFICE_MODIFIERS = frozenset({"acting", "interim", "senior", "deputy", "vice", "assistant", "principal"})
# "Who is/was ...", "Who was appointed (as) ...", "What is the name of ...": the forms that ask for the holder of
# what follows. Being appointed, named or elected to an office is holding it ("Who was appointed as the trust's new
# director?"), and "the name of the head of ..." asks for the head, but only when the office comes first: in "the
# name of the company Britten became a member of" the name asked for is the company's.
_WHO_HOLDS = re.compile(
    r"^\W*(?:who\s+(?:is|was|are|were|has been|had been|have been|became)"
    r"(?:\s+(?:appointed|named|made|elected|chosen|selected|promoted|hired|recruited|installed)(?:\s+as)?)?"
    r"|(?P<name_of>(?:what|which)\s+(?:is|was)\s+the\s+(?:full\s+)?name\s+of))\s+(?P<rest>.+)",
    re.IGNORECASE)
_ARTICLES = frozenset({"the", "a", "an"})
_TITLE_JOINERS = frozenset({"and", "of", "for"})
_RELATIVES = frozenset({"who", "whom", "that", "which"})


def asked_office(question: str) -> str:
    """The office a "who is/was ..." question asks the holder of, as its head word in the singular ("Who is
    Sefton's interim director of children's services?" -> "director", "Who was the Chief Executive?" ->
    "executive"); "" when it asks for no office: another noun, an office that titles a name ("Who is Inspector
    Webster working with?"), or one after a preposition or a verb ("Who became close to President Toure?")."""
    found = _WHO_HOLDS.match(question)
    if not found:
        return ""
    head = ""
    words = found["rest"].split()[:8]
    for at, word in enumerate(words):
        bare = word.strip("?,.;:!\"()")
        token = bare.lower()
        if token.endswith(("'s", "\u2019s", "'")):
            head = ""  # what came before was the owner: "the Tromso Choir's chief executive"
            continue
        singular = token[:-1] if token.endswith("s") and token[:-1] in OFFICE_WORDS else token
        if singular in OFFICE_WORDS:
            head = singular if singular not in _OFFICE_MODIFIERS else head
            continue
        if head and token in _RELATIVES and found["name_of"]:
            # "the name of the mayor that took the position after ...": a person told by a deed; the office is
            # part of the description, and the sentence naming the person need not say it (Quoref q5705).
            return ""
        if head:
            return "" if bare[:1].isupper() and token not in STOPWORDS else head  # a title before a name
        if found["name_of"] and token not in _ARTICLES and not bare[:1].isupper():
            return ""  # "the name of the band whose members ...": the name asked for is the band's
        # A capitalised title holds "and"/"of" ("Policy and Improvement Officer"); elsewhere a function word
        # before any office means the office is not what is asked for ("close to President Toure").
        titled = token in _TITLE_JOINERS and at + 1 < len(words) and words[at + 1][:1].isupper()
        if token in STOPWORDS and token not in _ARTICLES and not titled:
            return ""
    return head


def _office_stems(office: str) -> tuple[str, ...]:
    # The office's verb and noun forms count: "directed by", "the manager", "led by" for a leader.
    root = re.sub(r"(?:or|er|ary)$", "", office)
    root = root if len(root) >= 4 else office
    return (root, "led") if office == "leader" else (root,)


# A question asking for a rating or a judgement: "What (overall) rating/grade/judgement ...", "How was the service
# rated?", "How did critics rate ...?". Not one that names a rating to pick something else by ("Which council was
# rated good?": the name answering it is often in a heading, and the sentence stating the rating says "the
# service"), nor "Which newspaper reported the rating?", nor "the rate of progress". In lower case only: "Rated R"
# and "Grade II" are names.
_ASKS_RATING = re.compile(
    r"\b(?:[Ww]hat|[Ww]hich)\s+(?:[A-Za-z'’]+\s+){0,2}(?:ratings?|grades?|judge?ments?)\b"
    r"|\b[Hh]ow\s+(?:was|were|is|are|had|has|have|did|do|does|would)\b.{0,60}\b(?:rated|rate|graded|grade|judged)\b")
# What states a rating: the words for rating, or a grade on the common scales (Ofsted's four, school reports,
# reviews).
_STATES_RATING = re.compile(r"\brat(?:ed|ing|ings)\b|\bgrade[ds]?\b|\bjudge?(?:d|ment|ments)\b|\boutstanding\b"
                            r"|\bgood\b|\brequir(?:es|ing) improvement\b|\bneed(?:s|ing|ed) improvement\b"
                            r"|\binadequate\b|\bsatisfactory\b|\bpoor\b|\bexcellent\b|\badequate\b|\bstars?\b",
                            re.IGNORECASE)


def asks_rating(question: str) -> bool:
    """Does the question ask for a rating or a judgement (``_ASKS_RATING``), and not for when or how many ("In
    what year was the service rated inadequate?")?"""
    return bool(_ASKS_RATING.search(question)) and expected_type(question) is None


def states_rating(text: str) -> bool:
    """Does the text state a rating: the word for one, or a grade ("good", "inadequate", "requires improvement")?"""
    return bool(_STATES_RATING.search(text))


def names_office(office: str, text: str) -> bool:
    """Does the text use the word for the office ``office`` (``asked_office``), as a noun or a verb?"""
    stems = _office_stems(office)
    return any(token.startswith(stems) for token in tokenize(text))


# Names joined by "and"/"or"/commas ("Sheffield and Sefton", "the Halden Orchestra or the Tromso Choir"): a
# reply about one of them answers the question, so the names check asks for one of the group, not all.
_NAME_PHRASE = r"(?:the\s+)?[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*"
_COORDINATED = re.compile(rf"{_NAME_PHRASE}(?:\s*,\s*{_NAME_PHRASE})*\s*,?\s+(?:and|or|&)\s+{_NAME_PHRASE}")
_COORDINATOR = re.compile(r"\s*,\s*|\s+(?:and|or|&)\s+")


def name_groups(question: str) -> tuple[tuple[tuple[str, ...], ...], ...]:
    """The names a reply's documents must hold, as groups: a group holds when one of its alternatives (a name,
    as its words) is held whole. A coordinated list of names is one group; every other name word is a group of
    its own ("Sheffield and Sefton's Ofsted rating" -> ((sheffield,), (sefton,)), ((ofsted,),))."""
    groups: list[tuple[tuple[str, ...], ...]] = []
    grouped: set[str] = set()
    for match in _COORDINATED.finditer(question):
        alternatives = tuple(alt for alt in (question_names(part) for part in _COORDINATOR.split(match.group()))
                             if alt)
        if len(alternatives) >= 2:
            groups.append(alternatives)
            grouped.update(n for alt in alternatives for n in alt)
    groups.extend(((name,),) for name in question_names(question) if name not in grouped)
    return tuple(groups)


def choice_groups(question: str) -> tuple[tuple[tuple[str, ...], ...], ...]:
    """The coordinated lists of names a question offers as choices ("Rotherham, Calderdale or North Yorkshire")."""
    return tuple(group for group in name_groups(question) if len(group) >= 2)


def profile(question: str) -> QuestionProfile:
    return QuestionProfile(expected_type(question), wants_list(question), question_names(question),
                           tuple(dict.fromkeys(YEAR.findall(question))))


def invented_terms(rewrite: str, question: str, history: Sequence[tuple[str, str]]) -> list[str]:
    """Names, years and numbers of a rewritten follow-up that the conversation (earlier questions and answers,
    and the follow-up itself) never mentions."""
    said = " ".join([question, *(f"{q} {a}" for q, a in history)])
    known = {stem(t) for t in tokenize(said)}
    out = []
    for term in (*question_names(rewrite), *_NUMERIC.findall(rewrite)):
        if stem(term.lower()) not in known and term not in out:
            out.append(term)
    return out


def name_tokens(text: str) -> set[str]:
    """The stems of a text's words, for ``mentions``."""
    return {stem(t) for t in tokenize(text)}


def mentions(tokens: set[str], name: str) -> bool:
    """Does a text (its ``name_tokens``) name ``name``: the same stem, or one letter off for a name of six
    letters or more (a typo in the question)?"""
    if stem(name) in tokens:
        return True
    return len(name) >= 6 and bool(difflib.get_close_matches(name, tokens, n=1, cutoff=0.85))


def topic_of(question: str) -> str:
    """What a question is about, for a follow-up that lost it: its names and years as written, else its content
    words ("When was the Halden Orchestra founded?" -> "Halden Orchestra")."""
    names = set(question_names(question)) | set(YEAR.findall(question))
    words = re.findall(r"[\w'-]+", question)
    kept = [w for w in words if re.sub(r"'s?$", "", w).lower() in names]
    if not kept:
        kept = [w for w in words if w.lower() not in NOT_NAMES]
    return " ".join(kept)


# The frame a question names its answer's kind with ("What is the first name of the person who ...", "What's the
# name of the ..."): words about the kind of answer, not about the topic. In the keyword (BM25) query they match
# every passage that says "first" or "name" and outvote the question's own words (docs/decisions.md, "A
# question's answer frame is not a keyword").
_PERSON_NOUNS = r"person|people|man|men|woman|women|boy|girl|character|characters|individual|one|ones"
_ANSWER_FRAME = re.compile(
    r"^\s*(?P<opening>what|who|which)(?:['’]s|\s+is|\s+was|\s+are|\s+were)?\s+(?:the\s+)?"
    r"(?:(?P<part>first|last|full|real|maiden|nick|sur|given)\s*)?names?\s+of\s+(?:the\s+)?"
    rf"(?:(?P<noun>{_PERSON_NOUNS})\s+)?(?P<relative>who|whom|whose|that|which)?\b", re.IGNORECASE)


def keyword_query(question: str) -> str:
    """The question without its answer frame, for the keyword search ("What is the first name of the person who
    painted the mayor?" -> "painted the mayor?"); the question itself when nothing else is left."""
    rest = _ANSWER_FRAME.sub("", question, count=1).strip()
    return rest if re.search(r"\w", rest) else question


# A question that asks for part of the name of someone it describes, as the reader is asked it ("ask_who"): "What
# is the last name of the person who offered the song to Tom Jones?" -> "Who is the person who offered the song to
# Tom Jones?". Failure kind: near-fact pick, the wrong person. Asked for a "last name", the 1.5B reader picks a
# surname-like word from the passages, often another person's; asked "who", it names the person in full, and the
# name part is cut in code (rag/name_parts.py). docs/decisions.md, "The reader is asked who". It is the answer frame
# above with a person noun and a relative pronoun; not "Which ...", and not a nickname (a nickname is not the
# person's name, so "who" would ask for something else).
_WHO_RELATIVES = frozenset({"who", "whom", "whose", "that"})
_PLURAL_PERSON_NOUNS = frozenset({"people", "men", "women", "characters", "ones"})


def who_question(question: str) -> str:
    """The question as the reader is asked it when it asks for part of a described person's name ("What is the
    first name of the person who painted the mayor?" -> "Who is the person who painted the mayor?"); any other
    question comes back unchanged."""
    found = _ANSWER_FRAME.match(question)
    if (not found or not found["noun"] or (found["relative"] or "").lower() not in _WHO_RELATIVES
            or found["opening"].lower() == "which" or (found["part"] or "").lower() == "nick"):
        return question
    noun = found["noun"]
    verb = "are" if noun.lower() in _PLURAL_PERSON_NOUNS else "is"
    return f"Who {verb} the {noun} {found['relative']}{question[found.end():]}"


_NUMERIC = re.compile(r"\b\d+(?:[.,]\d+)*\b")


# --- does a text hold an answer of a type? -------------------------------------------------------------------

_MONTHS = MONTH_NAMES + tuple("jan feb mar apr jun jul aug sep sept oct nov dec".split())
_DATE_WORDS = re.compile(
    r"\b(?:" + "|".join(_MONTHS + DAY_NAMES) + r"|spring|summer|"
    r"autumn|winter|yesterday|today|tomorrow)\b|\b(?:1[89]\d\d|20\d\d)s?\b"
    r"|\b(?:last|next|this|earlier this|later this|previous|following) (?:year|month|week|day|spring|summer|"
    r"autumn|winter)\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b", re.IGNORECASE)
# Words that state a quantity: the numbers (rag/text.py) but zero, then vaguer counts; "a"/"an" last (a duration
# may open with them, a number may not).
_NUMBER_WORDS = [w for w, n in NUMBER_WORDS.items() if n] + "dozen dozens several few couple half a an".split()
_DURATION = re.compile(
    r"\b(?:\d+(?:[.,]\d+)?|" + "|".join(_NUMBER_WORDS) + r")(?:[\s-]+(?:and a half|or so|more))?[\s-]+"
    r"(?:years?|months?|weeks?|days?|hours?|minutes?|decades?|centuries|century)\b"
    r"|\b(?:years|months|weeks|decades)\b|\bbetween \w+ and \w+\b|\bfrom \w+ (?:to|until|till) \w+\b"
    r"|\bsince\b|\buntil\b", re.IGNORECASE)
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)*\b|\b(?:" + "|".join(_NUMBER_WORDS[:-2]) + r")\b", re.IGNORECASE)


def has_type(text: str, answer_type: str | None) -> bool:
    """Does ``text`` hold something of ``answer_type``? (Always true for no type.)"""
    if answer_type == "duration":
        return bool(_DURATION.search(text))
    if answer_type == "number":
        return bool(_NUMBER.search(text))
    if answer_type == "date":  # "in six months' time" answers "when" too
        return bool(_DATE_WORDS.search(text) or _DURATION.search(text))
    return True


TYPE_HINTS = {
    "duration": "Answer with a length of time.",
    "number": "Answer with a number.",
    "date": "Answer with a date or time.",
}
