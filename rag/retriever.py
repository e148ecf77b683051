"""Hybrid retrieval: dense and lexical (BM25) candidates fused by reciprocal rank fusion, here. The candidates come
from the index's parts, whichever they are: FAISS and the index's BM25 segments, or both searches in Milvus (the
fusion stays here on Milvus too: docs/decisions.md, "Keyword search in Milvus")."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from embeddings.encoder import Embedder
from rag.index import DocumentIndex
from rag.question import keyword_query, mentions, name_tokens, question_names
from rag.types import Hit

log = logging.getLogger(__name__)
_NO_DOCUMENT_VOTE: set[str] = set()  # keyword-search kinds already logged (a retriever is made per query)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60,
                           weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(id) = sum_r w_r / (k + rank_r(id)), ranks from 1. Ties keep first-seen
    order, so the result is deterministic."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


@dataclass(frozen=True)
class Relevance:
    dense: float  # best cosine similarity of a dense candidate
    names_found: bool  # the query gives names (capitalised words, acronyms) and the best BM25 candidate holds all


@dataclass
class HybridRetriever:
    index: DocumentIndex
    embedder: Embedder
    candidates: int = 30
    rrf_k: int = 10
    bm25_weight: float = 3.0
    fusion: str = "rrf"  # rrf | dense | bm25
    document_weight: float = 0.0  # RRF weight of the document-level BM25 ranking (0: no document vote)
    document_depth: int = 20  # documents that vote

    def search(self, query: str, k: int = 5, documents: frozenset[str] | None = None) -> list[Hit]:
        return self.search_with_relevance(query, k, documents)[0]

    def search_with_relevance(self, query: str, k: int = 5,
                              documents: frozenset[str] | None = None) -> tuple[list[Hit], Relevance]:
        """The fused hits, and how relevant the best candidates are: the best dense similarity over all dense
        candidates (which must not depend on whether the dense winner also made the fused top k), and whether
        the best BM25 candidate holds every name the query gives. With ``documents`` (ids), both searches run
        over those documents' chunks only, so k hits still come back when they hold that many."""
        if not query.strip() or len(self.index.chunks) == 0:
            return [], Relevance(0.0, False)
        allowed = None if documents is None else self.index.chunk_ids_of(documents)
        depth = max(self.candidates, k)
        dense = self.index.store.search(self.embedder.encode([query])[0], depth, allowed)
        keywords = keyword_query(query)
        lexical = self.index.lexical.search(keywords, depth, allowed)
        dense_score = dict(dense)
        bm25_score = dict(lexical)
        if self.fusion == "dense":
            fused = dense
        elif self.fusion == "bm25":
            fused = lexical
        else:
            fused = reciprocal_rank_fusion([[c for c, _ in dense], [c for c, _ in lexical]], k=self.rrf_k,
                                           weights=[1.0, self.bm25_weight])
            if self.document_weight > 0:
                fused = self._document_vote(keywords, fused, documents)
        hits = []
        chunks = self.index.chunks.many([cid for cid, _ in fused[:k]])
        for cid, score in fused[:k]:
            chunk = chunks[cid]
            hits.append(Hit(
                chunk=chunk,
                title=self.index.title(chunk.doc_id),
                score=score,
                dense_score=dense_score.get(cid),
                bm25_score=bm25_score.get(cid),
            ))
        names = question_names(query)
        found = False
        if names and lexical:
            tokens = name_tokens(self.index.chunks[lexical[0][0]].text)
            found = all(mentions(tokens, n) for n in names)
        return hits, Relevance(dense[0][1] if dense else 0.0, found)

    def _document_vote(self, keywords: str, fused: list[tuple[int, float]],
                       documents: frozenset[str] | None) -> list[tuple[int, float]]:
        """Every chunk of the best documents by whole-text BM25 gets its document's RRF vote, the same for all
        of them, so that within a document the chunk-level rankings still decide. A question that gathers
        several facts of one story or report finds its document this way more often than through any one
        chunk (docs/decisions.md, "A document-level BM25 vote"). A keyword search that cannot rank documents
        (Milvus' own) leaves the fusion as it is."""
        search_documents = getattr(self.index.lexical, "search_documents", None)
        if search_documents is None:
            kind = getattr(self.index.lexical, "kind", "?")
            if kind not in _NO_DOCUMENT_VOTE:
                _NO_DOCUMENT_VOTE.add(kind)
                log.info("document_weight is set, but the %s keyword search ranks chunks only: no document "
                         "vote (the FAISS store's BM25 has it)", kind)
            return fused
        chunk_documents = self.index.chunk_documents()
        allowed = None if documents is None else chunk_documents.numbers(documents)
        scores = dict(fused)
        voters = search_documents(keywords, self.document_depth, chunk_documents, allowed)
        for rank, (number, _) in enumerate(voters, start=1):
            for cid in chunk_documents.chunks(number).tolist():
                scores[cid] = scores.get(cid, 0.0) + self.document_weight / (self.rrf_k + rank)
        return sorted(scores.items(), key=lambda kv: -kv[1])
