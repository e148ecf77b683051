"""The one visible pipeline: load -> chunk -> embed -> index -> retrieve -> generate -> check citations -> answer.

CLI, batch runner, UI and eval harness are thin front ends over ``RagPipeline``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Generator as Coroutine
from collections.abc import Iterator, Sequence
from pathlib import Path

from embeddings.encoder import Embedder, SentenceTransformerEmbedder
from rag.answer_check import AnswerCheck, ConstraintCheck
from rag.casing import restore_case
from rag.chunker import SentenceChunker
from rag.citations import CitationChecker, strip_markers, terms
from rag.concise import concise_answer, concise_sentence
from rag.coreference import PronounReferents, unannotated
from rag.errors import QuestionError
from rag.evidence import EvidenceSelector
from rag.followup import standalone_question
from rag.generation import GenerationParams, Generator, build_generator
from rag.generation.base import ChatMessage
from rag.index import DocumentIndex, Indexer, IndexReport, index_exists
from rag.loaders import LoadLimits
from rag.multipart import asked_count, given_items, is_multi_part, join_replies, per_document_passages
from rag.name_parts import asked_name_part, shape_name_parts
from rag.prompts import ABSTAIN_TEXT, fitted_answer_messages, list_lines
from rag.provenance import answer_provenance
from rag.question import who_question
from rag.retriever import HybridRetriever
from rag.second_pass import second_pass, unseen
from rag.settings import Settings
from rag.shared import LiveIndex, Shared, embedder_key, generator_key
from rag.stores.factory import StoreConfig
from rag.text import tokenize
from rag.types import Answer, Document, Hit, Prepared, StreamEvent

log = logging.getLogger(__name__)

# The retrieval gate's abstention kinds (Answer.abstain_kind); the answer checks' are in rag/answer_check.py.
NO_MATCH = "no_match"
NOT_RELEVANT = "not_relevant"


class RagPipeline:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 generator: Generator | None = None, progress: bool = True):
        self.settings = settings
        self.progress = progress
        self._embedder = Shared(lambda: SentenceTransformerEmbedder(
            settings.embedder, settings.embed_batch_size, settings.embed_backend, settings.model_cache_dir), embedder)
        self._generator = Shared(lambda: build_generator(settings, progress=progress), generator)
        self._live = LiveIndex(settings.index_dir, self.store_config)
        self._constraints: ConstraintCheck | None = None
        self._constraints_index: DocumentIndex | None = None
        self._referents: PronounReferents | None = None
        self._referents_index: DocumentIndex | None = None
        self._lock = threading.RLock()
        self._option_variants: dict[int, RagPipeline] = {}

    def variant(self, settings: Settings, *, progress: bool | None = None) -> RagPipeline:
        """A pipeline with other settings (another top_k, prompt, model or index) that shares this one's models
        and loaded index wherever the settings allow: one copy of each in memory however many variants."""
        other = RagPipeline(settings, progress=self.progress if progress is None else progress)
        if embedder_key(settings) == embedder_key(self.settings):
            other._embedder = self._embedder
            if settings.index_dir == self.settings.index_dir and other.store_config == self.store_config:
                other._live = self._live
        if generator_key(settings) == generator_key(self.settings):
            other._generator = self._generator
        return other

    # -- components, loaded lazily and once ---------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        return self._embedder.get()

    @property
    def generator(self) -> Generator:
        return self._generator.get()

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
        """The live index, reopened when another writer has published a new snapshot."""
        return self._live.get(self.embedder)

    @property
    def retriever(self) -> HybridRetriever:
        s = self.settings
        return HybridRetriever(self.index, self.embedder, candidates=s.candidates, rrf_k=s.rrf_k,
                               bm25_weight=s.bm25_weight, fusion=s.fusion, document_weight=s.document_weight)

    @property
    def checker(self) -> CitationChecker:
        return CitationChecker(self.embedder, min_support=self.settings.min_support,
                               relevance_margin=self.settings.citation_relevance_margin,
                               referents=self.referents.names if self.referents else None)

    # -- indexing -----------------------------------------------------------------------------------

    def index_paths(self, paths: Sequence[Path], *, rebuild: bool = False) -> IndexReport:
        with self._lock:
            report = self.indexer.index_paths(paths, rebuild=rebuild)
            self._live.forget()
            return report

    def add_documents(self, documents: Sequence[Document], root: str = "") -> IndexReport:
        """Index already-loaded documents (uploads, datasets); nothing is removed."""
        with self._lock:
            report = self.indexer.add_documents(documents, root=root)
            self._live.forget()
            return report

    def remove_documents(self, doc_ids: Sequence[str]) -> IndexReport:
        with self._lock:
            report = self.indexer.remove_documents(doc_ids)
            self._live.forget()
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
            raise QuestionError("the question is empty; type a question")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise QuestionError(f"the question is {len(question):,} characters, over the {limit:,}-character limit "
                             "(setting max_question_chars); ask something shorter")
        return question

    def resolve_documents(self, documents: Sequence[str] = ()) -> frozenset[str] | None:
        """A document filter (ids or globs such as ``reports/2019/*``) as the ids it names; None (the whole
        index) when empty; DocumentFilterError when a pattern names nothing."""
        return self.index.match_documents(documents) if documents else None

    def search(self, query: str, k: int | None = None, *, documents: Sequence[str] = ()) -> list[Hit]:
        """Retrieval only: the k best passages (top_k by default), within ``documents`` when given."""
        return self.retriever.search(self.check_question(query), k or self.settings.top_k,
                                     self.resolve_documents(documents))

    def rewrite(self, question: str, history: Sequence[tuple[str, str]],
                timings: dict[str, float] | None = None) -> str:
        """A follow-up as a standalone question, checked against the conversation (``rag/followup.py``)."""
        return standalone_question(self.generator, question, history, check=self.settings.check_rewrite,
                                   references=self.settings.resolve_references, seed=self.settings.seed,
                                   timings=timings)

    def prepare(self, question: str, history: Sequence[tuple[str, str]] = (), *,
                documents: Sequence[str] = ()) -> Prepared:
        """Stage 1: check the question, rewrite a follow-up, retrieve (within ``documents`` when given), read a
        question typed without capitals with its passages' capitals (the read question is ``standalone``), and
        choose the passages (or abstain)."""
        timings: dict[str, float] = {}
        question = self.check_question(question)
        allowed = self.resolve_documents(documents)
        standalone = None
        query = question
        if history:
            started = time.perf_counter()
            standalone = self.rewrite(question, history, timings)
            query = standalone
            timings["rewrite_s"] = time.perf_counter() - started
        s = self.settings
        started = time.perf_counter()
        depth = max(s.top_k, s.context_k, s.candidates)
        found, relevance = self.retriever.search_with_relevance(query, depth, allowed)
        if s.restore_case:
            read_as = restore_case(query, (hit.chunk.text for hit in found))  # the query itself unless needs_case
            if read_as != query:
                # The default embedder and BM25 are uncased, so this finds the same passages; searched again,
                # the relevance gate counts the names the capitals now mark.
                query = standalone = read_as
                found, relevance = self.retriever.search_with_relevance(query, depth, allowed)
        timings["retrieve_s"] = time.perf_counter() - started
        by_names = s.multi_part_documents > 0 and "names" in s.answer_check_list
        multi_part = s.multi_part_documents > 0 and (
            is_multi_part(query) or (by_names and self.constraints.names_apart(query, found[: s.context_k])))
        # The question's names held apart by documents below the passages a prompt reads: one document per name.
        cover = self.constraints.names_cover(query, found[: s.candidates]) if by_names and not multi_part else ()
        multi_part = multi_part or bool(cover)
        hits = tuple(found[: max(s.top_k, s.context_k, s.candidates if multi_part else 0)])
        context = hits[: s.context_k]
        if multi_part and hits:
            groups = tuple(per_document_passages(hits, from_top=s.context_k, max_documents=s.multi_part_documents,
                                                 per_document=s.multi_part_passages, documents=cover))
            if "names" in s.answer_check_list:
                # A document that names nothing the question names answers no part of it (a third document
                # otherwise adds an off-target part): ask only the documents that do, when any does.
                named = tuple(g for g in groups if self.constraints.names_any(g[0].chunk.doc_id, query))
                groups = named or groups
            context = tuple(h for group in groups for h in group)
        else:
            context = self.one_prompt_context(query, context, found, timings)
            groups = (context,)
        reason = kind = None
        if not hits:
            reason, kind = "nothing in the index matches the question", NO_MATCH
        elif relevance.dense < s.min_retrieval_score and not (s.relevance_by_names and relevance.names_found):
            # Exact lexical evidence (a passage holding every name the question gives, an acronym say) vouches
            # for a passage that the embedding scores low.
            reason = (f"no passage is relevant enough (best similarity {relevance.dense:.2f} < "
                      f"{s.min_retrieval_score:.2f})")
            kind = NOT_RELEVANT
        shown = hits[: s.top_k]
        shown += tuple(h for h in context if h not in shown)
        multi_part = multi_part and bool(hits)
        style = s.multi_part_prompt if multi_part else s.answer_prompt
        return Prepared(question, standalone, shown, context, groups, multi_part, reason, timings, style,
                        ranked=tuple(found), documents=allowed, abstain_kind=kind)

    def one_prompt_context(self, query: str, context: tuple[Hit, ...], ranked: Sequence[Hit],
                           timings: dict[str, float]) -> tuple[Hit, ...]:
        """The passages of a one-prompt question: the best ``context_k``, with the best one's neighbours
        (``context_neighbours``), or only their best sentences (``evidence_sentences``; set after selection so
        the generator sees the same passages the citations are checked against)."""
        s = self.settings
        if s.context_neighbours and context:
            context += self.neighbours(context[0], ranked, s.context_neighbours, exclude=context)
        if s.evidence_sentences > 0 and context:
            started = time.perf_counter()
            selector = EvidenceSelector(self.embedder, max_sentences=s.evidence_sentences, window=s.evidence_window)
            context = tuple(selector.select(query, context))
            timings["evidence_s"] = time.perf_counter() - started
        return context

    def neighbours(self, best: Hit, ranked: Sequence[Hit], n: int, *, exclude: Sequence[Hit] = ()) -> tuple[Hit, ...]:
        """Up to ``n`` passages next to ``best`` in its document, not in ``exclude``: the one the ranking puts
        higher first, else the one before (a text names someone before it refers back to them)."""
        chunks = self.index.chunks
        taken = {h.chunk.chunk_id for h in exclude}
        rank = {h.chunk.chunk_id: i for i, h in enumerate(ranked)}
        found = []
        for chunk_id in (best.chunk.chunk_id - 1, best.chunk.chunk_id + 1):
            chunk = chunks.get(chunk_id)
            # Chunk ids run on within a document (rag/chunker.py); the check guards a document's edge.
            if chunk is None or chunk.doc_id != best.chunk.doc_id or chunk_id in taken:
                continue
            found.append(ranked[rank[chunk_id]] if chunk_id in rank else Hit(chunk=chunk, title=best.title, score=0.0))
        found.sort(key=lambda h: rank.get(h.chunk.chunk_id, len(rank)))
        return tuple(found[:n])

    def messages(self, question: str, passages: Sequence[Hit], style: str | None = None) -> list[ChatMessage]:
        """The answer prompt, fitted to the model's context window when the backend can count tokens."""
        s = self.settings
        return fitted_answer_messages(question, passages, style or s.answer_prompt, s.max_passage_chars,
                                      getattr(self.generator, "count_tokens", None),
                                      budget=s.n_ctx - s.max_new_tokens - 64, n_ctx=s.n_ctx,  # 64: chat template
                                      examples=s.answer_examples,
                                      shown=self.referents.annotated if self.referents else None)

    def generation_params(self) -> GenerationParams:
        """The decoding parameters every answer uses (greedy by default: the same question, the same answer)."""
        s = self.settings
        return GenerationParams(max_tokens=s.max_new_tokens, temperature=s.temperature, seed=s.seed)

    def finish(self, prep: Prepared, raw: str, timings: dict[str, float]) -> Answer:
        """Stage 3: check a reply against the passages (citations, abstention) and build the Answer."""
        model = self.generator.describe()
        if prep.abstain_reason is not None:
            return self.abstain(prep, prep.abstain_reason, raw, timings, model, kind=prep.abstain_kind)
        question = prep.standalone or prep.question
        started = time.perf_counter()
        listed = prep.style == "list"
        # A pronoun's annotation the reader copied ("He (Sean)") is not the documents' text; the name alone is.
        said = unannotated(raw) if self.settings.annotate_pronouns else raw
        reply, named_in = self.name_part(question, said, prep.context)
        context = prep.context + named_in
        text, sentences, citations, dropped = self.checker.attach(
            list_lines(reply) if listed else reply, context, question,
            extractive_fallback=self.settings.extractive_fallback, joiner="; " if listed else " ")
        timings["cite_s"] = time.perf_counter() - started
        verdict = AnswerCheck().judge(question, said, text, citations, [h.chunk.text for h in context])
        if not verdict.answers:
            return self.abstain(prep, verdict.reason or "no supported answer", raw, timings, model, kind=verdict.kind)
        return Answer(question=prep.question, text=text, abstained=False, citations=tuple(citations),
                      passages=prep.hits + unseen(named_in, prep.hits), sentences=tuple(sentences),
                      standalone_question=prep.standalone,
                      raw_generation=raw, timings=timings, model=model,
                      abstain_reason=None, unsupported=tuple(dropped), provenance=self.provenance(prep))

    def name_part(self, question: str, raw: str, context: Sequence[Hit]) -> tuple[str, tuple[Hit, ...]]:
        """The reply with each name cut to, or completed to, the part of a name the question asks for
        (rag/name_parts.py, the "name_part" check), and the passages outside ``context`` it was completed from: a
        story gives a person's full name once, often in a passage the question did not retrieve."""
        if "name_part" not in self.settings.answer_check_list or asked_name_part(question) is None:
            return raw, ()
        shaped = shape_name_parts(question, raw, [h.chunk.text for h in context])
        if shaped != raw:
            return shaped, ()
        shown = {h.chunk.chunk_id for h in context}
        doc_ids = list(dict.fromkeys(h.chunk.doc_id for h in context))
        ids = sorted(int(i) for i in self.index.chunk_ids_of(frozenset(doc_ids)) if int(i) not in shown)
        chunks = self.index.chunks.many(ids)
        others = [chunks[i] for i in ids if i in chunks]
        shaped = shape_name_parts(question, raw, [h.chunk.text for h in context] + [c.text for c in others])
        wanted = set(tokenize(shaped)) | set(tokenize(strip_markers(raw)))
        source = next((c for c in others if wanted <= set(tokenize(c.text))), None)
        if shaped == raw or source is None:
            return raw, ()
        return shaped, (Hit(chunk=source, title=self.index.title(source.doc_id), score=0.0),)

    def concise(self, answer: Answer) -> Answer:
        """The checked answer with each sentence that restates the question cut to what it adds (rag/concise.py,
        the "concise" check). Last, after every check: they judge the model's whole sentence."""
        if answer.abstained or "concise" not in self.settings.answer_check_list:
            return answer
        question = answer.standalone_question or answer.question

        def name_part(cut: str) -> str:
            # A restatement cut to a bare name ("The person who helps Clyde is Linn Varner." -> "Linn Varner") gets
            # the part of the name asked for, as a bare-name reply does ("Varner" for a last name). Cut only:
            # a completion would need passages the cut sentence does not cite.
            return shape_name_parts(question, cut, ())

        shape = name_part if "name_part" in self.settings.answer_check_list else None
        text = concise_answer(question, answer.text, shape)
        if text == answer.text:
            return answer
        question_terms = terms(question)
        sentences = tuple(dataclasses.replace(s, text=concise_sentence(s.text, question_terms, shape))
                          for s in answer.sentences)
        return dataclasses.replace(answer, text=text, sentences=sentences)

    def abstain(self, prep: Prepared, reason: str, raw: str, timings: dict[str, float],
                model: dict[str, object], *, kind: str | None) -> Answer:
        """``kind`` is the reason as a name for programs (``Answer.abstain_kind``)."""
        return Answer(question=prep.question, text=ABSTAIN_TEXT, abstained=True, citations=(),
                      passages=prep.hits, standalone_question=prep.standalone, abstain_reason=reason,
                      abstain_kind=kind,
                      raw_generation=raw, timings=timings, model=model, provenance=self.provenance(prep))

    def provenance(self, prep: Prepared | None = None) -> dict[str, object]:
        """What shapes an answer here (``rag/provenance.py``)."""
        return answer_provenance(self.settings, self.index.snapshot, self.embedder.fingerprint,
                                 self.generator.describe(), prep)

    def generate(self, prep: Prepared, timings: dict[str, float], *, stream: bool) -> Coroutine[str, None, str]:
        """Stage 2: runs the generator once per passage group; yields reply text as it comes when streaming (nothing
        otherwise), records timings, and returns the reply (the per-document replies joined)."""
        question = prep.standalone or prep.question
        if self.settings.ask_who:
            question = who_question(question)
        if prep.hint:
            question = f"{question} ({prep.hint})"
        params = self.generation_params()
        style = prep.style
        replies: list[str] = []
        totals = {"generate_s": 0.0, "prompt_tokens": 0, "completion_tokens": 0, "prompt_eval_s": 0.0,
                  "prompt_eval_tokens": 0, "eval_s": 0.0, "eval_tokens": 0}
        for n, passages in enumerate(prep.groups):
            messages = self.messages(question, passages, style)
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
        timings["generate_s"] = timings.get("generate_s", 0.0) + totals["generate_s"]
        if len(prep.groups) > 1:
            timings["answer_parts"] = len(prep.groups)
        if not stream:
            timings["prompt_tokens"] = timings.get("prompt_tokens", 0) + totals["prompt_tokens"]
            timings["completion_tokens"] = timings.get("completion_tokens", 0) + totals["completion_tokens"]
            if totals["prompt_eval_s"] and totals["prompt_eval_tokens"]:
                timings["prompt_tok_per_s"] = totals["prompt_eval_tokens"] / totals["prompt_eval_s"]
            if totals["eval_s"] and totals["eval_tokens"]:
                timings["gen_tok_per_s"] = totals["eval_tokens"] / totals["eval_s"]
        return join_replies(replies) if len(replies) > 1 else "".join(replies)

    def with_options(self, *, top_k: int | None = None) -> RagPipeline:
        """This pipeline, or a variant for per-call options (sharing its index and models)."""
        if top_k is None or top_k == self.settings.top_k:
            return self
        with self._lock:
            found = self._option_variants.get(top_k)
            if found is None:
                found = self.variant(self.settings.replace(top_k=top_k))
                self._option_variants[top_k] = found
            return found

    def ask(self, question: str, history: Sequence[tuple[str, str]] = (), *, top_k: int | None = None,
            documents: Sequence[str] = ()) -> Answer:
        """Answer one question (a follow-up when ``history`` holds the conversation's (question, answer) turns),
        from the ``top_k`` best passages (the setting by default) of the ``documents`` given (all by default)."""
        answer = None
        for event in self.with_options(top_k=top_k)._events(question, history, documents, stream=False):
            answer = event.answer or answer
        assert answer is not None  # _events always ends with the answer
        return answer

    def ask_stream(self, question: str, history: Sequence[tuple[str, str]] = (), *, top_k: int | None = None,
                   documents: Sequence[str] = ()) -> Iterator[StreamEvent]:
        """``ask`` as events: rewrite, passages, evidence, tokens, then the answer (see ``StreamEvent``)."""
        return self.with_options(top_k=top_k)._events(question, history, documents, stream=True)

    def _events(self, question: str, history: Sequence[tuple[str, str]], documents: Sequence[str], *,
                stream: bool) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        prep = self.prepare(question, history, documents=documents)
        if prep.standalone is not None:
            yield StreamEvent("rewrite", text=prep.standalone)
        yield StreamEvent("passages", passages=prep.hits)
        timings = dict(prep.timings)
        if stream and prep.abstain_reason is None and self.settings.evidence_preview > 0:
            yield StreamEvent("evidence", passages=self._evidence_preview(prep, timings))
        first = self.single_first(prep, timings)
        if first is None:
            answer = yield from self.answered(prep, timings, stream=stream)
        else:
            single, count = first
            answer = yield from self.answered(single, timings, stream=stream)
            if answer.abstained or given_items(answer.text) < count:
                timings["retry"] = "multi_part"
                yield StreamEvent("retry", text=f"the answer gives fewer than the {count} things asked: asked "
                                                "again, one document at a time")
                answer = yield from self.answered(prep, timings, stream=stream)
        answer = self.concise(answer)
        timings["total_s"] = time.perf_counter() - started
        yield StreamEvent("answer", answer=answer)

    def answered(self, prep: Prepared, timings: dict[str, float], *,
                 stream: bool) -> Coroutine[StreamEvent, None, Answer]:
        """Draft, check and second pass of one prepared question: token and retry events, then the answer."""
        raw = ""
        if prep.abstain_reason is None:
            raw = yield from self.drafted(prep, timings, stream=stream)
        answer = self.finish(prep, raw, timings)
        return (yield from second_pass(self, prep, answer, raw, timings, stream=stream))

    def single_first(self, prep: Prepared, timings: dict[str, float]) -> tuple[Prepared, int] | None:
        """The one-prompt form of a multi-part question that only counts what it asks for ("the two officers who
        ..."), to be asked before the per-document prompts (``multi_part_single_first``), with that count; None
        otherwise."""
        s = self.settings
        if not (s.multi_part_single_first and prep.multi_part and prep.abstain_reason is None):
            return None
        question = prep.standalone or prep.question
        count = asked_count(question)
        if count is None:
            return None
        context = self.one_prompt_context(question, prep.ranked[: s.context_k], prep.ranked, timings)
        shown = prep.ranked[: s.top_k]
        single = dataclasses.replace(prep, hits=shown + tuple(h for h in context if h not in shown), context=context,
                                     groups=(context,), multi_part=False, style=s.answer_prompt)
        return single, count

    def _evidence_preview(self, prep: Prepared, timings: dict[str, float]) -> tuple[Hit, ...]:
        """The best evidence sentences, shown before the model's first token (tens of milliseconds)."""
        started = time.perf_counter()
        selector = EvidenceSelector(self.embedder, max_sentences=self.settings.evidence_preview, window=0)
        excerpts = tuple(selector.select(prep.standalone or prep.question, prep.context))
        timings["evidence_preview_s"] = time.perf_counter() - started
        return excerpts

    def drafted(self, prep: Prepared, timings: dict[str, float], *,
                 stream: bool) -> Coroutine[StreamEvent, None, str]:
        """Token events of one draft as they come; returns the draft."""
        generation = self.generate(prep, timings, stream=stream)
        while True:
            try:
                piece = next(generation)
            except StopIteration as done:
                return done.value
            yield StreamEvent("token", text=piece)

    @property
    def constraints(self) -> ConstraintCheck:
        """The answer constraint checks over the live index (their document cache lives as long as it)."""
        with self._lock:
            index = self.index
            if self._constraints is None or self._constraints_index is not index:
                self._constraints = ConstraintCheck(index.document_text, self.settings.answer_check_list,
                                                    focus_ratio=self.settings.focus_ratio,
                                                    referents=self.referents.names if self.referents else None)
                self._constraints_index = index
            return self._constraints

    @property
    def referents(self) -> PronounReferents | None:
        """Whom the pronouns of the live index's documents stand for, when ``annotate_pronouns`` is on (its
        document cache lives as long as the index)."""
        if not self.settings.annotate_pronouns:
            return None
        with self._lock:
            index = self.index
            if self._referents is None or self._referents_index is not index:
                self._referents = PronounReferents(index.document_text)
                self._referents_index = index
            return self._referents
