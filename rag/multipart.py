"""Questions about several things at once, answered one document at a time.

Given passages from two documents and a question about both ("how many cases did the review examine, and what
rating did Ofsted give?"), the 1.5B model answers from one document and ignores the other (1 of 6 multi-document
seed questions right with one prompt; docs/decisions.md, "Per-document answers"). Asked once per document, with
only that document's passages, it answers each side; the replies are joined, declined ones dropped, and the
joined answer goes through the same citation check as any other, so a part one document does not support is
dropped there.

Which questions: the wording says so: a count of things ("two", "both", "each"), a comparison ("compared with",
"versus"), or a second question joined to the first (", and what ..."). Plain questions keep the single prompt
(one generation, lower latency), and so do questions whose only cues are counts inside the clause that describes
the one person or thing asked for ("What is the first name of the person who launched two perfumes?"): per
document, such a question came back as one name per document (docs/decisions.md, "One answer for a question
about one thing").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.prompts import is_decline
from rag.types import Hit

# "two"/"three" ask about several things ("which two councils", "what were the three years that ..."), except in
# a span of time ("over the last two years", "two months before"), which is one thing; "each other" is one
# relation, not one question per party. (Compounds such as "a two-month expedition" were measured too and stay
# multi-part: docs/decisions.md.)
_SPAN_OF_TIME = r"\s+(?:\w+\s+)?(?:years?|months?|weeks?|days?|decades?|hours?|minutes?|centuries|times|seasons?)\b"
_MULTI_PART = re.compile(
    rf"(?:(?<=\bthe )|(?<=\bwhich )|(?<=\bwhat ))(?:two|three)\b|\b(?:two|three)\b(?!{_SPAN_OF_TIME})"
    r"|\beach\b(?!\s+other\b)"
    r"|\b(?:both|respectively|versus|vs\.?|compared?\s+(?:with|to)|comparison|difference between)\b"
    r"|[,;]\s*and\s+(?:how|what|who|whom|which|when|where|why)\b",
    re.IGNORECASE,
)
_END = re.compile(r"[.!?][\"')\]]*$")


# A count inside a clause that describes one person or thing asks for one answer: "What is the first name of the
# person who launched two fragrances?", "What is the last name of the person whose opinions on both music and the
# visual arts ...?". The question's head is singular ("what/which ... is/was", "who is/was/has/does") and every cue
# is a count word after its relative pronoun.
_ONE_THING = re.compile(r"^\W*(?:(?:what|which)(?:\s+[\w'’-]+)?\s+(?:is|was)|what['’]s|who\s+(?:is|was|has|does))\b",
                        re.IGNORECASE)
_COUNT_WORD = re.compile(r"two|three|both|each", re.IGNORECASE)
_RELATIVE = re.compile(r"\s(?:who|whom|whose|that|which|where)\s", re.IGNORECASE)


def is_multi_part(question: str) -> bool:
    cues = list(_MULTI_PART.finditer(question))
    return bool(cues) and not _counts_describe_one_thing(question, cues)


def _counts_describe_one_thing(question: str, cues: Sequence[re.Match[str]]) -> bool:
    relative = _RELATIVE.search(question)
    if relative is None or not _ONE_THING.search(question):
        return False
    return all(_COUNT_WORD.fullmatch(cue.group(0)) and cue.start() > relative.start() for cue in cues)


# "two"/"three" as the number of things asked for ("Which two councils ...", "the names of the three people who
# ..."); a multi-part question whose every cue is one of these can be answered in full by one document.
_COUNTS = {"two": 2, "three": 3}


def asked_count(question: str) -> int | None:
    """How many things a multi-part question asks for, when its only multi-part cues are that number ("What are
    the last names of the two officers who ...?" -> 2); None when a cue asks for more than a count (a comparison,
    "each", "both", a second question)."""
    cues = [cue.group(0).lower() for cue in _MULTI_PART.finditer(question)]
    if not cues or any(cue not in _COUNTS for cue in cues):
        return None
    return max(_COUNTS[cue] for cue in cues)


# Where one item of an answer ends: a sentence end, a comma (", and" included), a bare "and" or a semicolon.
_ITEM_BREAK = re.compile(r"[.;!?]\s+|,\s*(?:and\s+)?|\s+and\s+|[.;!?]$")


def given_items(answer_text: str) -> int:
    """How many things an answer gives: its sentences, and the parts a comma, "and" or a semicolon joins within
    them ("McCall and Roper [1]." -> 2), each holding a content word."""
    from rag.citations import strip_markers, terms

    parts = _ITEM_BREAK.split(strip_markers(answer_text))
    return sum(1 for part in parts if terms(part))


def per_document_passages(hits: Sequence[Hit], *, from_top: int, max_documents: int,
                          per_document: int, documents: Sequence[str] = ()) -> list[tuple[Hit, ...]]:
    """Passage groups, one per document: ``documents`` when given, else the documents of the ``from_top`` best
    hits (in rank order; at most ``max_documents`` either way), each with its own best ``per_document`` hits from
    the whole ranked list."""
    documents = list(documents)
    if not documents:
        for hit in hits[:from_top]:
            if hit.chunk.doc_id not in documents:
                documents.append(hit.chunk.doc_id)
    groups = []
    for doc_id in documents[:max_documents]:
        own = [h for h in hits if h.chunk.doc_id == doc_id][:per_document]
        groups.append(tuple(own))
    return groups


def join_replies(replies: Sequence[str]) -> str:
    """One answer from per-document replies: declines dropped, repeats dropped, each part a sentence. When
    every part declined, the first decline (so the answer check abstains)."""
    kept: list[str] = []
    seen: set[str] = set()
    for reply in replies:
        text = " ".join(reply.split())
        key = text.lower().rstrip(".!? ")
        if not text or is_decline(text) or key in seen:
            continue
        seen.add(key)
        kept.append(text if _END.search(text) else text + ".")
    if not kept:
        return replies[0] if replies else ""
    return " ".join(kept)


def merge_items(first: str, more: str) -> str:
    """A first answer with the lines of a second listing that name something it does not (by content terms)."""
    from rag.citations import terms

    have = terms(first)
    added = []
    for line in more.splitlines():
        new = terms(line) - have
        if new and not is_decline(line):
            added.append(line)
            have |= terms(line)
    if not added:
        return first
    return "\n".join([first.strip(), *added])
