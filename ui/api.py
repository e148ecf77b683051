"""``rag serve``'s HTTP API under ``/v1``: a thin front end over ``RagPipeline``, for programs.

* ``POST /v1/ask`` returns the ``rag ask --json`` object; with ``"stream": true``, server-sent events:
  ``rewrite``, ``passages``, ``evidence``, ``token`` (the draft), ``retry``, then ``answer`` (or ``error``).
* ``POST /v1/search`` runs retrieval only.
* ``GET/POST /v1/documents`` and ``DELETE /v1/documents/{id}`` list, upload (the page's checks) and remove.
* ``GET /v1/health`` reports the index snapshot, document and chunk counts and the model.
* ``POST /v1/chat/completions`` and ``GET /v1/models`` speak OpenAI's protocol. The message content is the
  *checked* answer with its ``[n]`` markers (a draft sentence the citation check drops never reaches the
  client, so a stream sends the answer once it is checked; the draft tokens travel in the extra ``rag`` field).
  Citations, passages and provenance travel in ``rag`` too, which OpenAI clients ignore.

Every error is JSON ``{"error": {"message", "type", "status"}}`` with its status code: ``RagError`` (the user
can fix it) as 4xx with its message, anything else as 500 with a fixed message (the traceback goes to the log).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse

from rag.errors import APIError, DocumentNotFoundError, RagError, user_message
from rag.index import IndexMissingError
from rag.pipeline import RagPipeline
from rag.types import Answer, StreamEvent
from rag.uploads import add_upload, remove_document
from ui.api_models import (
    ASK_EVENTS,
    AnswerOut,
    AskRequest,
    ChatCompletionOut,
    ChatCompletionRequest,
    ChatMessageIn,
    DocumentsOut,
    HealthOut,
    ModelsOut,
    RemovedOut,
    SearchOut,
    SearchRequest,
    UploadOut,
    errors,
    event_stream_or,
)

log = logging.getLogger(__name__)

MODEL_ID = "rag-seeds"  # the name /v1/models lists: the whole pipeline, not the bare generator
INTERNAL_ERROR = "Something went wrong inside the tool (not your request); the server log has the details."


def error_response(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "status": status}}, status_code=status)


def status_of(exc: RagError) -> int:
    if isinstance(exc, APIError):
        return exc.status
    if isinstance(exc, DocumentNotFoundError):
        return 404
    if isinstance(exc, IndexMissingError):
        return 503
    return 400


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _event_json(event: StreamEvent) -> dict[str, object]:
    if event.kind == "answer" and event.answer is not None:
        return event.answer.to_json()
    if event.kind in ("passages", "evidence"):
        return {"passages": [h.to_json(n) for n, h in enumerate(event.passages, start=1)]}
    return {"text": event.text}


def started(events: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
    """The events with the first one already taken, so that a bad question or filter (checked before anything
    is streamed) still gets its 4xx JSON response instead of a 200 stream holding an error."""
    first = next(events)

    def chained() -> Iterator[StreamEvent]:
        yield first
        yield from events

    return chained()


def _guarded(events: Iterator[str], what: str) -> Iterator[str]:
    """An event stream that ends with an ``error`` event instead of a broken connection when answering fails."""
    try:
        yield from events
    except RagError as exc:
        log.warning("%s failed: %s", what, exc)
        yield _sse("error", {"message": user_message(exc), "type": type(exc).__name__, "status": status_of(exc)})
    except Exception:
        log.exception("%s failed", what)
        yield _sse("error", {"message": INTERNAL_ERROR, "type": "internal_error", "status": 500})


def conversation(messages: list[ChatMessageIn]) -> tuple[str, list[tuple[str, str]]]:
    """OpenAI messages as (question, history): the last message must be the user's; earlier user/assistant
    messages pair up into turns; system and tool messages are not questions and are skipped."""
    talk = [m for m in messages if m.role in ("user", "assistant")]
    if not talk or talk[-1].role != "user":
        raise APIError("the last message must be the user's question (role 'user')", 400)
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for m in talk[:-1]:
        if m.role == "user":
            pending = m.text()
        elif pending is not None:
            history.append((pending, m.text()))
            pending = None
    return talk[-1].text(), history


def _completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def completion_json(answer: Answer, cid: str, created: int) -> dict[str, object]:
    prompt = int(answer.timings.get("prompt_tokens", 0))
    completion = int(answer.timings.get("completion_tokens", 0))
    return {
        "id": cid, "object": "chat.completion", "created": created, "model": MODEL_ID,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        "rag": answer.to_json(),
    }


def _chunk(cid: str, created: int, delta: dict[str, object], finish: str | None = None,
           rag: dict[str, object] | None = None) -> str:
    body: dict[str, object] = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if rag is not None:
        body["rag"] = rag
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def completion_chunks(events: Iterator[StreamEvent], cid: str, created: int) -> Iterator[str]:
    yield _chunk(cid, created, {"role": "assistant", "content": ""})
    for event in events:
        if event.kind != "answer" or event.answer is None:
            yield _chunk(cid, created, {}, rag={"event": event.kind, **_event_json(event)})
            continue
        yield _chunk(cid, created, {"content": event.answer.text})
        yield _chunk(cid, created, {}, finish="stop", rag={"event": "answer", **event.answer.to_json()})
    yield "data: [DONE]\n\n"


def build_router(pipeline: RagPipeline, *, max_upload_bytes: int) -> APIRouter:
    """The /v1 routes over one shared pipeline (its index and models are the page's too)."""
    api = APIRouter(prefix="/v1")
    _answer_routes(api, pipeline)
    _document_routes(api, pipeline, max_upload_bytes)
    _openai_routes(api, pipeline)
    return api


def _answer_routes(api: APIRouter, pipeline: RagPipeline) -> None:
    """ask, search, health."""

    @api.post("/ask", summary="Answer a question with cited sources (JSON, or server-sent events with stream)",
              response_model=AnswerOut, responses={**event_stream_or(AnswerOut, ASK_EVENTS), **errors(400, 503)})
    def ask(body: AskRequest):
        if body.stream:
            events = started(pipeline.ask_stream(body.question, body.history, top_k=body.top_k,
                                                 documents=body.documents))
            lines = (_sse(e.kind, _event_json(e)) for e in events)
            return StreamingResponse(_guarded(lines, "ask"), media_type="text/event-stream")
        return pipeline.ask(body.question, body.history, top_k=body.top_k, documents=body.documents).to_json()

    @api.post("/search", summary="Retrieval only: the best passages for a query", response_model=SearchOut,
              responses=errors(400, 503))
    def search(body: SearchRequest):
        hits = pipeline.search(body.query, body.top_k, documents=body.documents)
        return {"query": body.query, "passages": [h.to_json(n, detail=True) for n, h in enumerate(hits, start=1)]}

    @api.get("/health", summary="Status, index snapshot, document and chunk counts, and the model",
             response_model=HealthOut, responses=errors())
    def health():
        try:
            index = pipeline.index
            index_info: dict[str, object] = {"snapshot": index.snapshot, "documents": len(index.documents),
                                             "chunks": len(index.chunks)}
        except IndexMissingError:
            index_info = {"snapshot": None, "documents": 0, "chunks": 0}
        return {"status": "ok" if index_info["snapshot"] else "no_index", "index": index_info,
                "model": pipeline.generator.describe(), "embedder": pipeline.settings.embedder}


def _document_routes(api: APIRouter, pipeline: RagPipeline, max_upload_bytes: int) -> None:
    """list, upload, remove."""

    @api.get("/documents", summary="The indexed documents", response_model=DocumentsOut, responses=errors(503))
    def documents():
        docs = sorted(pipeline.index.documents.values(), key=lambda d: d.doc_id)
        return {"documents": [{"id": d.doc_id, "title": d.title, "chunks": d.chunk_count, "path": d.source_path}
                              for d in docs]}

    @api.post("/documents", summary="Upload and index documents (txt, md, html, pdf, docx)",
              response_model=UploadOut, responses=errors(400, 503))
    def upload(files: list[UploadFile] = File(...)):  # noqa: B008 - FastAPI's declaration style
        results = []
        for file in files:
            name = file.filename or "upload"
            with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
                path = Path(tmp) / "body"
                path.write_bytes(file.file.read(max_upload_bytes + 1))
                try:
                    done = add_upload(pipeline.indexer, path, name, max_bytes=max_upload_bytes)
                except RagError as exc:  # one bad file is reported; the others are still added
                    log.warning("upload %s refused: %s", name, exc)
                    results.append({"file": name, "added": False, "error": user_message(exc)})
                    continue
            what = "updated" if done.report.updated else ("unchanged" if done.report.unchanged else "added")
            results.append({"file": name, "added": True, "status": what, "id": done.doc_id, "title": done.title,
                            "chunks": done.chunks})
        if not any(r["added"] for r in results):  # nothing added: one error, every file's reason in it
            raise APIError("no file was added: " + "; ".join(str(r["error"]) for r in results), 400)
        return {"results": results}

    @api.delete("/documents/{doc_id:path}", summary="Remove a document from the index", response_model=RemovedOut,
                responses=errors(404, 503))
    def delete(doc_id: str):
        report = remove_document(pipeline.indexer, doc_id)
        return {"removed": doc_id, "snapshot": report.snapshot}



def _openai_routes(api: APIRouter, pipeline: RagPipeline) -> None:
    """OpenAI's chat/completions and models."""

    @api.get("/models", summary="OpenAI-compatible model list", response_model=ModelsOut, responses=errors())
    def models():
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "local"}]}

    @api.post("/chat/completions", summary="OpenAI-compatible chat; the reply is the checked, cited answer",
              response_model=ChatCompletionOut, responses={**event_stream_or(ChatCompletionOut), **errors(400, 503)})
    def chat_completions(body: ChatCompletionRequest):
        question, history = conversation(body.messages)
        cid, created = _completion_id(), int(time.time())
        if body.stream:
            events = started(pipeline.ask_stream(question, history, top_k=body.top_k, documents=body.documents))
            return StreamingResponse(_guarded(completion_chunks(events, cid, created), "chat completion"),
                                     media_type="text/event-stream")
        answer = pipeline.ask(question, history, top_k=body.top_k, documents=body.documents)
        return completion_json(answer, cid, created)
