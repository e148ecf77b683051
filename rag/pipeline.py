"""The one visible pipeline: load -> chunk -> embed -> index -> retrieve -> generate -> check citations -> answer.

CLI, batch runner, UI and eval harness are thin front ends over ``RagPipeline``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator as Coroutine
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from embeddings.encoder import Embedder, SentenceTransformerEmbedder
from rag.answer_check import AnswerCheck
from rag.chunker import SentenceChunker
from rag.citations import CitationChecker
from rag.evidence import EvidenceSelector
from rag.generation import GenerationParams, Generator, build_generator
from rag.generation.base import ChatMessage
from rag.index import CURRENT_FILE, DocumentIndex, Indexer, IndexReport, index_exists
from rag.loaders import LoadLimits
from rag.multipart import is_multi_part, join_replies, per_document_passages
from rag.prompts import answer_messages, rewrite_messages
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
    hits: tuple[Hit, ...]  # shown with the answer: the top_k, plus any context passage ranked below them
    context: tuple[Hit, ...]  # every passage the generator sees (citations are checked against these)
    groups: tuple[tuple[Hit, ...], ...]  # one prompt per group: (context,), or one group per document
    multi_part: bool  # asked per document: the groups get settings.multi_part_prompt
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
        limits = LoadLimits(max_file_bytes=int(self.settings.max_file_mb * 1_000_000),
                            max_text_chars=self.settings.max_text_chars)
        return Indexer(self.settings.index_dir, self.embedder, self.chunker, progress=self.progress, limits=limits,
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

    def check_question(self, question: str) -> str:
        """The question stripped, or ValueError with a message the user can act on."""
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise ValueError(f"the question is {len(question):,} characters, over the {limit:,}-character limit "
                             "(setting max_question_chars); ask something shorter")
        return question

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        return self.retriever.search(self.check_question(query), k or self.settings.top_k)

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
        question = self.check_question(question)
        standalone = None
        query = question
        if history:
            started = time.perf_counter()
            standalone = self.rewrite(question, history)
            query = standalone
            timings["rewrite_s"] = time.perf_counter() - started
        s = self.settings
        multi_part = s.multi_part_documents > 0 and is_multi_part(query)
        depth = max(s.top_k, s.context_k, s.candidates if multi_part else 0)
        started = time.perf_counter()
        found, best = self.retriever.search_with_relevance(query, depth)
        hits = tuple(found)
        timings["retrieve_s"] = time.perf_counter() - started
        context = hits[: s.context_k]
        if multi_part and hits:
            groups = tuple(per_document_passages(hits, from_top=s.context_k, max_documents=s.multi_part_documents,
                                                 per_document=s.multi_part_passages))
            context = tuple(h for group in groups for h in group)
        else:
            # Evidence selection (off by default) applies to the single prompt; it is set after selection so the
            # generator sees the same passages the citations are checked against.
            if s.evidence_sentences > 0 and context:
                started = time.perf_counter()
                selector = EvidenceSelector(self.embedder, max_sentences=s.evidence_sentences,
                                            window=s.evidence_window)
                context = tuple(selector.select(query, context))
                timings["evidence_s"] = time.perf_counter() - started
            groups = (context,)
        reason = None
        if not hits:
            reason = "nothing in the index matches the question"
        else:
            if best < self.settings.min_retrieval_score:
                reason = (f"no passage is relevant enough (best similarity {best:.2f} < "
                          f"{self.settings.min_retrieval_score:.2f})")
        shown = hits[: s.top_k]
        shown += tuple(h for h in context if h not in shown)
        return _Prepared(question, standalone, shown, context, groups, multi_part and bool(hits), reason, timings)

    def _messages(self, question: str, passages: Sequence[Hit], style: str | None = None) -> list[ChatMessage]:
        """The answer prompt, fitted to the model's context window when the backend can count tokens: passages
        are clipped (for the model only) until prompt + answer fit, because token-dense text such as a pasted
        blob can take one token per character or two."""
        limit = self.settings.max_passage_chars
        style = style or self.settings.answer_prompt
        messages = answer_messages(question, passages, style, limit)
        count = getattr(self.generator, "count_tokens", None)
        if count is None:
            return messages
        budget = self.settings.n_ctx - self.settings.max_new_tokens - 64  # 64: chat template and margin
        while True:
            used = sum(count(m.content) for m in messages)
            if used <= budget:
                return messages
            if limit <= 100:
                raise ValueError(f"the question does not fit the model's context window ({used} prompt tokens, "
                                 f"{budget} available with n_ctx {self.settings.n_ctx}); ask something shorter")
            limit //= 2
            log.info("prompt is %d tokens, over %d: clipping passages to %d characters", used, budget, limit)
            messages = answer_messages(question, passages, style, limit)

    def _params(self) -> GenerationParams:
        s = self.settings
        return GenerationParams(max_tokens=s.max_new_tokens, temperature=s.temperature, seed=s.seed)

    def _finish(self, prep: _Prepared, raw: str, timings: dict[str, float]) -> Answer:
        model = self.generator.describe()
        if prep.abstain_reason is not None:
            return self._abstain(prep, prep.abstain_reason, raw, timings, model)
        question = prep.standalone or prep.question
        started = time.perf_counter()
        text, sentences, citations, dropped = self.checker.attach(
            raw, prep.context, question, extractive_fallback=self.settings.extractive_fallback)
        timings["cite_s"] = time.perf_counter() - started
        verdict = AnswerCheck().judge(question, raw, text, citations, [h.chunk.text for h in prep.context])
        if not verdict.answers:
            return self._abstain(prep, verdict.reason or "no supported answer", raw, timings, model)
        return Answer(question=prep.question, text=text, abstained=False, citations=tuple(citations),
                      passages=prep.hits, sentences=tuple(sentences), standalone_question=prep.standalone,
                      raw_generation=raw, timings=timings, model=model,
                      abstain_reason=None, unsupported=tuple(dropped))

    def _abstain(self, prep: _Prepared, reason: str, raw: str, timings: dict[str, float],
                 model: dict[str, object]) -> Answer:
        return Answer(question=prep.question, text=ABSTAIN_TEXT, abstained=True, citations=(),
                      passages=prep.hits, standalone_question=prep.standalone, abstain_reason=reason,
                      raw_generation=raw, timings=timings, model=model)

    def _generate(self, prep: _Prepared, timings: dict[str, float], *, stream: bool) -> Coroutine[str, None, str]:
        """Runs the generator once per passage group; yields reply text as it comes when streaming (nothing
        otherwise), records timings, and returns the reply (the per-document replies joined)."""
        question = prep.standalone or prep.question
        params = self._params()
        style = self.settings.multi_part_prompt if prep.multi_part else self.settings.answer_prompt
        replies: list[str] = []
        totals = {"generate_s": 0.0, "prompt_tokens": 0, "completion_tokens": 0, "prompt_eval_s": 0.0,
                  "prompt_eval_tokens": 0, "eval_s": 0.0, "eval_tokens": 0}
        for n, passages in enumerate(prep.groups):
            messages = self._messages(question, passages, style)
            started = time.perf_counter()
            if stream:
                if n:
                    yield "\n"
                pieces: list[str] = []
                for piece in self.generator.stream(messages, params):
                    if "first_token_s" not in timings:
                        timings["first_token_s"] = time.perf_counter() - started
                    pieces.append(piece)
                    yield piece
                replies.append("".join(pieces))
                totals["generate_s"] += time.perf_counter() - started
                continue
            gen = self.generator.generate(messages, params)
            replies.append(gen.text)
            totals["generate_s"] += gen.seconds
            totals["prompt_tokens"] += gen.prompt_tokens
            totals["completion_tokens"] += gen.completion_tokens
            totals["prompt_eval_s"] += gen.prompt_eval_seconds or 0.0
            totals["prompt_eval_tokens"] += gen.prompt_eval_tokens or 0
            totals["eval_s"] += gen.eval_seconds or 0.0
            totals["eval_tokens"] += gen.eval_tokens or 0
        timings["generate_s"] = totals["generate_s"]
        if len(prep.groups) > 1:
            timings["answer_parts"] = len(prep.groups)
        if not stream:
            timings["prompt_tokens"] = totals["prompt_tokens"]
            timings["completion_tokens"] = totals["completion_tokens"]
            if totals["prompt_eval_s"] and totals["prompt_eval_tokens"]:
                timings["prompt_tok_per_s"] = totals["prompt_eval_tokens"] / totals["prompt_eval_s"]
            if totals["eval_s"] and totals["eval_tokens"]:
                timings["gen_tok_per_s"] = totals["eval_tokens"] / totals["eval_s"]
        return join_replies(replies) if len(replies) > 1 else "".join(replies)

    def ask(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        answer = None
        for event in self._events(question, history, stream=False):
            answer = event.answer or answer
        assert answer is not None  # _events always ends with the answer
        return answer

    def ask_stream(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Iterator[StreamEvent]:
        return self._events(question, history, stream=True)

    def _events(self, question: str, history: Sequence[tuple[str, str]], *, stream: bool) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        prep = self._prepare(question, history)
        if prep.standalone is not None:
            yield StreamEvent("rewrite", text=prep.standalone)
        yield StreamEvent("passages", passages=prep.hits)
        timings = dict(prep.timings)
        raw = ""
        if prep.abstain_reason is None:
            generation = self._generate(prep, timings, stream=stream)
            while True:
                try:
                    piece = next(generation)
                except StopIteration as done:
                    raw = done.value
                    break
                yield StreamEvent("token", text=piece)
        answer = self._finish(prep, raw, timings)
        timings["total_s"] = time.perf_counter() - started
        yield StreamEvent("answer", answer=answer)
