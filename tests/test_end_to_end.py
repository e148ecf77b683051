"""End to end with the real default generator (Qwen2.5-Coder-1.5B-Instruct, llama.cpp, CPU)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SEED_QUESTIONS = [
    ("How many cases did Sheffield council examine after the Baby P case?", ["272"], "000_3e02e4570786b062.txt"),
    ("Who was sacked in Haringey after the Baby P case?", ["head of the children's services"],
     "003_880be84fd3658657.txt"),
    ("Which councils did Ofsted find serious failings at in surprise inspections?", ["Rotherham", "Calderdale"],
     "001_dd36892c629eaee8.txt"),
    ("What rating did Sheffield's social care services get in the 2019 Ofsted inspection?", ["good"],
     "002_0a90d2f0ffb6067a.txt"),
    ("Who is the interim director of children's services in Sefton?", ["Hare"], "004_244dd2b7b137fb73.txt"),
    ("How many unallocated referrals did one North Yorkshire care team have?", ["50"], "001_dd36892c629eaee8.txt"),
]


@pytest.mark.parametrize(("question", "expected", "doc"), SEED_QUESTIONS)
def test_seed_question_answered_and_cited(qwen_pipeline, question, expected, doc):
    answer = qwen_pipeline.ask(question)
    assert not answer.abstained, answer.abstain_reason
    for fragment in expected:
        assert fragment.lower() in answer.text.lower(), answer.text
    assert doc in {c.doc_id for c in answer.citations}
    for c in answer.citations:
        text = qwen_pipeline.index.document_text(c.doc_id)
        assert text[c.start : c.end] == c.quote
        assert f"[{c.n}]" in answer.text


def test_question_about_two_documents_is_answered_from_both(qwen_pipeline):
    """One prompt answered only the first half ("272 cases"); one prompt per document answers both halves, and
    each half cites its own document."""
    answer = qwen_pipeline.ask("Sheffield appears in two of the reports: how many cases did its post-Baby P "
                               "review examine, and what rating did Ofsted give it in 2019?")
    assert not answer.abstained, answer.abstain_reason
    assert "272" in answer.text and "good" in answer.text.lower(), answer.text
    assert answer.timings["answer_parts"] >= 2
    by_sentence = {s.text: {answer.citations[n - 1].doc_id for n in s.citation_ns} for s in answer.sentences}
    assert any("272" in text and "000_3e02e4570786b062.txt" in docs for text, docs in by_sentence.items())
    assert any("good" in text.lower() and "002_0a90d2f0ffb6067a.txt" in docs for text, docs in by_sentence.items())
    for c in answer.citations:
        assert qwen_pipeline.index.document_text(c.doc_id)[c.start : c.end] == c.quote


@pytest.mark.parametrize("question", [
    "What is the capital of France?",
    "How many goals did Sheffield United score last season?",
])
def test_out_of_scope_questions_abstain(qwen_pipeline, question):
    answer = qwen_pipeline.ask(question)
    assert answer.abstained and answer.citations == ()
    assert answer.text == "The documents don't say."


def test_streaming_matches_and_follow_up_is_rewritten(qwen_pipeline):
    first = qwen_pipeline.ask("Who was sacked in Haringey after the Baby P case?")
    assert "haringey" in first.text.lower()
    events = list(qwen_pipeline.ask_stream("Who asked for another report there?", [(first.question, first.text)]))
    kinds = [e.kind for e in events]
    assert kinds[0] == "rewrite" and "haringey" in events[0].text.lower()
    assert kinds.count("token") >= 2 and kinds[-1] == "answer"
    answer = events[-1].answer
    assert not answer.abstained and "003_880be84fd3658657.txt" in {c.doc_id for c in answer.citations}
    assert "balls" in answer.text.lower()
    assert answer.to_json()["standalone_question"] == events[0].text


def test_cli_ask_json_on_a_fresh_index(tmp_path, seeds_copy):
    env = {"RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_SEEDS_DIR": str(seeds_copy), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path), "XDG_CACHE_HOME": str(_cache_home())}
    out = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "--json",
                          "How many cases did Sheffield council examine after the Baby P case?"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) >= {"question", "answer", "abstained", "citations", "passages", "timings", "model"}
    assert "272" in data["answer"] and data["abstained"] is False
    assert data["citations"][0]["doc"] == "000_3e02e4570786b062.txt"
    assert set(data["citations"][0]) == {"n", "doc", "title", "start", "end", "quote"}
    assert set(data["passages"][0]) == {"n", "doc", "chunk_id", "score", "text"}
    assert data["model"]["backend"] == "llama_cpp"


def _cache_home():
    from rag.settings import Settings

    return Settings().model_cache_dir.parent.parent
