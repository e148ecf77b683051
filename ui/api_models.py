"""The HTTP API's request and response shapes (pydantic), which ``/openapi.json`` publishes. Responses are
validated against them, and the error body and every status a route can send are declared, so a client (or a
property-based test) can rely on the schema."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_HISTORY_TURNS = 50
MAX_FILTER_PATTERNS = 100

DOCUMENTS_HELP = "only these documents: ids as GET /v1/documents lists them, or globs such as 'reports/2019/*'"


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="the question, in plain language")
    history: list[tuple[str, str]] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS,
                                           description="earlier turns as [question, answer] pairs (follow-ups)")
    top_k: int | None = Field(default=None, ge=1, le=50, description="passages to retrieve (default: settings)")
    documents: list[str] = Field(default_factory=list, max_length=MAX_FILTER_PATTERNS, description=DOCUMENTS_HELP)
    stream: bool = Field(default=False, description="server-sent events instead of one JSON object")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str
    top_k: int | None = Field(default=None, ge=1, le=100)
    documents: list[str] = Field(default_factory=list, max_length=MAX_FILTER_PATTERNS, description=DOCUMENTS_HELP)


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: the text ones, joined
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    # OpenAI's sampling fields (temperature, max_tokens, ...) are accepted and ignored: answers are greedy and
    # checked, so that the same question gets the same cited answer.
    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=2 * MAX_HISTORY_TURNS + 2)
    stream: bool = False
    top_k: int | None = Field(default=None, ge=1, le=50)
    documents: list[str] = Field(default_factory=list, max_length=MAX_FILTER_PATTERNS, description=DOCUMENTS_HELP)


class CitationOut(BaseModel):
    n: int
    doc: str
    title: str
    start: int
    end: int
    quote: str


class PassageOut(BaseModel):
    n: int
    doc: str
    chunk_id: int
    score: float
    text: str
    title: str | None = None
    dense_score: float | None = None
    bm25_score: float | None = None
    start: int | None = None
    end: int | None = None


class AnswerOut(BaseModel):
    """The ``rag ask --json`` object."""

    question: str
    answer: str = Field(description="the checked answer, each sentence with its [n] citation markers")
    abstained: bool
    citations: list[CitationOut]
    passages: list[PassageOut]
    timings: dict[str, float | int | str]
    model: dict[str, Any]
    provenance: dict[str, Any] = Field(description="index snapshot, embedder, generator file and sha256, settings")
    standalone_question: str | None = None
    abstain_reason: str | None = None
    abstain_kind: str | None = Field(default=None, description="abstain_reason as a name for programs: no_match, "
                                     "not_relevant, declined, unsupported, restated, or a failed answer check")
    unsupported_sentences: list[str] | None = None


class SearchOut(BaseModel):
    query: str
    passages: list[PassageOut]


class DocumentOut(BaseModel):
    id: str
    title: str
    chunks: int
    path: str


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]


class UploadItemOut(BaseModel):
    file: str
    added: bool
    status: Literal["added", "updated", "unchanged"] | None = None
    id: str | None = None
    title: str | None = None
    chunks: int | None = None
    error: str | None = None


class UploadOut(BaseModel):
    results: list[UploadItemOut]


class RemovedOut(BaseModel):
    removed: str
    snapshot: str | None


class IndexHealth(BaseModel):
    snapshot: str | None
    documents: int
    chunks: int


class HealthOut(BaseModel):
    status: Literal["ok", "no_index"]
    index: IndexHealth
    model: dict[str, Any]
    embedder: str


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class ChatMessageOut(BaseModel):
    role: Literal["assistant"]
    content: str


class ChoiceOut(BaseModel):
    index: int
    message: ChatMessageOut
    finish_reason: Literal["stop"]


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChoiceOut]
    usage: UsageOut
    rag: AnswerOut = Field(description="the answer's citations, passages and provenance (OpenAI clients ignore it)")


class ErrorDetail(BaseModel):
    message: str
    type: str
    status: int


class ErrorOut(BaseModel):
    error: ErrorDetail


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error statuses a route can answer with, each with the one error body; 401 (auth), 413 (body limit),
    422 (shape) and 500 can come from any route."""
    described = {400: "the request cannot be served as sent (an upload: no file could be added)",
                 401: "missing or wrong credentials",
                 404: "no such document", 413: "request body over the limit", 422: "the body has the wrong shape",
                 500: "a bug in the server (details in its log)", 503: "no index yet"}
    return {s: {"model": ErrorOut, "description": described[s]} for s in sorted({*statuses, 401, 413, 422, 500})}


ASK_EVENTS = ("rewrite", "passages", "evidence", "token", "retry", "answer", "error")


def event_stream_or(model: type[BaseModel], events: tuple[str, ...] = ()) -> dict[int | str, dict[str, Any]]:
    """A 200 that is JSON, or server-sent events when the request asks to stream: each event's ``data`` is JSON
    (``[DONE]`` ends an OpenAI stream), its ``event`` one of ``events`` when the stream names them."""
    event: dict[str, Any] = {"type": "object", "required": ["data"],
                             "properties": {"data": {"type": "string"}}}
    if events:
        event["properties"]["event"] = {"type": "string", "enum": list(events)}
        event["required"] = ["event", "data"]
    return {200: {"content": {"text/event-stream": {"schema": event}},
                  "description": f"{model.__name__} as JSON, or server-sent events with stream: true"}}
