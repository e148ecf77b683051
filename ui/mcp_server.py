"""``rag mcp``: a Model Context Protocol server over stdio, so an MCP client (an editor, a desktop assistant) can
search and ask the local documents offline. A thin front end over ``RagPipeline``; tools:

* ``search_documents(query, top_k?, documents?)``: the best passages, retrieval only;
* ``ask_documents(question, top_k?, documents?)``: the checked answer with its citations (or the abstention);
* ``list_documents()``: the indexed documents, whose ids ``documents`` filters take (globs allowed).

stdout carries the protocol, so nothing else may print there: progress bars are off and logs go to stderr.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from rag.errors import RagError, user_message
from rag.pipeline import RagPipeline

log = logging.getLogger(__name__)

INSTRUCTIONS = ("Answers questions from the user's local documents, offline. ask_documents returns an answer "
                "whose every sentence is cited to a quoted passage, or says the documents don't hold the answer; "
                "quote its citations rather than adding facts. list_documents gives the ids that the documents "
                "filter of the other tools accepts (globs such as 'reports/2019/*' too).")


def _answer_view(answer: dict[str, Any]) -> dict[str, Any]:
    """The ``rag ask --json`` object without the raw passages (the citations quote what supports the answer)."""
    keep = ("question", "answer", "abstained", "abstain_reason", "abstain_kind", "standalone_question", "citations",
            "provenance")
    return {k: answer[k] for k in keep if k in answer}


def build_mcp(pipeline: RagPipeline):
    """The MCP server object with the three tools over ``pipeline``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("rag-seeds", instructions=INSTRUCTIONS, log_level="WARNING")

    def guarded(fn):
        # A user-facing error (a filter naming no document, an empty question) becomes the tool's error text
        # (ToolError); anything else is a crash, whose text stays in the server's log.
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except RagError as exc:
                raise ToolError(user_message(exc)) from None
        return call

    @server.tool(name="search_documents")
    @guarded
    def search_documents(query: str, top_k: int = 5, documents: list[str] | None = None) -> dict[str, Any]:
        """Retrieval only: the passages of the local documents that best match the query, best first, with
        document id, title and character span. documents: only these document ids or globs."""
        hits = pipeline.search(query, top_k, documents=documents or ())
        return {"query": query, "passages": [h.to_json(n, detail=True) for n, h in enumerate(hits, start=1)]}

    @server.tool(name="ask_documents")
    @guarded
    def ask_documents(question: str, top_k: int | None = None,
                      documents: list[str] | None = None) -> dict[str, Any]:
        """Answer a question from the local documents. Every sentence of the answer carries [n] markers that
        point at citations quoting the exact supporting passage; when the documents do not hold the answer,
        abstained is true and the answer says so. documents: only these document ids or globs."""
        return _answer_view(pipeline.ask(question, top_k=top_k, documents=documents or ()).to_json())

    @server.tool(name="list_documents")
    @guarded
    def list_documents() -> dict[str, Any]:
        """The indexed documents: id (what the documents filter takes), title and number of chunks."""
        docs = sorted(pipeline.index.documents.values(), key=lambda d: d.doc_id)
        return {"documents": [{"id": d.doc_id, "title": d.title, "chunks": d.chunk_count} for d in docs]}

    return server


def run_stdio(pipeline: RagPipeline) -> None:
    """Serve MCP over stdin/stdout until the client closes it."""
    pipeline.ensure_index()
    build_mcp(pipeline).run("stdio")
