"""The one visible pipeline: load -> chunk -> embed -> index -> retrieve -> generate -> check citations -> answer.

CLI, batch runner, UI and eval harness are thin front ends over ``RagPipeline``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from embeddings.encoder import Embedder, SentenceTransformerEmbedder
from rag.chunker import SentenceChunker
from rag.citations import CitationChecker
from rag.generation import GenerationParams, Generator, build_generator
from rag.index import CURRENT_FILE, DocumentIndex, Indexer, IndexReport, index_exists
from rag.prompts import answer_messages, is_decline, rewrite_messages
from rag.retriever import HybridRetriever
from rag.settings import Settings
from rag.stores.factory import StoreConfig
from rag.types import Answer, Hit

log = logging.getLogger(__name__)

ABSTAIN_TEXT = "The documents don't say."


@dataclass(frozen=True)
class StreamEvent:
    """What ``ask_stream`` yields: 'rewrite' (standalone question), 'passages', 'token', then 'answer'."""

    kind: str
    text: str = ""
    answer: Answer | None = None
    passages: tuple[Hit, ...] = ()


@dataclass(frozen=True)
class _Prepared:
    question: str
    standalone: str | None
    hits: tuple[Hit, ...]
    context: tuple[Hit, ...]
    abstain_reason: str | None
    timings: dict[str, float]


class RagPipeline:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 generator: Generator | None = None, progress: bool = True):
        self.settings = settings
        self.progress = progress
        self._embedder = embedder
        self._generator = generator
        self._index: DocumentIndex | None = None
        self._index_generation: str | None = None
        self._lock = threading.RLock()

    # -- components, loaded lazily and once ---------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = SentenceTransformerEmbedder(self.settings.embedder, self.settings.embed_batch_size,
                                                             self.settings.embed_backend, self.settings.model_cache_dir)
            return self._embedder

    @property
    def generator(self) -> Generator:
        with self._lock:
            if self._generator is None:
                self._generator = build_generator(self.settings, progress=self.progress)
            return self._generator

    @property
    def chunker(self) -> SentenceChunker:
        return SentenceChunker(self.settings.chunk_words, self.settings.chunk_overlap_sentences)

    @property
    def indexer(self) -> Indexer:
        return Indexer(self.settings.index_dir, self.embedder, self.chunker, progress=self.progress,
                       store_config=self.store_config, workers=self.settings.ingest_workers,
                       ray_address=self.settings.ray_address)

    @property
    def store_config(self) -> StoreConfig:
        return StoreConfig.from_settings(self.settings)

    @property
    def index(self) -> DocumentIndex:
        """The live index, reopened when another writer has published a new generation."""
        with self._lock:
            current = self.settings.index_dir / CURRENT_FILE
            live = current.read_text().strip() if current.is_file() else None
            if self._index is None or live != self._index_generation:
                self._index = DocumentIndex.open(self.settings.index_dir, self.store_config)
                self._index_generation = self._index.generation
                self._index.check_embedder(self.embedder)
            return self._index

    @property
    def retriever(self) -> HybridRetriever:
        s = self.settings
        return HybridRetriever(self.index, self.embedder, candidates=s.candidates, rrf_k=s.rrf_k,
                               bm25_weight=s.bm25_weight, fusion=s.fusion)

    @property
    def checker(self) -> CitationChecker:
        return CitationChecker(self.embedder, min_support=self.settings.min_support)

    # -- indexing -----------------------------------------------------------------------------------

    def index_paths(self, paths: Sequence[Path], *, rebuild: bool = False) -> IndexReport:
        with self._lock:
            report = self.indexer.index_paths(paths, rebuild=rebuild)
            self._index = None
            return report

    def ensure_index(self) -> IndexReport | None:
        """With no index yet, index the bundled seeds so the first question just works."""
        if index_exists(self.settings.index_dir):
            return None
        log.info("no index at %s yet: indexing %s", self.settings.index_dir, self.settings.seeds_dir)
        return self.index_paths([self.settings.seeds_dir])

    # -- querying -----------------------------------------------------------------------------------

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        return self.retriever.search(query, k or self.settings.top_k)

    def rewrite(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        """Turn a follow-up into a standalone question using the conversation so far."""
        if not history:
            return question
        params = GenerationParams(max_tokens=64, temperature=0.0, seed=self.settings.seed, stop=("\n",))
        text = self.generator.generate(rewrite_messages(question, history), params).text.strip()
        text = text.strip().strip('"').strip()
        return text or question

    def _prepare(self, question: str, history: Sequence[tuple[str, str]]) -> _Prepared:
        timings: dict[str, float] = {}
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        standalone = None
        query = question
        if history:
            started = time.perf_counter()
            standalone = self.rewrite(question, history)
            query = standalone
            timings["rewrite_s"] = time.perf_counter() - started
        started = time.perf_counter()
        found, best = self.retriever.search_with_relevance(query, max(self.settings.top_k, self.settings.context_k))
        hits = tuple(found)
        timings["retrieve_s"] = time.perf_counter() - started
        context = hits[: self.settings.context_k]
        reason = None
        if not hits:
            reason = "nothing in the index matches the question"
        else:
            if best < self.settings.min_retrieval_score:
                reason = (f"no passage is relevant enough (best similarity {best:.2f} < "
                          f"{self.settings.min_retrieval_score:.2f})")
        return _Prepared(question, standalone, hits[: self.settings.top_k], context, reason, timings)

    def _params(self) -> GenerationParams:
        s = self.settings
        return GenerationParams(max_tokens=s.max_new_tokens, temperature=s.temperature, seed=s.seed)

    def _finish(self, prep: _Prepared, raw: str, timings: dict[str, float]) -> Answer:
        model = self.generator.describe()
        if prep.abstain_reason is not None:
            return self._abstain(prep, prep.abstain_reason, raw, timings, model)
        if is_decline(raw):
            return self._abstain(prep, "the model found no answer in the passages", raw, timings, model)
        started = time.perf_counter()
        text, sentences, citations, dropped = self.checker.attach(
            raw, prep.context, prep.standalone or prep.question,
            extractive_fallback=self.settings.extractive_fallback)
        timings["cite_s"] = time.perf_counter() - started
        if not citations:
            return self._abstain(prep, "no sentence of the generated answer is supported by the passages",
                                 raw, timings, model)
        return Answer(question=prep.question, text=text, abstained=False, citations=tuple(citations),
                      passages=prep.hits, sentences=tuple(sentences), standalone_question=prep.standalone,
                      raw_generation=raw, timings=timings, model=model,
                      abstain_reason=None, unsupported=tuple(dropped))

    def _abstain(self, prep: _Prepared, reason: str, raw: str, timings: dict[str, float],
                 model: dict[str, object]) -> Answer:
        return Answer(question=prep.question, text=ABSTAIN_TEXT, abstained=True, citations=(),
                      passages=prep.hits, standalone_question=prep.standalone, abstain_reason=reason,
                      raw_generation=raw, timings=timings, model=model)

    def ask(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        started = time.perf_counter()
        prep = self._prepare(question, history)
        timings = dict(prep.timings)
        raw = ""
        if prep.abstain_reason is None:
            gen = self.generator.generate(answer_messages(prep.standalone or prep.question, prep.context),
                                          self._params())
            raw = gen.text
            timings["generate_s"] = gen.seconds
            timings["prompt_tokens"] = gen.prompt_tokens
            timings["completion_tokens"] = gen.completion_tokens
            if gen.prompt_eval_seconds and gen.prompt_eval_tokens:
                timings["prompt_tok_per_s"] = gen.prompt_eval_tokens / gen.prompt_eval_seconds
            if gen.eval_seconds and gen.eval_tokens:
                timings["gen_tok_per_s"] = gen.eval_tokens / gen.eval_seconds
        answer = self._finish(prep, raw, timings)
        timings["total_s"] = time.perf_counter() - started
        return answer

    def ask_stream(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        prep = self._prepare(question, history)
        if prep.standalone is not None:
            yield StreamEvent("rewrite", text=prep.standalone)
        yield StreamEvent("passages", passages=prep.hits)
        timings = dict(prep.timings)
        parts: list[str] = []
        if prep.abstain_reason is None:
            gen_started = time.perf_counter()
            for piece in self.generator.stream(answer_messages(prep.standalone or prep.question, prep.context),
                                               self._params()):
                if not parts:
                    timings["first_token_s"] = time.perf_counter() - gen_started
                parts.append(piece)
                yield StreamEvent("token", text=piece)
            timings["generate_s"] = time.perf_counter() - gen_started
        answer = self._finish(prep, "".join(parts), timings)
        timings["total_s"] = time.perf_counter() - started
        yield StreamEvent("answer", answer=answer)
