"""A question typed without capitals ("who inspected sheffield's children's services?"), or all in capitals, read
with the capitals its passages write.

The question's names are its capitalised words (``rag/question.py``), and the names, sibling and office checks,
the per-document split and the relevance gate's exact-name evidence all read them: a lower-case question has none,
so none of those acts on it. Retrieval reads no capitals (the default embedder and BM25 are uncased), and the
passages it finds say how each of the question's words is written: a word they write capitalised mid-sentence in
at least three of its four uses ("Sheffield", "Ofsted", "SEND") is a name, and is written so in the question the
pipeline reads.
Failure kind: a trap or a two-name question typed in lower case, answered as if it named nothing
(docs/decisions.md, "A lower-case question read with the documents' capitals").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from rag.question import NOT_NAMES, OFFICE_WORDS

_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*[A-Za-z]|[A-Za-z]")
# What ends a sentence (or a heading line) before a word, or opens a quotation: the next word's capital says
# nothing about whether it is a name.
_SENTENCE_BREAK = re.compile(r"[.!?\n\"\u201c\u2018]")
_POSSESSIVE = re.compile(r"(?:'s|\u2019s|'|\u2019)$")


def needs_case(question: str) -> bool:
    """Was the question typed without capitals (not even its first letter), or all in capitals ("WHO INSPECTED
    SHEFFIELD?")? A question that capitalises its first word is read as typed: of the 2,416 such Quoref questions
    outside the report sample (capitals on the first word only), restoring would change 89, nearly all wrongly
    ("the Full names", "a toy Maker"): their writers capitalise names. One word has nothing to restore."""
    words = _WORD.findall(question)
    if len(words) < 2:
        return False
    letters = "".join(words)
    return letters.isupper() or letters.islower()


def written_forms(words: Iterable[str], passages: Iterable[str]) -> dict[str, Counter[str]]:
    """How the passages write each of ``words`` (lower case) where its capital is not a sentence's: every form
    seen mid-sentence, counted."""
    wanted = {w.lower() for w in words}
    forms: dict[str, Counter[str]] = {w: Counter() for w in wanted}
    for text in passages:
        previous_end = 0
        for match in _WORD.finditer(text):
            word = _POSSESSIVE.sub("", match.group())
            key = word.lower()
            gap = text[previous_end:match.start()]
            initial = previous_end == 0 or bool(_SENTENCE_BREAK.search(gap))
            previous_end = match.end()
            if key in forms and not initial:
                forms[key][word] += 1
    return forms


# A word is a name when at most this share of its mid-sentence uses in the passages is lower case. Against the
# typed questions' names, 0.25 found more than 0 (never lower case) for little precision: recall 0.82 -> 0.88 on
# the seeds and fresh questions, 0.70 -> 0.78 on Quoref; precision 0.98 -> 0.94 and 0.98 -> 0.98.
# docs/decisions.md, "A lower-case question read with the documents' capitals".
LOWER_SHARE = 0.25


def restore_case(question: str, passages: Iterable[str], *, lower_share: float = LOWER_SHARE) -> str:
    """The question with each word that the passages write capitalised mid-sentence (at most ``lower_share`` of
    its uses in lower case) written as they most often write it, and its first letter a capital. Question words,
    function words and the words of an office ("the cabinet member": a title, which the office check reads) stay
    as typed. The question is unchanged when it has its capitals already (``needs_case``); an all-capitals question
    is read in lower case first."""
    if not needs_case(question):
        return question
    shouting = "".join(_WORD.findall(question)).isupper()
    text = question.lower() if shouting else question
    words = (_POSSESSIVE.sub("", m.group()).lower() for m in _WORD.finditer(text))
    forms = written_forms((w for w in words if len(w) >= 2 and w not in NOT_NAMES and w not in OFFICE_WORDS),
                          passages)

    def written(match: re.Match[str]) -> str:
        token = match.group()
        bare = _POSSESSIVE.sub("", token)
        seen = forms.get(bare.lower())  # none for the words left as typed
        if not seen:
            return token
        lower = seen.get(bare.lower(), 0)
        capitalised = [(count, form) for form, count in seen.items() if form[:1].isupper()]
        total = lower + sum(count for count, _ in capitalised)
        if not capitalised or lower > lower_share * total:
            return token
        form = max(capitalised)[1]
        return form + token[len(bare):]

    restored = _WORD.sub(written, text)
    # Read as if typed with care, its first letter a capital too: of 88 tune questions read as typed but for that
    # one letter, 15 replies changed, 6 from right to wrong and none the other way.
    return restored[:1].upper() + restored[1:]
