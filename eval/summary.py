"""Totals, per-split and per-type scores, failure causes and the CI thresholds over per-question records."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from eval import metrics as M


def _mean(records: list[dict], key: str) -> float | None:
    values = [r["scores"][key] for r in records if key in r.get("scores", {})]
    return round(statistics.fmean(values), 4) if values else None


def _share(records: list[dict], test) -> float | None:
    return round(sum(bool(test(r)) for r in records) / len(records), 4) if records else None


ANSWER_KEYS = ("exact_match", "token_f1", "contains_answer", "list_completeness", "cites_gold", "correct_and_cited",
               "evidence_precision", "cites_gold_evidence", "citation_precision", "citation_recall")


def aggregate(records: list[dict], *, retrieve_only: bool, by_split: bool = True) -> dict[str, Any]:
    ok = [r for r in records if "error" not in r]
    totals: dict[str, Any] = {"questions": len(records), "errors": len(records) - len(ok)}
    for key in ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"):
        totals[key] = _mean(ok, key)
    latencies = [r["latency_s"] for r in ok if "latency_s" in r]
    totals["latency_p50_s"] = round(M.percentile(latencies, 0.5), 3)
    totals["latency_p95_s"] = round(M.percentile(latencies, 0.95), 3)
    if not retrieve_only:
        totals.update(_answer_totals(ok))
    totals["by_type"] = _by_type(ok, retrieve_only=retrieve_only)
    splits = sorted({r.get("split") or "" for r in ok} - {""})
    if by_split and len(splits) > 1:
        totals["by_split"] = {name: aggregate([r for r in records if r.get("split") == name],
                                              retrieve_only=retrieve_only, by_split=False) for name in splits}
    return totals


def _answer_totals(ok: list[dict]) -> dict[str, Any]:
    totals: dict[str, Any] = {key: _mean(ok, key) for key in ANSWER_KEYS}
    answerable = [r for r in ok if r["answerable"]]
    unanswerable = [r for r in ok if not r["answerable"]]
    abstained = [r for r in ok if r.get("abstained")]
    totals["abstention_recall"] = _share(unanswerable, lambda r: r.get("abstained"))
    totals["abstention_precision"] = _share(abstained, lambda r: not r["answerable"])
    totals["false_abstention_rate"] = _share(answerable, lambda r: r.get("abstained"))
    totals["abstained_by_kind"] = abstained_by_kind(abstained)
    follow_ups = [r for r in answerable if r.get("turns")]
    totals["follow_up_correct_and_cited"] = _mean(follow_ups, "correct_and_cited")
    totals.update(paraphrase_consistency(ok))
    tokens = [r["model_tokens"] for r in ok if r.get("model_tokens")]
    totals["model_tokens_p50"] = round(M.percentile(tokens, 0.5), 1) if tokens else None
    for key, rate in (("prompt_tok_per_s", "prompt_tok_per_s"), ("gen_tok_per_s", "gen_tok_per_s")):
        rates = [r["timings"][rate] for r in ok if rate in r.get("timings", {})]
        totals[key] = round(statistics.fmean(rates), 1) if rates else None
    return totals


def abstained_by_kind(abstained: list[dict]) -> dict[str, dict[str, int]]:
    """How many answerable and unanswerable questions each kind of abstention took (Answer.abstain_kind): which
    check costs right answers, and which one keeps traps out."""
    kinds: dict[str, dict[str, int]] = {}
    for r in abstained:
        counts = kinds.setdefault(r.get("abstain_kind") or "unknown", {"answerable": 0, "unanswerable": 0})
        counts["answerable" if r["answerable"] else "unanswerable"] += 1
    return dict(sorted(kinds.items(), key=lambda kv: -sum(kv[1].values())))


def paraphrase_consistency(records: list[dict]) -> dict[str, Any]:
    """Share of paraphrase groups (a question and its rewordings, answerable, at least two in the run) whose
    every member is correct and cited: an answer that flips with the wording is not yet right."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        if r["answerable"] and "correct_and_cited" in r.get("scores", {}):
            groups[r.get("paraphrase_of") or r["id"]].append(r)
    reworded = [members for members in groups.values() if len(members) > 1]
    if not reworded:
        return {"paraphrase_groups": 0, "paraphrase_consistency": None}
    held = sum(all(m["scores"]["correct_and_cited"] == 1.0 for m in members) for members in reworded)
    return {"paraphrase_groups": len(reworded), "paraphrase_consistency": round(held / len(reworded), 4)}


def _by_type(ok: list[dict], *, retrieve_only: bool) -> dict[str, dict[str, Any]]:
    by_type: dict[str, dict[str, Any]] = defaultdict(dict)
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in ok:
        groups[r["type"]].append(r)
    for t, rs in sorted(groups.items()):
        by_type[t]["n"] = len(rs)
        for key in ("recall@5", "contains_answer", "correct_and_cited", "citation_recall"):
            by_type[t][key] = _mean(rs, key)
        if not retrieve_only:
            by_type[t]["abstained"] = round(sum(bool(r.get("abstained")) for r in rs) / len(rs), 4)
    return dict(by_type)


def failures(records: list[dict]) -> list[dict[str, str]]:
    """Every question the run got wrong, with the cause as far as the record tells."""
    out = []
    for r in records:
        s = r.get("scores", {})
        if "error" in r:
            cause = f"error: {r['error']}"
        elif not r["answerable"]:
            if r.get("abstained", True):
                continue
            cited = r.get("citations") or []
            support = f", best citation support {max(c['support'] for c in cited):.2f}" if cited else ""
            cause = ("answered an unanswerable question: the model stated a related fact from the passages and "
                     f"the citation check found it supported{support}")
        elif r.get("abstained"):
            cause = f"wrongly abstained ({r.get('abstain_reason')}; {_retrieved(r)})"
        elif "contains_answer" in s and not s["contains_answer"]:
            cause = _wrong_answer_cause(r)
        elif "cites_gold" in s and not s["cites_gold"]:
            cause = "correct answer but no citation of a gold document"
        elif s.get("evidence_precision", 1.0) < 1.0:
            cause = (f"a citation is off the gold evidence ({s['evidence_precision']:.2f} of the citations on it)")
        elif s.get("citation_recall", 1.0) < 1.0 or s.get("citation_precision", 1.0) < 1.0:
            cause = "a citation does not support its sentence (judge)"
        elif "recall@10" in s and not s["recall@10"] and "contains_answer" not in s:
            cause = "retrieval missed the gold document"
        else:
            continue
        out.append({"id": r["id"], "question": r["question"], "prediction": r.get("prediction", ""),
                    "expected": " | ".join(_wanted(r)) or "(abstain)", "cause": cause})
    return out


def _wanted(r: dict) -> list[str]:
    """What a record's answer must give: one name per list item, else the accepted answers."""
    if r.get("items"):
        return [item[0] for item in r["items"]]
    return list(r.get("answers") or [])


def _retrieved(r: dict) -> str:
    return "gold document retrieved" if r.get("scores", {}).get("recall@5") else "gold document NOT in top 5"


def _wrong_answer_cause(r: dict) -> str:
    wanted = _wanted(r)
    given, held = r.get("answers_given", []), r.get("answers_in_passages")
    retrieved = _retrieved(r)
    if held is None:  # a record from before these fields existed
        return f"wrong or incomplete answer ({retrieved})"
    if r.get("items") and given:
        missing = [a for a in wanted if a not in given]
        where = ("it is in the passages shown" if set(missing) & set(held)
                 else "not in the passages shown, word for word")
        return f"incomplete: gives {', '.join(given)} but not {', '.join(missing)} ({where}; {retrieved})"
    if held:
        return (f"the model picked another fact: {', '.join(held)} is in the passages shown ({retrieved})")
    return f"wrong answer; no gold answer is in the passages shown, word for word ({retrieved})"


def check_thresholds(results: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """Regressions: every total below its recorded minimum (or above its maximum for *_max keys). A key
    ``SPLIT/metric`` checks that split's totals (``locked/correct_and_cited``)."""
    problems = []
    for key, limit in thresholds.items():
        if key.startswith("_"):
            continue
        name, upper = (key[:-4], True) if key.endswith("_max") else (key, False)
        totals = results["totals"]
        if "/" in name:
            split, name = name.split("/", 1)
            totals = totals.get("by_split", {}).get(split, {})
        value = totals.get(name)
        label = key[:-4] if upper else key
        if value is None:
            problems.append(f"{label}: not measured")
        elif (value > limit) if upper else (value < limit):
            problems.append(f"{label} = {value} is {'above' if upper else 'below'} the recorded threshold {limit}")
    return problems
