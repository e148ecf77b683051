"""Lexical retrieval: BM25 (bm25s) over chunk texts, rebuilt in memory from the catalog at load time."""

from __future__ import annotations

import logging

import numpy as np

from rag.text import content_tokens, stem


def bm25_tokens(text: str) -> list[str]:
    return [stem(t) for t in content_tokens(text)]


class BM25Index:
    def __init__(self, chunk_ids: list[int], texts: list[str]):
        import bm25s

        # bm25s sets its own logger to DEBUG on import; keep its per-call chatter out of our output.
        logging.getLogger("bm25s").setLevel(logging.WARNING)

        self._ids = np.asarray(chunk_ids, dtype=np.int64)
        self._model = None
        if texts:
            corpus = [bm25_tokens(t) or ["<empty>"] for t in texts]
            self._model = bm25s.BM25()
            self._model.index(corpus, show_progress=False)
            self._vocab = set(self._model.vocab_dict)

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k best chunk ids for the query; with ``allowed`` (chunk ids), only those are ranked."""
        if self._model is None:
            return []
        tokens = [t for t in bm25_tokens(query) if t in self._vocab]
        if not tokens:
            return []
        scores = self._model.get_scores(tokens)
        if allowed is not None:
            scores = np.where(np.isin(self._ids, allowed), scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self._ids[i]), float(scores[i])) for i in top if scores[i] > 0]
