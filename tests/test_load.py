"""The load test in reduced form: ``bench/load.py`` against a real ``rag serve`` subprocess with the real default
model, 3 concurrent sessions x 2 questions. The full form (8 x 25) is the script itself; its recorded figures
are in ``docs/reliability.md`` ("Load")."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "bench" / "load.py"
CLIENTS, QUESTIONS = 3, 2


def _load_module():
    spec = importlib.util.spec_from_file_location("bench_load", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module
    spec.loader.exec_module(module)
    return module


def test_mixed_up_answers_are_detected():
    """The checker the load test relies on: a chat holding another session's turn is flagged, its own is not."""
    load = _load_module()
    mine, other = load.load_questions()[:2]
    answer = {"role": "assistant", "content": f'<div class="rag-answer">It was {mine.answers[0]} [1].</div>'}
    own = [{"role": "user", "content": load.html.escape(mine.text)}, answer]
    result = load.Result(0, 0, mine.qid, mine.text)
    load.check(result, mine, [mine.text], own)
    assert result.mixed_up is None and result.error is None and result.correct

    for chat in ([{"role": "user", "content": other.text}, answer],  # another session's question echoed
                 [{"role": "user", "content": other.text}, answer, *own],  # another session's history mixed in
                 own[:1]):  # no answer at the end
        result = load.Result(0, 0, mine.qid, mine.text)
        load.check(result, mine, [mine.text], chat)
        assert result.mixed_up, chat

    error = [own[0], {"role": "assistant", "content": '<div class="rag-error">boom</div>'}]
    result = load.Result(0, 0, mine.qid, mine.text)
    load.check(result, mine, [mine.text], error)
    assert result.error and not result.mixed_up


@pytest.mark.slow
def test_concurrent_sessions_each_get_their_own_answers(tmp_path):
    out = tmp_path / "load.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--clients", str(CLIENTS), "--questions", str(QUESTIONS),
                           "--timeout", "1500", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert out.exists(), f"no report (exit {proc.returncode}): {proc.stderr[-3000:]}"
    report = json.loads(out.read_text())
    results = report["results"]
    bad = [r for r in results if r["error"] or r["mixed_up"]]
    assert not report["timed_out"]
    assert report["errors"] == 0 and report["mixed_up"] == 0, bad
    assert report["completed"] == CLIENTS * QUESTIONS
    assert sorted((r["client"], r["turn"]) for r in results) == [(c, t) for c in range(CLIENTS)
                                                                  for t in range(QUESTIONS)]
    assert report["server_alive_at_end"] and report["server_answers_at_end"]
    # the clients really were concurrent: every client's first question was sent before any answer came back
    first_answer = min(r["started_s"] + r["latency_s"] for r in results)
    assert all(r["started_s"] < first_answer for r in results if r["turn"] == 0)
    # the answers are real ones (how many are right is the model's business, measured in eval, not here)
    assert report["correct"] >= 1, [(r["question"], r["answer"]) for r in results]
    assert report["latency_s"]["p50"] and report["memory_rss_mb"][report["memory_final_mark"]] > 0
