"""Text normalisation, sentence splitting and tokenisation shared by chunker, retriever and citations."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Characters the seeds (and much web text) carry that would otherwise defeat matching and offsets.
_CHAR_MAP = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
        "\u2022": "-", "\u00b7": "-", "\u25cf": "-", "\u25aa": "-", "\u2023": "-", "\u2043": "-",
        "\u00ad": None, "\u200b": None, "\u200c": None, "\u200d": None, "\ufeff": None,
        "\u2026": "...",
    }
)
# The calendar's names, in lower case: capitalised, they are no one's name.
MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
               "november", "december")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Numbers written as words and their values: the one table that citations (number agreement), the question
# profile (numbers and durations) and the eval metrics (spelled-out gold answers) read. "one" is more often a
# pronoun ("every one of") than a count, so the citation check and the metrics leave it out.
NUMBER_WORDS: dict[str, int] = {
    **{w: n for n, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                  "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split())},
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000,
}
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def normalize_text(text: str) -> str:
    """NFKC (non-breaking spaces become spaces), straight quotes and dashes, bullets as '-',
    runs of spaces collapsed, blank-line runs reduced to one paragraph break, lines stripped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "coun", "cllr", "st", "rev", "sr", "jr", "no", "vs", "etc",
    "e.g", "i.e", "inc", "ltd", "co", "gov", "dept", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "fig", "al", "u.s", "u.k",
}
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s+|$)")


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Split into sentences with character spans. Line breaks always end a sentence (the seeds put one
    paragraph per line and headings on their own line)."""
    spans: list[Span] = []
    pos = 0
    for line in re.finditer(r"[^\n]+", text):
        line_start, line_text = line.start(), line.group()
        cursor = 0
        for m in _SENTENCE_END.finditer(line_text):
            end = m.end()
            before = line_text[cursor : m.start()].split()
            last_word = before[-1].lower().rstrip(".") if before else ""
            if m.group().startswith(".") and len(m.group().rstrip("\"')]")) == 1:
                if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
                    continue
                # "3.5" style decimals never match (no whitespace after); next word lower-case = no break.
                rest = line_text[end:].lstrip()
                if rest and rest[0].islower():
                    continue
            _add(spans, text, line_start + cursor, line_start + end, offset)
            cursor = end
        _add(spans, text, line_start + cursor, line_start + len(line_text), offset)
        pos = line.end()
    del pos
    return spans


def _add(spans: list[Span], text: str, start: int, end: int, offset: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append(Span(start + offset, end + offset, text[start:end]))


_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")

STOPWORDS = frozenset(
    """
    a an and are as at be been being but by did do does doing for from had has have having he her
    hers him his how i if in into is it its itself me my of on or our ours she so than that the
    their theirs them then there these they this those to too us was we were what when where which
    while who whom why will with would you your yours can could should shall may might must also
    about after before over under again any all both each few more most other some such only own
    same just very not no nor up down out off once here s t don
    """.split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased word and number tokens (numbers keep their separators: '1,000', '3.5')."""
    return _TOKEN.findall(text.lower())


def content_tokens(text: str) -> list[str]:
    return [t for t in tokenize(text) if t not in STOPWORDS]


@functools.lru_cache(maxsize=1 << 18)  # words repeat: BM25 tokenising runs 1.4x faster (Quoref passages)
def stem(token: str) -> str:
    """A deliberately light suffix stripper: enough to match 'cases'/'case', 'examined'/'examine'."""
    for suffix in ("ings", "ing", "ies", "ied", "es", "ed", "s"):
        if len(token) > len(suffix) + 2 and token.endswith(suffix):
            base = token[: -len(suffix)]
            return base + "y" if suffix in ("ies", "ied") else base
    # 'case'/'cases' -> 'cas', 'examine'/'examined' -> 'examin': a final silent e must not block a match.
    if len(token) > 4 and token.endswith("e"):
        return token[:-1]
    return token
