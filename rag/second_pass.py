"""The second pass over a first answer (rag/answer_check.py decides, this module acts): a reply that does not
fit what the question asks is asked again on the sentences that do, or abstains; a list question's answer is
completed from the closest sentences. Called by ``RagPipeline`` between its draft and the final answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Generator as Coroutine
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag.answer_check import NO_NAME, RESTATED, UNSUPPORTED, Mismatch, one_of_several
from rag.evidence import EvidenceSelector
from rag.multipart import merge_items
from rag.prompts import list_lines
from rag.question import choice_groups, expected_type, wants_list
from rag.types import Answer, Hit, Prepared, StreamEvent

if TYPE_CHECKING:
    from rag.pipeline import RagPipeline


def second_pass(p: RagPipeline, prep: Prepared, answer: Answer, raw: str, timings: dict[str, float], *,
                 stream: bool) -> Coroutine[StreamEvent, None, Answer]:
    """Holds a first answer to what the question asks (rag/answer_check.py): a reply that does not fit is
    asked again on the sentences that do, or abstains; one cited from a sentence far from the question is
    asked again on the closest sentences and the better-grounded answer kept; a list question's answer is
    completed from the closest sentences; a reply the passages do not support at all is asked again on the
    closest sentences ("supported"); a reply that only restates the question is asked again with the terse prompt
    on the same passages ("restated_terse")."""
    mismatch = mismatch_of(p, prep, answer) or _unsupported(p, prep, answer) or _restated_own(p, prep, answer, raw)
    terse = _restated_terse(p, prep, answer) if mismatch is None else None
    if terse is not None:
        timings["retry"] = RESTATED
        yield StreamEvent("retry", text=answer.abstain_reason or "")
        raw2 = yield from p.drafted(terse, timings, stream=stream)
        second = p.finish(terse, raw2, timings)
        if not second.abstained and mismatch_of(p, terse, second) is None:
            return second
        return answer
    if mismatch is not None:
        timings["retry"] = mismatch.kind
        retry = retry_on_evidence(p, prep, mismatch)
        if retry is None:
            return p.abstain(prep, mismatch.reason, raw, timings, answer.model, kind=mismatch.kind)
        yield StreamEvent("retry", text=mismatch.reason)
        raw = yield from p.drafted(retry, timings, stream=stream)
        second = p.finish(retry, raw, timings)
        again = mismatch_of(p, retry, second)
        if again is not None:
            second = p.abstain(prep, again.reason, raw, timings, answer.model, kind=again.kind)
        return _with_passages(second, prep, retry)
    if answer.abstained:
        return answer
    question = prep.standalone or prep.question
    if "focus" in p.settings.answer_check_list and not prep.multi_part:
        focus = p.constraints.off_focus(question, answer.citations, prep.context)
        if focus is not None:
            timings["retry"] = focus.kind
            retry = retry_on_evidence(p, prep, focus)
            if retry is not None:
                yield StreamEvent("retry", text=focus.reason)
                raw2 = yield from p.drafted(retry, timings, stream=stream)
                second = p.finish(retry, raw2, timings)
                if not second.abstained and mismatch_of(p, retry, second) is None and \
                        p.constraints.focus(question, second.citations, prep.context) > \
                        p.constraints.focus(question, answer.citations, prep.context):
                    answer, raw = _with_passages(second, prep, retry), raw2
                    prep = retry
    if p.settings.list_answers and not prep.multi_part and (
            wants_list(question) or p.settings.list_from_evidence and _lists_in_evidence(question, answer)):
        answer = yield from _completed_list(p, prep, answer, raw, timings, stream=stream)
    return answer


def _lists_in_evidence(question: str, answer: Answer) -> bool:
    """An answer gives one item of a list its cited sentence holds, and the question asks for no number, date
    or duration and offers no choices (a pick from "A or B" is one item by design)."""
    if expected_type(question) is not None or choice_groups(question):
        return False
    return one_of_several(question, answer.text, [c.quote for c in answer.citations])


def _completed_list(p: RagPipeline, prep: Prepared, answer: Answer, raw: str, timings: dict[str, float], *,
                    stream: bool) -> Coroutine[StreamEvent, None, Answer]:
    """A list question's answer with the items the closest sentences add: the model lists them from those
    sentences alone (a short prompt), and the new, supported items are added to the first answer."""
    excerpts = tuple(_second_pass_selector(p).select(prep.standalone or prep.question, prep.context))
    if not excerpts:
        return answer
    listing = dataclasses.replace(prep, context=excerpts, groups=(excerpts,), style="list", hint="")
    yield StreamEvent("retry", text="completing the list from the closest sentences")
    more = yield from p.drafted(listing, timings, stream=stream)
    timings["list_pass"] = 1
    merged = merge_items(raw, list_lines(more))
    if merged == raw:
        return answer
    both = dataclasses.replace(prep, context=prep.context + tuple(h for h in excerpts if h not in prep.context),
                               style=prep.style)
    completed = p.finish(both, merged, timings)
    return answer if completed.abstained else _with_passages(completed, prep, listing)

def _with_passages(answer: Answer, prep: Prepared, second: Prepared) -> Answer:
    """An answer from a second pass shows the first pass's passages, the excerpts it was asked on and any passage
    its answer added (a name completed from elsewhere in a document)."""
    added = answer.passages[len(second.hits):]
    return dataclasses.replace(answer, passages=prep.hits + unseen(second.context + added, prep.hits))


def unseen(extra: Sequence[Hit], hits: Sequence[Hit]) -> tuple[Hit, ...]:
    """The passages of ``extra`` whose text is not already listed in ``hits`` or earlier in ``extra``, in order
    (a name completed from the chunk ranked just below the passages shown is listed once, at its rank)."""
    have = {(h.chunk.chunk_id, h.chunk.text) for h in hits}
    out = []
    for h in extra:
        key = (h.chunk.chunk_id, h.chunk.text)
        if key not in have:
            have.add(key)
            out.append(h)
    return tuple(out)

def mismatch_of(p: RagPipeline, prep: Prepared, answer: Answer) -> Mismatch | None:
    """A cited answer that does not fit what the question asks (rag/answer_check.py, ConstraintCheck)."""
    if answer.abstained or not p.settings.answer_check_list:
        return None
    return p.constraints.check(prep.standalone or prep.question, answer.text, answer.citations, prep.context,
                                  multi_part=prep.multi_part)

def _unsupported(p: RagPipeline, prep: Prepared, answer: Answer) -> Mismatch | None:
    """Failure kind: answerable wrongly abstained. The citation check kept no sentence of a reply to passages that
    passed the relevance gate (the model paraphrased past them, or answered from elsewhere): one more try on the
    closest sentences, whose reply is checked like any other."""
    if not (answer.abstained and answer.abstain_kind == UNSUPPORTED and prep.abstain_reason is None
            and "supported" in p.settings.answer_check_list):
        return None
    return Mismatch("supported", answer.abstain_reason or "no sentence of the reply is supported",
                    keep=lambda hit, sentence: True)


def _restated_own(p: RagPipeline, prep: Prepared, answer: Answer, raw: str) -> Mismatch | None:
    """Failure kind: near-fact pick, the wrong person. A bare-name reply abstained for restating the question or
    naming no new name, because its only name is one the question gives ("James" for "the full name of the person
    who put James in charge"): the ``other_person`` check's case, retried as that check retries it."""
    if not (answer.abstained and answer.abstain_kind in (RESTATED, NO_NAME) and prep.abstain_reason is None
            and not prep.multi_part):
        return None
    return p.constraints.own_person(prep.standalone or prep.question, raw,  # markers: dropped by the name reader
                                    [h.chunk.text for h in prep.context])


def _restated_terse(p: RagPipeline, prep: Prepared, answer: Answer) -> Prepared | None:
    """Failure kind: answerable wrongly abstained. A one-prompt reply refused for only restating the question
    ("The Baby P council was at the centre of the Baby P case.") is asked once more on the same passages with the
    terse prompt, which asks for the bare answer (``restated_terse``; its bare names are held to an office the
    question asks for by the ``office`` check: docs/decisions.md)."""
    if not (answer.abstained and answer.abstain_kind == RESTATED and prep.abstain_reason is None
            and not prep.multi_part and prep.style != "terse" and "restated_terse" in p.settings.answer_check_list):
        return None
    return dataclasses.replace(prep, style="terse")


def retry_on_evidence(p: RagPipeline, prep: Prepared, mismatch: Mismatch) -> Prepared | None:
    """The same question on the next-best evidence: the sentences of the ranked passages that fit what the
    question asks (with their neighbours), best first; None when no passage has any, or the mismatch is one that
    abstains at once."""
    if mismatch.keep is None:
        return None
    s = p.settings
    pool = prep.ranked[: max(s.context_k, s.top_k) * 2] or prep.context
    question = prep.standalone or prep.question
    keep = mismatch.keep
    if s.retry_within_question and not prep.multi_part:
        keep = p.constraints.within_question(question, pool, keep)
    excerpts = tuple(_second_pass_selector(p).select(question, pool, keep=keep))
    if not excerpts:
        return None
    return dataclasses.replace(prep, context=excerpts, groups=(excerpts,), multi_part=False,
                               style=s.answer_prompt if prep.multi_part else prep.style, hint=mismatch.hint)


def _second_pass_selector(p: RagPipeline) -> EvidenceSelector:
    """The sentences a second pass is asked on: retry_sentences of them, each with its neighbours."""
    return EvidenceSelector(p.embedder, max_sentences=p.settings.retry_sentences, window=p.settings.evidence_window)
