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
    dense_rank: int | None = None
    bm25_rank: int | None = None


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
    standalone_question: str | None = None
    abstain_reason: str | None = None
    raw_generation: str = ""
    unsupported: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    model: dict[str, object] = field(default_factory=dict)

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
            "passages": [
                {
                    "n": i + 1,
                    "doc": h.chunk.doc_id,
                    "chunk_id": h.chunk.chunk_id,
                    "score": round(h.score, 6),
                    "text": h.chunk.text,
                }
                for i, h in enumerate(self.passages)
            ],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "model": self.model,
        }
        if self.standalone_question is not None:
            out["standalone_question"] = self.standalone_question
        if self.abstain_reason is not None:
            out["abstain_reason"] = self.abstain_reason
        if self.unsupported:
            out["unsupported_sentences"] = list(self.unsupported)
        return out
