"""CI gate: the seeds evaluation with the real default model must not regress below eval/thresholds.json.
The reports are kept in test-artifacts/eval-seeds/ for inspection.

The gate runs the locked split (140 of the 280 questions, every question type): the whole set took 52 of a
76-minute CI run on a slow day, too close to CI's 90-minute limit on the slower CPUs here. The locked split is
the one the issue-14 targets are read on, and no tuning run reads it, so gating on it adds no exposure."""

import json

import pytest

from eval.harness import run_eval
from eval.summary import check_thresholds
from tests.conftest import ARTIFACTS, ROOT

pytestmark = pytest.mark.slow

GATE_SPLIT = "locked"


def test_seeds_evaluation_meets_recorded_thresholds(seed_settings, qwen_pipeline):
    out = ARTIFACTS / "eval-seeds"
    results = run_eval(seed_settings, ROOT / "eval/datasets/seeds.jsonl", out_dir=out, base=qwen_pipeline,
                       split=GATE_SPLIT, progress=False)
    for name in ("results.json", "report.md", "report.html", "scores.png", "latency.png", "by_type.png"):
        assert (out / name).stat().st_size > 0, name
    totals = results["totals"]
    assert totals["questions"] >= 100
    assert {q["split"] for q in results["questions"]} == {GATE_SPLIT}
    thresholds = json.loads((ROOT / "eval/thresholds.json").read_text())
    problems = check_thresholds(results, thresholds)
    assert not problems, "seeds evaluation regressed:\n" + "\n".join(problems)


def test_retrieve_only_eval_on_a_beir_folder(tmp_path, seed_settings, seed_pipeline):
    """A small BEIR folder made from the seeds: the harness indexes the corpus itself and scores retrieval."""
    folder = tmp_path / "beir"
    folder.mkdir()
    docs = seed_pipeline.index.documents
    with open(folder / "corpus.jsonl", "w") as fh:
        for doc_id in docs:
            fh.write(json.dumps({"_id": doc_id, "title": "", "text": seed_pipeline.index.document_text(doc_id)}) + "\n")
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "How many cases did Sheffield examine?"}) + "\n"
        + json.dumps({"_id": "q2", "text": "Who was sacked in Haringey?"}) + "\n")
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t000_3e02e4570786b062.txt\t1\n"
                                      "q2\t003_880be84fd3658657.txt\t1\n")
    results = run_eval(seed_settings, folder, retrieve_only=True, out_dir=tmp_path / "run",
                       base=seed_pipeline, progress=False)
    assert results["totals"]["recall@1"] == 1.0 and results["totals"]["questions"] == 2
    assert (tmp_path / "run" / "report.html").exists()
