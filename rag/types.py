"""Frozen dataclasses for the data that flows through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """A loaded, normalised document. ``doc_id`` is its path relative to the folder indexed."""

    doc_id: str
    title: str
    text: str
    source_path: str
    content_hash: str


@dataclass(frozen=True)
class Chunk:
    """A span of a document's normalised text: ``document.text[start:end] == text``."""

    chunk_id: int
    doc_id: str
    ordinal: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the per-retriever evidence behind it."""

    chunk: Chunk
    title: str
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None

    def to_json(self, n: int, *, detail: bool = False) -> dict[str, object]:
        """Passage ``n`` as ``rag ask --json``, batch rows and ``rag search --json`` (``detail``: with its title,
        span and per-retriever scores) write it."""
        out: dict[str, object] = {"n": n, "doc": self.chunk.doc_id, "chunk_id": self.chunk.chunk_id,
                                  "score": round(self.score, 6), "text": self.chunk.text}
        if detail:
            out.update(title=self.title, dense_score=self.dense_score, bm25_score=self.bm25_score,
                       start=self.chunk.start, end=self.chunk.end)
        return out


@dataclass(frozen=True)
class Citation:
    """A quoted span of a source document supporting one answer sentence."""

    n: int
    doc_id: str
    title: str
    start: int
    end: int
    quote: str
    passage_n: int
    support: float


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation_ns: tuple[int, ...]
    supported: bool
    support: float


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...]
    passages: tuple[Hit, ...]
    sentences: tuple[AnswerSentence, ...] = ()
    standalone_question: str | None = None  # the question as read: a follow-up's rewrite, or one given capitals
    abstain_reason: str | None = None  # for people
    raw_generation: str = ""
    unsupported: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    model: dict[str, object] = field(default_factory=dict)
    # What shaped this answer, to reproduce or audit it: index snapshot, embedder fingerprint, generator file and
    # sha256, the settings that matter (top_k, passages, prompt style) and any document filter.
    provenance: dict[str, object] = field(default_factory=dict)
    # The abstention's reason as a name, for programs: "no_match" or "not_relevant" (retrieval), a kind of
    # rag/answer_check.py's Verdict ("declined", "unsupported", "restated", ...), or the name of the answer
    # check that failed ("names", "year", "type", ...; ANSWER_CHECKS in rag/question.py).
    abstain_kind: str | None = None

    def to_json(self) -> dict[str, object]:
        """The ``rag ask --json`` object."""
        out: dict[str, object] = {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [
                {"n": c.n, "doc": c.doc_id, "title": c.title, "start": c.start, "end": c.end, "quote": c.quote}
                for c in self.citations
            ],
            "passages": [h.to_json(n) for n, h in enumerate(self.passages, start=1)],
            # A retry records its reason (text) among the numbers.
            "timings": {k: round(v, 4) if isinstance(v, float) else v for k, v in self.timings.items()},
            "model": self.model,
            "provenance": self.provenance,
        }
        if self.standalone_question is not None:
            out["standalone_question"] = self.standalone_question
        if self.abstain_reason is not None:
            out["abstain_reason"] = self.abstain_reason
        if self.abstain_kind is not None:
            out["abstain_kind"] = self.abstain_kind
        if self.unsupported:
            out["unsupported_sentences"] = list(self.unsupported)
        return out


@dataclass(frozen=True)
class StreamEvent:
    """What ``ask_stream`` yields: 'rewrite' (the question as read: a follow-up's standalone rewrite, or a question
    typed without capitals given its passages' capitals), 'passages', 'evidence' (the sentences of the passages
    closest to the question, as excerpts, shown until the answer replaces them), 'token', then 'answer'; a 'retry'
    (its text the reason) between two drafts when the first did not fit the question."""

    kind: str
    text: str = ""
    answer: Answer | None = None
    passages: tuple[Hit, ...] = ()


@dataclass(frozen=True)
class Prepared:
    """A question ready for the generator: the stages ``prepare -> generate -> finish`` that ``ask`` runs, public
    so that benchmarks and tests can swap one of them (another prompt, another reply) without private names."""

    question: str
    standalone: str | None
    hits: tuple[Hit, ...]  # shown with the answer: the top_k, plus any context passage ranked below them
    context: tuple[Hit, ...]  # every passage the generator sees (citations are checked against these)
    groups: tuple[tuple[Hit, ...], ...]  # one prompt per group: (context,), or one group per document
    multi_part: bool  # asked per document
    abstain_reason: str | None
    timings: dict[str, float]
    style: str  # the answer prompt wording (rag/prompts.py)
    ranked: tuple[Hit, ...] = ()  # the whole fused ranking (candidates deep): where a retry looks for evidence
    hint: str = ""  # added to the question in the prompt (a retry's answer type)
    documents: frozenset[str] | None = None  # the document filter's ids, None for the whole index
    abstain_kind: str | None = None  # abstain_reason as a name (Answer.abstain_kind)
