"""Metrics: retrieval (recall@k, MRR, nDCG@10), answers (exact match, token F1, contains-answer),
citations (ALCE-style precision and recall) and abstention. Pure functions over plain data."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence

from rag.citations import numbers, strip_markers, terms
from rag.text import NUMBER_WORDS

# --- retrieval -----------------------------------------------------------------------------------------


def recall_at(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """1 if any gold document is in the top k (the usual single-gold QA definition), else 0."""
    return float(bool(gold & set(ranked[:k])))


def mrr(ranked: Sequence[str], gold: set[str], k: int = 10) -> float:
    return next((1.0 / i for i, d in enumerate(ranked[:k], start=1) if d in gold), 0.0)


def ndcg_at(ranked: Sequence[str], gold: set[str], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(i + 1) for i, d in enumerate(ranked[:k], start=1) if d in gold)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(gold), k) + 1))
    return dcg / ideal if ideal else 0.0


# --- answers (SQuAD-style normalisation) ---------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
# Numbers written as words score the same as digits ("eight" == "8"): a terse reply gives digits where the gold
# answer, quoted from a report, spells the number out. "one" is left alone: it is mostly a pronoun.
_NUMBER_WORDS = {w: str(n) for w, n in NUMBER_WORDS.items() if n <= 20 and n != 1}


def normalize_answer(text: str) -> str:
    text = strip_markers(text).lower().replace("\u2019", "'")
    text = text.translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(_NUMBER_WORDS.get(word, word) for word in text.split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    p = normalize_answer(prediction)
    return float(any(p == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    pred = normalize_answer(prediction).split()
    best = 0.0
    for a in answers:
        gold = normalize_answer(a).split()
        common = Counter(pred) & Counter(gold)
        same = sum(common.values())
        if same == 0:
            continue
        precision, recall = same / len(pred), same / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


Items = Sequence[Sequence[str]]  # a list question's gold items, each with its aliases


def contains_answer(prediction: str, answers: Sequence[str], items: Items = ()) -> float:
    """1 if the normalised prediction contains a gold answer; for a list question (``items``), one alias of
    every item."""
    if items:
        return float(list_completeness(prediction, items) == 1.0)
    return float(bool(answers_found(prediction, answers)))


def list_completeness(prediction: str, items: Items) -> float:
    """The share of a list question's gold items that the prediction gives (any alias of each)."""
    if not items:
        return 0.0
    return sum(bool(_found(prediction, aliases)) for aliases in items) / len(items)


def answers_found(text: str, answers: Sequence[str], items: Items = ()) -> list[str]:
    """The gold answers that occur in a text (normalised, whole words): which ones a prediction gives, or which
    ones the passages shown to the model held. With ``items``, ``answers`` name the items (one name each) and an
    item counts when any of its aliases occurs."""
    if items:
        return [name for name, aliases in zip(answers, items, strict=True) if _found(text, aliases)]
    return _found(text, answers)


def _found(text: str, answers: Sequence[str]) -> list[str]:
    t = f" {normalize_answer(text)} "
    return [a for a in answers if f" {normalize_answer(a)} " in t]


def overlaps_any(span: tuple[str, int, int], gold: Sequence[tuple[str, int, int]]) -> bool:
    """Does a cited (doc, start, end) span share at least one character with a gold evidence span?"""
    doc, start, end = span
    return any(doc == g_doc and start < g_end and g_start < end for g_doc, g_start, g_end in gold)


# --- citations (ALCE) ----------------------------------------------------------------------------------


def entails(sentence: str, evidence: Sequence[str], question: str = "", min_coverage: float = 0.8) -> bool:
    """The judge: does the evidence support the sentence? A strict lexical-entailment proxy for ALCE's NLI
    model (none ships offline): the sentence's new content words (those not already in the question) must be
    at least 80% present in the evidence, and every number exactly."""
    text = " ".join(evidence)
    new_terms = terms(sentence) - terms(question) or terms(sentence)
    if not new_terms:
        return False
    source = terms(text)
    if numbers(sentence) - numbers(text):
        return False
    return sum(t in source for t in new_terms) / len(new_terms) >= min_coverage


def citation_scores(sentences: Sequence[tuple[str, Sequence[str]]], question: str = "") -> tuple[float, float]:
    """ALCE citation (recall, precision) for one answer.

    ``sentences``: (sentence, quotes of the citations attached to it). Recall: share of sentences entailed by
    the concatenation of their citations (a sentence without citations counts as unsupported). Precision:
    share of citations that are relevant, i.e. that entail the sentence alone, or without which the rest of
    the sentence's citations no longer entail it."""
    if not sentences:
        return 0.0, 0.0
    supported = 0
    relevant = total = 0
    for sentence, quotes in sentences:
        full = bool(quotes) and entails(sentence, quotes, question)
        supported += full
        for i, quote in enumerate(quotes):
            total += 1
            rest = [q for j, q in enumerate(quotes) if j != i]
            if entails(sentence, [quote], question) or (full and not (rest and entails(sentence, rest, question))):
                relevant += 1
    recall = supported / len(sentences)
    precision = relevant / total if total else 0.0
    return recall, precision


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
