"""Sentence-level evidence selection: the sentences of the retrieved passages most relevant to the question,
given to the generator instead of whole passages.

A shorter prompt is what the 2-core CPU budget is spent on (about 150 prompt tokens/s), and it leaves the
1.5B model less text to be distracted by. Each selected sentence keeps its neighbours (``window``) so that
pronouns stay resolvable, and contiguous selections become one excerpt whose offsets still point into the
document, so citations attach to excerpts exactly as they do to whole passages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from embeddings.encoder import Embedder
from rag.citations import terms
from rag.text import split_sentences
from rag.types import Chunk, Hit


class EvidenceSelector:
    def __init__(self, embedder: Embedder, *, max_sentences: int = 6, window: int = 1, lexical_weight: float = 0.5):
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.window = window
        self.lexical_weight = lexical_weight

    def select(self, question: str, passages: Sequence[Hit],
               keep: Callable[[Hit, str], bool] | None = None) -> list[Hit]:
        """Excerpts of ``passages`` (in passage order, then document order), each a Hit over a sub-span. With
        ``keep``, only sentences it accepts are chosen (their neighbours still come along), and no sentence
        accepted means no excerpt."""
        sentences: list[tuple[int, int]] = []  # (passage index, sentence index)
        spans_by_passage = []
        for p, hit in enumerate(passages):
            spans = split_sentences(hit.chunk.text, offset=hit.chunk.start)
            spans_by_passage.append(spans)
            sentences.extend((p, i) for i, span in enumerate(spans) if keep is None or keep(hit, span.text))
        if keep is not None and not sentences:
            return []
        if not sentences or self.max_sentences <= 0:
            return list(passages)
        texts = [spans_by_passage[p][i].text for p, i in sentences]
        vectors = self.embedder.encode([question, *texts])
        semantic = np.clip(vectors[1:] @ vectors[0], 0.0, 1.0)
        wanted = terms(question)
        lexical = np.array([len(wanted & terms(t)) / max(1, len(wanted)) for t in texts])
        score = self.lexical_weight * lexical + (1 - self.lexical_weight) * semantic
        # Earlier passages rank higher in retrieval; a small prior keeps ties in retrieval order.
        score -= 0.01 * np.array([p for p, _ in sentences])
        chosen: dict[int, set[int]] = {}
        for idx in np.argsort(-score)[: self.max_sentences]:
            p, i = sentences[int(idx)]
            n = len(spans_by_passage[p])
            chosen.setdefault(p, set()).update(range(max(0, i - self.window), min(n, i + self.window + 1)))
        excerpts: list[Hit] = []
        for p in sorted(chosen):
            excerpts.extend(_excerpts(passages[p], spans_by_passage[p], sorted(chosen[p])))
        return excerpts


def _excerpts(hit: Hit, spans, indices: list[int]) -> list[Hit]:
    """Contiguous runs of chosen sentences, each as a Hit whose chunk is the exact document sub-span."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    out = []
    base = hit.chunk.start
    for run in runs:
        start, end = spans[run[0]].start, spans[run[-1]].end
        chunk = Chunk(chunk_id=hit.chunk.chunk_id, doc_id=hit.chunk.doc_id, ordinal=hit.chunk.ordinal,
                      start=start, end=end, text=hit.chunk.text[start - base : end - base])
        out.append(replace(hit, chunk=chunk))
    return out
