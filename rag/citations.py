"""Citations attached and verified in code, whatever markers the model wrote.

Each answer sentence is compared with every sentence (and pair of adjacent sentences) of the passages the
model was shown. Support combines lexical coverage (how much of the sentence's content words the source
contains, numbers required verbatim) and embedding similarity. A sentence whose best support is below the
threshold is unsupported: it is dropped from the answer, or replaced by the best-supported source sentence
when extractive fallback is on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from embeddings.encoder import Embedder
from rag.text import NUMBER_WORDS, content_tokens, split_sentences, stem, tokenize
from rag.types import AnswerSentence, Citation, Hit

# Whom the pronouns of a document's span stand for: (doc_id, start, end) -> names ("" for none).
Referents = Callable[[str, int, int], str]
# A citation marker, "[1]" or "[1, 2]", with the space before it.
MARKER_PATTERN = r"\s*\[\d+(?:\s*[,;-]\s*\d+)*\]"
_MARKER = re.compile(MARKER_PATTERN)
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")
# Counts written as words match their digits; "one" (mostly a pronoun) and the multipliers ("two hundred" is not
# "2 100") stay words.
_WORD_NUMBERS = {w: str(n) for w, n in NUMBER_WORDS.items() if 2 <= n <= 90}


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text).strip()


def _norm_number(token: str) -> str:
    return _WORD_NUMBERS.get(token, token.replace(",", ""))


def terms(text: str) -> set[str]:
    return {stem(_norm_number(t)) for t in content_tokens(text)}


def numbers(text: str) -> set[str]:
    out = set()
    for t in tokenize(text):
        t = _norm_number(t)
        if _NUMBER.match(t):
            out.add(t)
    return out


@dataclass(frozen=True)
class Evidence:
    """A candidate source span: one sentence, or two adjacent sentences, of a passage."""

    passage_n: int
    hit: Hit
    start: int  # offsets into the document's normalised text
    end: int
    text: str
    pair_second: int | None = None  # start of the second sentence when this span is a pair
    referents: str = ""  # whom the span's pronouns stand for (rag/coreference.py), counted as said in it

    @property
    def pair(self) -> bool:
        return self.pair_second is not None


@dataclass(frozen=True)
class SentenceSupport:
    sentence: str
    evidence: Evidence | None
    support: float
    lexical: float
    semantic: float


def evidence_spans(passages: Sequence[Hit], referents: Referents | None = None) -> list[Evidence]:
    """Every sentence of every passage, then every pair of adjacent sentences (singles first)."""
    singles: list[Evidence] = []
    pairs: list[Evidence] = []

    def named(hit: Hit, start: int, end: int) -> str:
        return referents(hit.chunk.doc_id, start, end) if referents is not None else ""

    for n, hit in enumerate(passages, start=1):
        sentences = split_sentences(hit.chunk.text, offset=hit.chunk.start)
        local = hit.chunk.start
        for i, s in enumerate(sentences):
            singles.append(Evidence(n, hit, s.start, s.end, s.text, referents=named(hit, s.start, s.end)))
            if i + 1 < len(sentences):
                nxt = sentences[i + 1]
                pairs.append(Evidence(n, hit, s.start, nxt.end, hit.chunk.text[s.start - local : nxt.end - local],
                                      pair_second=nxt.start, referents=named(hit, s.start, nxt.end)))
    return singles + pairs


class CitationChecker:
    def __init__(self, embedder: Embedder, *, min_support: float = 0.5, lexical_weight: float = 0.6,
                 full_coverage: float = 0.8, relevance_margin: float = 0.0, referents: Referents | None = None):
        self.embedder = embedder
        self.referents = referents  # pronouns' names count as said in their sentence (``annotate_pronouns``)
        # Spans within this much of the best support compete on question relevance (0: the best support wins).
        self.relevance_margin = relevance_margin
        self.full_coverage = full_coverage  # lexical coverage below which clause-level citations are tried
        self.min_support = min_support
        self.lexical_weight = lexical_weight

    def lexical_support(self, sentence: str, source: str, question: str = "") -> float:
        """Coverage of the sentence's content terms by the source; terms not already in the question (the new
        claims) count double, and a number absent from the source caps support at 0.2."""
        sentence_terms = terms(sentence)
        if not sentence_terms:
            return 0.0
        source_terms = terms(source)
        question_terms = terms(question)
        weight = {t: (1.0 if t in question_terms else 2.0) for t in sentence_terms}
        covered = sum(w for t, w in weight.items() if t in source_terms)
        score = covered / sum(weight.values())
        missing_numbers = numbers(sentence) - numbers(source)
        return min(score, 0.2) if missing_numbers else score

    def score(self, sentences: Sequence[str], passages: Sequence[Hit], question: str = "") -> list[SentenceSupport]:
        spans = evidence_spans(passages, self.referents)
        if not sentences:
            return []
        if not spans:
            return [SentenceSupport(s, None, 0.0, 0.0, 0.0) for s in sentences]
        # The question gives short answers ("272.") the context they need for embedding similarity.
        queries = [f"{question} {s}".strip() for s in sentences]
        vectors = self.embedder.encode(queries + [e.text for e in spans])
        q_vecs, e_vecs = vectors[: len(queries)], vectors[len(queries) :]
        semantic = np.clip(q_vecs @ e_vecs.T, 0.0, 1.0)
        relevance = _question_relevance(question, spans)
        results = []
        for i, sentence in enumerate(sentences):
            scored: list[SentenceSupport] = []
            single_lex: dict[tuple[int, int], float] = {}
            for j, span in enumerate(spans):
                lex = self.lexical_support(sentence, f"{span.text} {span.referents}", question)
                if not span.pair:
                    single_lex[(span.passage_n, span.start)] = lex
                elif lex <= max(single_lex.get((span.passage_n, span.start), 0.0),
                                single_lex.get((span.passage_n, span.pair_second), 0.0)) + 1e-9:
                    # A pair is only a candidate when the second sentence adds support the first lacks.
                    continue
                sem = float(semantic[i, j])
                combined = self.lexical_weight * lex + (1 - self.lexical_weight) * sem
                if lex <= 0.2:  # no lexical grounding (or a missing number): similarity alone cannot support
                    combined = min(combined, lex)
                scored.append(SentenceSupport(sentence, span, combined, lex, sem))
            results.append(self._best(scored, relevance))
        return results

    def _best(self, scored: list[SentenceSupport], relevance: dict[tuple[int, int], float]) -> SentenceSupport:
        """The span a sentence cites. Spans about as supportive as the best (a short answer such as "Good" is
        contained in many sentences) are told apart by how much of the question they hold, rarest terms
        weighing most; remaining ties go to the closest in meaning."""
        best = max(scored, key=lambda c: (c.support, c.semantic))
        if self.relevance_margin <= 0:
            return best
        floor = max(best.support - self.relevance_margin, self.min_support) if best.support >= self.min_support \
            else best.support
        close = [c for c in scored if c.support >= floor - 1e-9]
        return max(close, key=lambda c: (round(relevance.get((c.evidence.start, c.evidence.end), 0.0), 6),
                                         round(c.support, 9), c.semantic))

    def attach(self, answer_text: str, passages: Sequence[Hit], question: str = "", *,
               extractive_fallback: bool = False,
               joiner: str = " ") -> tuple[str, list[AnswerSentence], list[Citation], list[str]]:
        """Returns (cited answer text, sentences, citations, unsupported sentences that were dropped). The kept
        sentences are joined with ``joiner`` ("; " for the items of a list)."""
        clean = strip_markers(answer_text)
        sentences = [s.text for s in split_sentences(clean)]
        supports = self.score(sentences, passages, question)
        citations: list[Citation] = []
        by_span: dict[tuple[str, int, int], int] = {}
        out_sentences: list[AnswerSentence] = []
        dropped: list[str] = []
        for sup in supports:
            text = sup.sentence
            grounds = [sup] if sup.evidence is not None and sup.support >= self.min_support else []
            if not grounds or sup.lexical < self.full_coverage:
                # Part of the sentence may come from another source, or from nowhere: judge clause by clause.
                clauses = self._clause_supports(text, passages, question)
                held = [c for c in clauses if c.evidence is not None and c.support >= self.min_support]
                if held and len(held) == len(clauses):
                    grounds = held
                elif held:
                    text = _join_clauses([c.sentence for c in held])
                    dropped.extend(c.sentence for c in clauses if c not in held)
                    grounds = held
            if not grounds:
                dropped.append(text)
                if extractive_fallback and sup.evidence is not None and sup.semantic >= self.min_support:
                    # Quote the best-matching source sentence instead of an unsupported paraphrase.
                    text, grounds = sup.evidence.text, [sup]
                else:
                    continue
            ns = []
            for ground in grounds:
                evidence = ground.evidence
                assert evidence is not None
                key = (evidence.hit.chunk.doc_id, evidence.start, evidence.end)
                if key not in by_span:
                    by_span[key] = len(citations) + 1
                    citations.append(Citation(
                        n=by_span[key], doc_id=evidence.hit.chunk.doc_id, title=evidence.hit.title,
                        start=evidence.start, end=evidence.end, quote=evidence.text,
                        passage_n=evidence.passage_n, support=round(ground.support, 4),
                    ))
                if by_span[key] not in ns:
                    ns.append(by_span[key])
            support = min(g.support for g in grounds)
            out_sentences.append(AnswerSentence(text, tuple(ns), True, round(support, 4)))
        if joiner != " ":
            cited = joiner.join(_with_marker(s.text.rstrip("."), s.citation_ns) for s in out_sentences)
            cited += "." if cited else ""
        else:
            cited = " ".join(_with_marker(s.text, s.citation_ns) for s in out_sentences)
        return cited, out_sentences, citations, dropped

    def _clause_supports(self, sentence: str, passages: Sequence[Hit], question: str) -> list[SentenceSupport]:
        """Support of each clause of a sentence that joins several claims ("272 cases were examined, and Ofsted
        rated it good"), so that each clause cites its own source; [] for a single-clause sentence."""
        clauses = [c for c in _CLAUSE_BREAK.split(sentence) if len(content_tokens(c)) >= 2]
        if len(clauses) < 2:
            return []
        return self.score(clauses, passages, question)


def question_weights(question: str, texts: Sequence[str]) -> dict[str, float]:
    """The question's content terms, each weighted by how rare it is among ``texts`` (log(1 + texts / texts
    holding it)); terms no text holds weigh nothing."""
    wanted = terms(question)
    held = [terms(t) & wanted for t in texts]
    df = {t: sum(t in h for h in held) for t in wanted}
    return {t: math.log(1 + len(held) / df[t]) if df[t] else 0.0 for t in wanted}


def relevance(weights: dict[str, float], text: str) -> float:
    """The weighted share of the question's terms that ``text`` holds: which sentence is about what was asked."""
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in terms(text)) / total if total else 0.0


def _question_relevance(question: str, spans: Sequence[Evidence]) -> dict[tuple[int, int], float]:
    weights = question_weights(question, [e.text for e in spans])
    return {(e.start, e.end): relevance(weights, e.text) for e in spans}


def _join_clauses(clauses: list[str]) -> str:
    text = "; ".join(c.strip().rstrip(".;,") for c in clauses)
    return text + "."


_CLAUSE_BREAK = re.compile(r"\s*(?:[;:]|,\s*(?:and|but|while|whereas)\b|\band\b(?=\s+[A-Z0-9]))\s*")


def _with_marker(sentence: str, ns: tuple[int, ...]) -> str:
    markers = "".join(f"[{n}]" for n in ns)
    match = re.search(r"[.!?]+[\"')\]]*$", sentence)
    if match:
        return f"{sentence[: match.start()]} {markers}{sentence[match.start():]}"
    return f"{sentence} {markers}"
