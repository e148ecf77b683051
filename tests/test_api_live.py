"""``rag serve`` and ``rag mcp`` with the real bundled models: the official ``openai`` client (plain and streamed),
the /v1/ask event stream, a document filter, and an MCP client over stdio. Marked slow by the fixtures."""

from __future__ import annotations

import json
import os
import socket
import sys

import anyio
import httpx
import pytest

from tests.conftest import copy_seeds

KEY = "live-test-key"
QUESTION = "How many cases did Sheffield council examine after the Baby P case?"
REWORDED = "After the Baby P case, how many cases did the council in Sheffield look at?"
SHEFFIELD = "000_3e02e4570786b062.txt"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, qwen_generator):
    """``rag serve`` in this process over a private seeds index (the API's uploads stay out of other tests)."""
    from rag.pipeline import RagPipeline
    from rag.settings import load_settings
    from ui.server import Access, serve

    root = tmp_path_factory.mktemp("api-live")
    settings = load_settings({"index_dir": root / "idx", "seeds_dir": copy_seeds(root / "seeds")})
    pipeline = RagPipeline(settings, embedder=embedder, generator=qwen_generator, progress=False)
    running = serve(pipeline, host="127.0.0.1", port=_free_port(), access=Access(api_key=KEY), block=False)
    yield running.url, pipeline
    running.close()


def test_openai_client_plain_and_streamed(server):
    from openai import OpenAI

    url, _ = server
    client = OpenAI(base_url=f"{url}/v1", api_key=KEY)
    assert [m.id for m in client.models.list()] == ["rag-seeds"]
    plain = client.chat.completions.create(model="rag-seeds", messages=[{"role": "user", "content": QUESTION}])
    content = plain.choices[0].message.content
    assert "272" in content and "[1]" in content
    rag = plain.model_extra["rag"]
    assert rag["citations"][0]["doc"] == SHEFFIELD and "272" in rag["citations"][0]["quote"]
    assert rag["provenance"]["generator"]["sha256"] and rag["provenance"]["index_snapshot"]

    pieces, extras = [], []
    for chunk in client.chat.completions.create(model="rag-seeds", stream=True,
                                                messages=[{"role": "user", "content": QUESTION}]):
        pieces.append(chunk.choices[0].delta.content or "")
        if chunk.model_extra.get("rag"):
            extras.append(chunk.model_extra["rag"]["event"])
    assert "".join(pieces) == content  # greedy: the same checked answer, streamed
    assert extras[0] == "passages" and "token" in extras and extras[-1] == "answer"

    unanswerable = client.chat.completions.create(
        model="rag-seeds", messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert unanswerable.choices[0].message.content == "The documents don't say."
    assert unanswerable.model_extra["rag"]["abstained"] is True


def test_ask_stream_shows_evidence_before_the_answer(server):
    url, _ = server
    kinds, answer = [], None
    with httpx.Client(base_url=url, timeout=300, headers={"Authorization": f"Bearer {KEY}"}) as c, \
            c.stream("POST", "/v1/ask", json={"question": REWORDED, "stream": True}) as r:
        assert r.status_code == 200
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
                kinds.append(event)
            elif line.startswith("data: ") and event == "answer":
                answer = json.loads(line[6:])
    assert kinds.index("evidence") < kinds.index("token") < kinds.index("answer")
    assert answer is not None and "272" in answer["answer"] and answer["citations"][0]["doc"] == SHEFFIELD


def test_filter_to_another_document_abstains(server):
    url, pipeline = server
    other = next(d for d in pipeline.index.documents if d != SHEFFIELD)
    with httpx.Client(base_url=url, timeout=300, headers={"Authorization": f"Bearer {KEY}"}) as c:
        body = c.post("/v1/ask", json={"question": QUESTION, "documents": [other]}).json()
        assert all(p["doc"] == other for p in body["passages"]) and len(body["passages"]) >= 1
        assert body["abstained"] or "272" not in body["answer"]
        assert body["provenance"]["documents"] == [other]
        within = c.post("/v1/ask", json={"question": QUESTION, "documents": ["000_*"]}).json()
        assert "272" in within["answer"] and {p["doc"] for p in within["passages"]} == {SHEFFIELD}


@pytest.mark.parametrize("doc", ["003_880be84fd3658657.txt", "004_244dd2b7b137fb73.txt"])
def test_document_filter_changes_the_cited_document(server, doc):
    """Two documents report an Ofsted finding about progress (Haringey, Sefton): the filter decides which one the
    answer comes from and cites."""
    url, _ = server
    with httpx.Client(base_url=url, timeout=300, headers={"Authorization": f"Bearer {KEY}"}) as c:
        body = c.post("/v1/ask", json={"question": "What did Ofsted say about the progress of the council's "
                                                   "children's services?", "documents": [doc]}).json()
    assert not body["abstained"], body.get("abstain_reason")
    assert {cit["doc"] for cit in body["citations"]} == {doc}


def test_mcp_server_over_stdio(seed_pipeline, seed_settings):
    """An MCP client starts ``rag mcp`` as a subprocess (its own models, the seeds index) and calls its tools."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {**os.environ, "RAG_INDEX_DIR": str(seed_settings.index_dir), "RAG_SEEDS_DIR": str(seed_settings.seeds_dir)}
    params = StdioServerParameters(command=sys.executable, args=["-m", "rag.cli", "mcp", "--quiet"], env=env)

    async def session_run() -> dict[str, object]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
            listed = await session.call_tool("list_documents", {})
            found = await session.call_tool("search_documents", {"query": "Sheffield cases examined", "top_k": 3})
            answered = await session.call_tool("ask_documents", {"question": QUESTION})
            refused = await session.call_tool("search_documents", {"query": "x", "documents": ["nope/*"]})
            return {"tools": tools, "listed": listed, "found": found, "answered": answered, "refused": refused}

    out = anyio.run(session_run)
    assert out["tools"] == {"search_documents", "ask_documents", "list_documents"}
    assert len(out["listed"].structured_content["documents"]) == 5
    assert out["found"].structured_content["passages"][0]["doc"] == SHEFFIELD
    answer = out["answered"].structured_content
    assert "272" in answer["answer"] and answer["citations"][0]["doc"] == SHEFFIELD and not answer["abstained"]
    assert out["refused"].is_error and "no indexed document matches" in out["refused"].content[0].text
