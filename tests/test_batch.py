import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rag.batch import BatchError, RowWriter, existing_ids, read_questions, run_batch
from tests.conftest import ROOT


def test_reads_txt_csv_jsonl_with_ids_extras_and_bad_lines(tmp_path):
    txt = tmp_path / "q.txt"
    txt.write_text("Who was sacked?\n\n# a comment\nWhat is MAST?\n")
    assert [(i.id, i.question) for i in read_questions(txt)] == [("q1", "Who was sacked?"), ("q4", "What is MAST?")]

    c = tmp_path / "q.csv"
    c.write_text("id,question,topic\na1,Who was sacked?,haringey\n,What is MAST?,sheffield\nb,,x\n")
    items = read_questions(c)
    assert [(i.id, i.extra.get("topic"), i.error) for i in items] == [
        ("a1", "haringey", None), ("row3", "sheffield", None), ("b", "x", "the question is empty")]

    j = tmp_path / "q.jsonl"
    j.write_text('{"id": "x1", "question": "Who?", "gold": 1}\nnot json\n[1]\n{"id": "x1", "question": "Dup"}\n'
                 '{"id": "x3"}\n')
    items = read_questions(j)
    assert items[0].id == "x1" and items[0].extra == {"gold": 1} and items[0].error is None
    assert "not valid JSON" in items[1].error and "not a JSON object" in items[2].error
    assert "duplicate id" in items[3].error and "no 'question'" in items[4].error

    with pytest.raises(BatchError, match="'question' column"):
        bad = tmp_path / "bad.csv"
        bad.write_text("text\nhello\n")
        read_questions(bad)
    with pytest.raises(BatchError, match="unsupported question file type"):
        read_questions(tmp_path / "q.xlsx")


def test_batch_answers_with_real_model_to_jsonl_and_csv(qwen_pipeline, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id": "a", "question": "How many cases did Sheffield council examine after the Baby P case?", "t": 1}\n'
        '{"id": "b", "question": "What is the capital of France?"}\n'
        "{broken\n")
    out = tmp_path / "out.jsonl"
    summary = run_batch(qwen_pipeline, questions, out, progress=False)
    assert (summary.total, summary.written, summary.errors, summary.abstained) == (3, 3, 1, 1)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["id"] == "a" and rows[0]["t"] == 1 and "272" in rows[0]["answer"]
    assert rows[0]["citations"][0]["doc"] == "000_3e02e4570786b062.txt"
    assert rows[1]["abstained"] is True and rows[2]["error"].startswith("line 3 is not valid JSON")

    out_csv = tmp_path / "out.csv"
    run_batch(qwen_pipeline, questions, out_csv, progress=False)
    with open(out_csv, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert table[0]["cited_docs"] == "000_3e02e4570786b062.txt" and "272" in table[0]["quotes"]
    assert table[1]["abstained"] == "True" and table[1]["abstain_kind"] == "not_relevant" and table[2]["error"]
    assert "relevant" in table[1]["abstain_reason"]


def test_a_resumed_csv_keeps_the_columns_it_was_started_with(tmp_path):
    """A CSV written before the abstain columns existed is resumed in its own columns, not shifted ones."""
    def append_abstained_row(path):
        writer = RowWriter(path, append=True)
        writer.write({"id": "q2", "question": "Why?", "answer": "The documents don't say.", "abstained": True,
                      "abstain_kind": "not_relevant", "abstain_reason": "nothing relevant", "citations": []})
        writer.close()
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))

    out = tmp_path / "old.csv"
    out.write_text("id,question,answer,abstained,cited_docs,quotes,error,provenance\nq1,Who?,X [1],False,a.txt,x,,\n")
    rows = append_abstained_row(out)
    assert [r["id"] for r in rows] == ["q1", "q2"] and rows[1]["abstained"] == "True" and rows[1]["error"] == ""
    assert list(rows[1]) == ["id", "question", "answer", "abstained", "cited_docs", "quotes", "error", "provenance"]
    row = append_abstained_row(tmp_path / "new.csv")[0]
    assert row["abstain_kind"] == "not_relevant" and row["abstain_reason"] == "nothing relevant"


def test_killed_batch_resumes_without_duplicates_or_losses(tmp_path, seeds_copy):
    """Retrieval-only batch of 100 questions in a subprocess, killed with SIGKILL mid-run, then resumed."""
    questions = tmp_path / "q.txt"
    topics = ["Sheffield review", "Haringey sacked", "Ofsted Rotherham", "Sefton agency workers", "MAST staff"]
    questions.write_text("\n".join(f"{topics[i % 5]} question {i}" for i in range(100)) + "\n")
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_SEEDS_DIR": str(seeds_copy)}
    # Index first so the killed run spends its time answering.
    subprocess.run([sys.executable, "-m", "rag.cli", "index", "--quiet"], env=env, cwd=ROOT, check=False,
                   capture_output=True, timeout=300)
    cmd = [sys.executable, "-m", "rag.cli", "batch", str(questions), "-o", str(out), "--retrieve-only", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and (not out.exists() or out.read_text().count("\n") < 20):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(existing_ids(out))
    assert 20 <= before < 100, "the kill should land mid-run"
    done = subprocess.run(cmd + ["--resume"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids, key=lambda s: int(s[1:])) == [f"q{i}" for i in range(1, 101)]
    assert len(ids) == len(set(ids)) == 100
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["passages"] and "error" not in r for r in rows)
