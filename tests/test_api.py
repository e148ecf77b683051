"""The HTTP API (``rag serve``'s /v1), fast tier: the real server app (page mounted, auth, limits, JSON errors)
over a fake embedder and a scripted generator, so the front end's behaviour is tested in seconds. The real
models answer through the same app in tests/test_api_live.py."""

from __future__ import annotations

import base64
import json
import re

import pytest
from fastapi.testclient import TestClient

from rag.errors import SettingsError
from tests.conftest import copy_seeds
from tests.fakes import HashingEmbedder, scripted_pipeline
from ui.server import Access, build_server, check_exposure

SHEFFIELD = "000_3e02e4570786b062.txt"
KEY = "test-key-123"
FACT = r"All 272 cases on the council\S* have been closely examined"


def reply(messages) -> str:
    """Quotes the passage sentence about the 272 cases when it was shown, else says the passages don't say; a
    follow-up's rewrite is the follow-up itself."""
    prompt = messages[-1].content
    follow_up = re.search(r"Follow-up question: (.*)\nStandalone question:", prompt)
    if follow_up:
        return follow_up.group(1)
    found = re.search(FACT + r"[^.]*\.", prompt)
    return found.group(0) if found else "The passages don't say."


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    return scripted_pipeline(root / "idx", copy_seeds(root / "seeds"), HashingEmbedder(), reply)


@pytest.fixture(scope="module")
def client(pipeline):
    with TestClient(build_server(pipeline, access=Access(login=("alice", "pw:1"), api_key=KEY))) as c:
        c.headers["Authorization"] = f"Bearer {KEY}"
        yield c


def sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


def test_health_models_and_openapi(client, pipeline):
    health = client.get("/v1/health").json()
    assert health["status"] == "ok" and health["index"]["documents"] == 5
    assert health["index"]["snapshot"] == pipeline.index.snapshot and health["model"]["backend"] == "scripted"
    assert client.get("/v1/models").json()["data"][0]["id"] == "rag-seeds"
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/ask", "/v1/search", "/v1/documents", "/v1/chat/completions", "/v1/health"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_ask_returns_the_cli_json_with_provenance(client, pipeline):
    body = client.post("/v1/ask", json={"question": "How many cases did Sheffield council examine?"}).json()
    assert body["abstained"] is False and "272" in body["answer"] and "[1]" in body["answer"]
    assert body["citations"][0]["doc"] == SHEFFIELD
    prov = body["provenance"]
    assert prov["index_snapshot"] == pipeline.index.snapshot and prov["embedder"] == "fake-hashing-64"
    assert prov["settings"]["top_k"] == pipeline.settings.top_k and prov["documents"] is None


def test_ask_streams_events_in_order(client):
    r = client.post("/v1/ask", json={"question": "How many cases did Sheffield council examine?", "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    kinds = [k for k, _ in sse(r.text)]
    assert kinds[0] == "passages" and "token" in kinds and kinds[-1] == "answer"
    assert kinds.index("evidence") < kinds.index("token")
    assert "272" in sse(r.text)[-1][1]["answer"]


def test_document_filter_applies_inside_retrieval(client, pipeline):
    other = "003_880be84fd3658657.txt"
    chunks_of_other = sum(1 for c in pipeline.index.chunks.values() if c.doc_id == other)
    k = min(4, chunks_of_other)
    hits = client.post("/v1/search", json={"query": "Sheffield 272 cases", "top_k": k,
                                           "documents": [other]}).json()["passages"]
    assert len(hits) == k and {h["doc"] for h in hits} == {other}
    globbed = client.post("/v1/search", json={"query": "Sheffield", "documents": ["00[34]_*"]}).json()
    assert {h["doc"] for h in globbed["passages"]} <= {other, "004_244dd2b7b137fb73.txt"}
    # Limited to another document, the Sheffield fact is out of reach: abstain rather than guess.
    body = client.post("/v1/ask", json={"question": "How many cases did Sheffield council examine?",
                                        "documents": [other]}).json()
    assert body["abstained"] is True and body["provenance"]["documents"] == [other]


def test_bad_requests_get_clear_json_errors(client, pipeline):
    r = client.post("/v1/search", json={"query": "x", "documents": ["nothing-like-this/*"]})
    assert r.status_code == 400 and "no indexed document matches" in r.json()["error"]["message"]
    r = client.post("/v1/ask", json={"question": "   "})
    assert r.status_code == 400 and "empty" in r.json()["error"]["message"]
    r = client.post("/v1/ask", json={"question": "x" * (pipeline.settings.max_question_chars + 1), "stream": True})
    assert r.status_code == 400 and "limit" in r.json()["error"]["message"]
    r = client.post("/v1/ask", json={"question": "x", "top_k": 0, "colour": "red"})
    assert r.status_code == 422 and "top_k" in r.json()["error"]["message"] and "colour" in r.json()["error"]["message"]
    r = client.post("/v1/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = client.delete("/v1/documents/no-such-document.txt")
    assert r.status_code == 404 and "no-such-document" in r.json()["error"]["message"]
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "assistant", "content": "hi"}]})
    assert r.status_code == 400 and "last message" in r.json()["error"]["message"]


def test_body_over_the_limit_is_refused_before_reading(client, pipeline):
    limit = int(pipeline.settings.upload_max_mb * 1_000_000) + 1_000_000
    r = client.post("/v1/ask", content=b"x" * (limit + 10), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]


def test_a_bug_is_a_500_without_traceback(client, pipeline, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(pipeline, "search", broken)
    with TestClient(build_server(pipeline), raise_server_exceptions=False) as c:
        r = c.post("/v1/search", json={"query": "Sheffield"})
    assert r.status_code == 500 and "secret" not in r.text and "Traceback" not in r.text
    assert r.json()["error"]["type"] == "internal_error"


def test_auth_guards_the_api(pipeline, client):
    with TestClient(build_server(pipeline, access=Access(login=("alice", "pw:1"), api_key=KEY))) as c:
        assert c.get("/v1/health").status_code == 401
        assert c.get("/openapi.json").status_code == 401
        assert c.get("/v1/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/v1/health", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        basic = base64.b64encode(b"alice:pw:1").decode()
        assert c.get("/v1/health", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        wrong = base64.b64encode(b"alice:nope").decode()
        assert c.get("/v1/health", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
        assert c.get("/config").status_code == 401  # the page has its login too


def test_network_address_needs_a_login():
    check_exposure("127.0.0.1", Access(), False)
    check_exposure("0.0.0.0", Access(login=("a", "b")), False)
    check_exposure("0.0.0.0", Access(), True)
    for access in (Access(), Access(api_key=KEY)):
        with pytest.raises(SettingsError, match="--auth"):
            check_exposure("0.0.0.0", access, False)


def test_chat_completions_openai_shape(client):
    messages = [{"role": "system", "content": "be brief"},
                {"role": "user", "content": "Which council is this about?"},
                {"role": "assistant", "content": "Sheffield."},
                {"role": "user", "content": [{"type": "text",
                                              "text": "How many cases did Sheffield council examine?"}]}]
    body = client.post("/v1/chat/completions", json={"model": "anything", "messages": messages,
                                                     "temperature": 0.7}).json()
    assert body["object"] == "chat.completion" and body["choices"][0]["finish_reason"] == "stop"
    content = body["choices"][0]["message"]["content"]
    assert "272" in content and "[1]" in content and body["rag"]["citations"][0]["doc"] == SHEFFIELD
    r = client.post("/v1/chat/completions", json={"messages": messages[-1:], "stream": True})
    chunks = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    assert r.text.rstrip().endswith("data: [DONE]")
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert streamed == content
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["rag"]["event"] == "answer"


def test_documents_upload_list_and_delete(client, pipeline, tmp_path):
    files = [("files", ("notes.txt", b"The Westfield panel met on 3 March 2021 and chose Ada Lovelace as chair.",
                        "text/plain")),
             ("files", ("broken.pdf", b"%PDF-1.4 not really", "application/pdf"))]
    r = client.post("/v1/documents", files=files)
    results = r.json()["results"]
    assert r.status_code == 200 and results[0]["added"] and results[0]["id"] == "uploads/notes.txt"
    assert results[1]["added"] is False and "broken.pdf" in results[1]["error"]
    ids = [d["id"] for d in client.get("/v1/documents").json()["documents"]]
    assert "uploads/notes.txt" in ids and len(ids) == 6
    hits = client.post("/v1/search", json={"query": "Westfield panel chair",
                                           "documents": ["uploads/*"]}).json()["passages"]
    assert hits and hits[0]["doc"] == "uploads/notes.txt"
    assert client.delete("/v1/documents/uploads/notes.txt").json()["removed"] == "uploads/notes.txt"
    assert len(client.get("/v1/documents").json()["documents"]) == 5
