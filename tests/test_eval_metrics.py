import json

import pytest

from eval import metrics as M
from eval.dataset import load_dataset
from eval.harness import DatasetError
from eval.metrics import answers_found
from eval.report import compare, write_reports
from eval.summary import aggregate, check_thresholds, failures


def test_retrieval_metrics():
    ranked = ["d3", "d1", "d2"]
    assert M.recall_at(ranked, {"d1"}, 1) == 0.0 and M.recall_at(ranked, {"d1"}, 5) == 1.0
    assert M.mrr(ranked, {"d1"}) == 0.5 and M.mrr(ranked, {"zz"}) == 0.0
    assert M.ndcg_at(["d1"], {"d1"}) == 1.0
    assert M.ndcg_at(["x", "d1"], {"d1"}) == pytest.approx(1 / 1.58496, rel=1e-4)
    assert M.ndcg_at(["d1", "x", "d2"], {"d1", "d2"}) == pytest.approx((1 + 0.5) / (1 + 1 / 1.58496), rel=1e-4)


def test_answer_metrics_squad_style():
    assert M.exact_match("The Good [1].", ["good"]) == 1.0
    assert M.token_f1("Andrew Sangar was the member [1]", ["Andrew Sangar"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert M.contains_answer("All 272 cases [1].", ["272"]) == 1.0
    assert M.contains_answer("2720 cases", ["272"]) == 0.0  # whole tokens only
    both = [["Rotherham"], ["Calderdale"]]
    assert M.contains_answer("Rotherham and Sefton", ["Rotherham", "Calderdale"], both) == 0.0


def test_numbers_in_words_score_as_digits():
    assert M.contains_answer("8 [1]", ["eight"]) == 1.0
    assert M.exact_match("Twelve", ["12"]) == 1.0
    assert M.contains_answer("80 cases", ["eight"]) == 0.0  # still whole tokens
    assert M.normalize_answer("one of the two") == "one of 2"  # "one" is mostly a pronoun: left alone


def test_alce_citation_recall_and_precision():
    quote_a = "All 272 cases on the council's have been closely examined."
    quote_b = "The head of the children's services in Haringey was sacked."
    # Supported sentence with one relevant and one irrelevant citation.
    recall, precision = M.citation_scores([("272 cases were closely examined.", [quote_a, quote_b])])
    assert recall == 1.0 and precision == 0.5
    # An uncited sentence counts against recall; a wrong number is not entailed.
    recall, precision = M.citation_scores([("272 cases were examined.", [quote_a]), ("It was sunny.", [])])
    assert recall == 0.5 and precision == 1.0
    assert not M.entails("300 cases were examined.", [quote_a])
    # Two citations needed together are both relevant.
    recall, precision = M.citation_scores([("272 cases were examined and the head was sacked in Haringey.",
                                            [quote_a, quote_b])])
    assert recall == 1.0 and precision == 1.0


def _record(i, *, answerable=True, abstained=False, contains=1.0, type_="fact"):
    scores = {"recall@1": 1.0, "recall@5": 1.0, "recall@10": 1.0, "mrr": 1.0, "ndcg@10": 1.0}
    if answerable:
        scores.update(exact_match=0.0, token_f1=0.5, contains_answer=contains, cites_gold=1.0,
                      correct_and_cited=contains)
    if not abstained:
        scores.update(citation_recall=1.0, citation_precision=1.0)
    return {"id": f"q{i}", "question": f"question {i}", "answers": ["x"] if answerable else [],
            "answerable": answerable, "type": type_, "abstained": abstained, "prediction": "p",
            **({"abstain_kind": "names"} if abstained else {}),
            "latency_s": 1.0 + i, "scores": scores, "retrieved_docs": ["a"], "timings": {}}


def test_aggregate_abstention_and_failures(tmp_path):
    records = [_record(0), _record(1, contains=0.0), _record(2, answerable=False, abstained=True, type_="trap"),
               _record(3, answerable=False, abstained=False, type_="trap"), _record(4, abstained=True, contains=0.0)]
    totals = aggregate(records, retrieve_only=False)
    assert totals["abstention_recall"] == 0.5
    assert totals["abstention_precision"] == 0.5
    assert totals["false_abstention_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert totals["latency_p50_s"] == 3.0
    assert totals["abstained_by_kind"] == {"names": {"answerable": 1, "unanswerable": 1}}
    causes = {f["id"]: f["cause"] for f in failures(records)}
    assert set(causes) == {"q1", "q3", "q4"}
    assert causes["q3"].startswith("answered an unanswerable question") and causes["q4"].startswith("wrongly abstained")
    assert check_thresholds({"totals": totals}, {"contains_answer": 0.9, "abstention_recall": 0.5,
                                                 "false_abstention_rate_max": 0.1}) == [
        "contains_answer = 0.3333 is below the recorded threshold 0.9",
        "false_abstention_rate = 0.3333 is above the recorded threshold 0.1"]

    results = {"dataset": "d.jsonl", "name": "d", "kind": "jsonl", "split": "all", "retrieve_only": False,
               "notes": {}, "created_at": "now", "seconds": 1.0, "model": {"model": "m", "backend": "b"},
               "totals": totals, "failures": failures(records), "questions": records}
    paths = write_reports(results, tmp_path / "run-a")
    md = paths["markdown"].read_text()
    assert "| contains answer | 0.333 |" in md and "## Failures (3)" in md and "![latency](latency.png)" in md
    assert "| names | 1 | 1 |" in md
    assert "| metric | all |\n|---|---|\n" in md and "| contains answer | 0.333 |\n" in md  # no empty third column
    assert "data:image/png;base64," in paths["html"].read_text()
    assert (tmp_path / "run-a" / "by_type.png").stat().st_size > 1000
    better = json.loads(json.dumps(results))
    better["questions"][1]["scores"]["contains_answer"] = 1.0
    better["totals"]["contains_answer"] = 0.6667
    (tmp_path / "run-b").mkdir()
    (tmp_path / "run-b" / "results.json").write_text(json.dumps(better))
    diff = compare(tmp_path / "run-a", tmp_path / "run-b")
    assert "| contains answer | 0.333 | 0.667 | +0.333 |" in diff
    assert "## Questions that changed (1)" in diff and "contains_answer 0.00→1.00" in diff


def test_wrong_answer_causes_separate_retrieval_from_the_model():
    def wrong(**fields):
        return {**_record(1, contains=0.0), **fields}

    partial = wrong(items=[["272"], ["good"]], answers=["272", "good"], answers_given=["272"],
                    answers_in_passages=["272", "good"])
    picked = wrong(answers=["inadequate"], answers_given=[], answers_in_passages=["inadequate"])
    absent = wrong(answers=["Southport Visiter"], answers_given=[], answers_in_passages=[])
    causes = [f["cause"] for f in failures([partial, picked, absent])]
    assert causes[0].startswith("incomplete: gives 272 but not good (it is in the passages shown")
    assert causes[1].startswith("the model picked another fact: inadequate is in the passages shown")
    assert causes[2].startswith("wrong answer; no gold answer is in the passages shown")


def test_answers_found_matches_whole_words():
    assert answers_found("Ofsted rated it Good, not inadequate.", ["good", "inadequate", "poor"]) == [
        "good", "inadequate"]
    assert answers_found("goodness", ["good"]) == []


def test_dataset_loading(tmp_path):
    seeds = load_dataset(__import__("tests.conftest").conftest.ROOT / "eval/datasets/seeds.jsonl")
    assert len(seeds.cases) >= 40
    assert sum(not c.answerable for c in seeds.cases) >= 8
    assert sum(len(c.gold_docs) >= 2 for c in seeds.cases) >= 5
    assert any(c.turns for c in seeds.cases)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    with pytest.raises(DatasetError, match="bad.jsonl:1"):
        load_dataset(bad)
    with pytest.raises(DatasetError, match="not a BEIR folder"):
        load_dataset(tmp_path)


def test_questions_can_be_asked_in_lower_case_or_capitals(tmp_path):
    """How much an answer depends on the capitals that mark a question's names (rag/casing.py): the same sampled
    questions, retyped, turns too."""
    path = __import__("tests.conftest").conftest.ROOT / "eval/datasets/seeds.jsonl"
    typed = load_dataset(path, limit=30)
    lower = load_dataset(path, limit=30, question_case="lower")
    upper = load_dataset(path, limit=30, question_case="upper")
    assert [c.id for c in lower.cases] == [c.id for c in typed.cases] == [c.id for c in upper.cases]
    assert [c.question for c in lower.cases] == [c.question.lower() for c in typed.cases]
    assert [c.question for c in upper.cases] == [c.question.upper() for c in typed.cases]
    assert lower.notes["question_case"] == "every question and turn typed in lower case"
    follow_ups = [c for c in load_dataset(path, question_case="lower").cases if c.turns]
    assert follow_ups and all(t == t.lower() for c in follow_ups for t in c.turns)
    with pytest.raises(DatasetError, match="question case 'title' is not one of as-typed, lower, upper"):
        load_dataset(path, question_case="title")


def test_list_questions_score_every_item():
    items = [["police"], ["health services", "health"]]
    assert M.list_completeness("The police and health [1].", items) == 1.0
    assert M.list_completeness("The police [1].", items) == 0.5
    assert M.contains_answer("The police [1].", ["police", "health"], items) == 0.0
    assert M.contains_answer("police, health services", ["police", "health"], items) == 1.0
    assert M.answers_found("only the police", ["police", "health services"], items) == ["police"]


def test_citation_overlap_with_gold_evidence():
    gold = [("a.txt", 100, 200)]
    assert M.overlaps_any(("a.txt", 150, 260), gold)
    assert not M.overlaps_any(("a.txt", 200, 260), gold)  # touching is not overlapping
    assert not M.overlaps_any(("b.txt", 150, 160), gold)


def test_paraphrase_consistency_needs_every_wording_right():
    def rec(i, group, correct):
        r = _record(i, contains=correct)
        r["paraphrase_of"] = group
        return r

    records = [rec(1, "", 1.0), rec(2, "q1", 1.0), rec(3, "q1", 1.0),  # all right
               rec(4, "", 1.0), rec(5, "q4", 0.0),  # one wording wrong
               rec(6, "", 0.0)]  # no rewording: not a group
    out = aggregate(records, retrieve_only=False)
    assert out["paraphrase_groups"] == 2 and out["paraphrase_consistency"] == 0.5


def test_totals_by_split_and_split_thresholds():
    records = [_record(1, contains=1.0), _record(2, contains=0.0)]
    records[0]["split"], records[1]["split"] = "tune", "locked"
    results = {"totals": aggregate(records, retrieve_only=False)}
    assert results["totals"]["by_split"]["tune"]["contains_answer"] == 1.0
    assert results["totals"]["by_split"]["locked"]["contains_answer"] == 0.0
    assert check_thresholds(results, {"tune/contains_answer": 0.9}) == []
    assert check_thresholds(results, {"locked/contains_answer": 0.9}) == [
        "locked/contains_answer = 0.0 is below the recorded threshold 0.9"]


def test_dataset_items_evidence_and_paraphrases(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"id": "a", "question": "Which agencies?", "answers": ["police", "health"], '
        '"items": [["police"], ["health services", "health"]], "evidence": ["the police"], "answer_type": "other"}\n'
        '{"id": "a-p1", "question": "Name the agencies.", "answers": ["x"], "all_answers": ["x", "y"], '
        '"paraphrase_of": "a"}\n')
    first, second = load_dataset(path).cases
    assert first.items == (("police",), ("health services", "health")) and first.evidence == ("the police",)
    assert second.items == (("x",), ("y",)) and second.group == "a" and first.group == "a"
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"id": "e", "question": "  "}\n')
    with pytest.raises(DatasetError, match="empty.jsonl:1: .*the question is empty"):
        load_dataset(empty)
