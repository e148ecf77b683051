"""Reports for an evaluation run: results.json, report.md and report.html with plots; and run comparison."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

TOTAL_LABELS = [
    ("questions", "questions"), ("errors", "errors"),
    ("recall@1", "retrieval recall@1"), ("recall@5", "retrieval recall@5"), ("recall@10", "retrieval recall@10"),
    ("mrr", "MRR@10"), ("ndcg@10", "nDCG@10"),
    ("exact_match", "answer exact match"), ("token_f1", "answer token F1"), ("contains_answer", "contains answer"),
    ("list_completeness", "list completeness (share of gold items given)"),
    ("cites_gold", "cites a gold document"), ("correct_and_cited", "correct and cites gold"),
    ("evidence_precision", "citations on gold evidence"), ("cites_gold_evidence", "cites gold evidence"),
    ("citation_precision", "citation precision (ALCE)"), ("citation_recall", "citation recall (ALCE)"),
    ("abstention_recall", "abstention recall (unanswerable abstained)"),
    ("abstention_precision", "abstention precision"), ("false_abstention_rate", "answerable wrongly abstained"),
    ("follow_up_correct_and_cited", "follow-ups correct and cited"),
    ("paraphrase_consistency", "paraphrase consistency (every wording right)"),
    ("paraphrase_groups", "paraphrase groups"), ("model_tokens_p50", "model tokens per answer p50"),
    ("latency_p50_s", "latency p50 (s)"), ("latency_p95_s", "latency p95 (s)"),
    ("prompt_tok_per_s", "prompt tokens/s"), ("gen_tok_per_s", "generated tokens/s"),
]


def _plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in results["questions"] if "error" not in r]
    paths = []

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    f1 = [r["scores"]["token_f1"] for r in records if "token_f1" in r.get("scores", {})]
    mrr = [r["scores"]["mrr"] for r in records if "mrr" in r.get("scores", {})]
    axes[0].hist(f1 or [0], bins=10, range=(0, 1), color="#4c72b0")
    axes[0].set_title("answer token F1" if f1 else "answer token F1 (not measured)")
    axes[1].hist(mrr or [0], bins=10, range=(0, 1), color="#55a868")
    axes[1].set_title("retrieval reciprocal rank")
    for ax in axes:
        ax.set_ylabel("questions")
    fig.tight_layout()
    paths.append(out_dir / "scores.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    latencies = [r["latency_s"] for r in records if "latency_s" in r]
    ax.hist(latencies or [0], bins=20, color="#c44e52")
    ax.set_xlabel("seconds per question")
    ax.set_ylabel("questions")
    ax.set_title(f"latency (p50 {results['totals']['latency_p50_s']} s, p95 {results['totals']['latency_p95_s']} s)")
    fig.tight_layout()
    paths.append(out_dir / "latency.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)

    by_type = results["totals"]["by_type"]
    if by_type:
        types = list(by_type)
        metrics = [m for m in ("recall@5", "contains_answer", "correct_and_cited", "abstained")
                   if any(by_type[t].get(m) is not None for t in types)]
        fig, ax = plt.subplots(figsize=(max(6, len(types) * 1.3), 3.8))
        width = 0.8 / max(1, len(metrics))
        for i, m in enumerate(metrics):
            ax.bar([x + i * width for x in range(len(types))], [by_type[t].get(m) or 0 for t in types], width, label=m)
        ax.set_xticks([x + width * (len(metrics) - 1) / 2 for x in range(len(types))])
        ax.set_xticklabels([f"{t}\n(n={by_type[t]['n']})" for t in types], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title("by question type")
        fig.tight_layout()
        paths.append(out_dir / "by_type.png")
        fig.savefig(paths[-1], dpi=90)
        plt.close(fig)
    return paths


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(results: dict[str, Any], plots: list[Path]) -> str:
    t = results["totals"]
    lines = [f"# Evaluation: {results['name']}", "",
             f"Dataset `{results['dataset']}` ({results['kind']}, split {results['split']}), "
             f"{t['questions']} questions, {'retrieval only' if results['retrieve_only'] else 'full answers'}, "
             f"run {results['created_at']} in {results['seconds']} s.", ""]
    if results.get("notes"):
        lines += [f"- {k}: {v}" for k, v in results["notes"].items()] + [""]
    if results.get("model"):
        lines += [f"Model: `{results['model'].get('model')}` ({results['model'].get('backend')})", ""]
    splits = t.get("by_split") or {}
    # One cell per column: a run with no splits has a two-column table, not a third empty one.
    lines += ["| " + " | ".join(["metric", "all", *splits]) + " |", "|---|---|" + "---|" * len(splits)]
    lines += ["| " + " | ".join([label, _fmt(t.get(key)), *(_fmt(v.get(key)) for v in splits.values())]) + " |"
              for key, label in TOTAL_LABELS if t.get(key) is not None]
    lines += ["", "## By question type", ""]
    by_type = t["by_type"]
    cols = sorted({k for v in by_type.values() for k in v} - {"n"})
    lines += ["| type | n | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    lines += [f"| {name} | {v['n']} | " + " | ".join(_fmt(v.get(c)) for c in cols) + " |"
              for name, v in by_type.items()]
    kinds = t.get("abstained_by_kind") or {}
    if kinds:
        lines += ["", "## Abstentions by kind", "", "| kind | answerable (wrongly) | unanswerable (rightly) |",
                  "|---|---|---|"]
        lines += [f"| {kind} | {n['answerable']} | {n['unanswerable']} |" for kind, n in kinds.items()]
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    fails = results["failures"]
    lines += ["", f"## Failures ({len(fails)})", ""]
    if fails:
        lines += ["| id | question | prediction | expected | cause |", "|---|---|---|---|---|"]
        for f in fails:
            cells = [f["id"], f["question"], f["prediction"], f["expected"], f["cause"]]
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def html_report(results: dict[str, Any], plots: list[Path]) -> str:
    t = results["totals"]
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(label)}</td><td>{esc(_fmt(t.get(key)))}</td></tr>"
                   for key, label in TOTAL_LABELS if t.get(key) is not None)
    images = "".join(
        f'<figure><img alt="{esc(p.stem)}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        f"</figure>" for p in plots)
    fails = "".join(
        "<tr>" + "".join(f"<td>{esc(f[k])}</td>" for k in ("id", "question", "prediction", "expected", "cause"))
        + "</tr>" for f in results["failures"])
    questions = "".join(
        f"<tr><td>{esc(r['id'])}</td><td>{esc(r['type'])}</td><td>{esc(r['question'])}</td>"
        f"<td>{esc(str(r.get('prediction', r.get('error', ''))))}</td>"
        f"<td>{esc(', '.join(r.get('retrieved_docs', [])[:3]))}</td>"
        f"<td>{esc(json.dumps(r.get('scores', {})))}</td></tr>" for r in results["questions"])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Evaluation: {esc(results['name'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px;vertical-align:top}}figure{{display:inline-block}}</style>
</head><body><h1>Evaluation: {esc(results['name'])}</h1>
<p>{esc(results['dataset'])} — split {esc(results['split'])} — {t['questions']} questions —
{'retrieval only' if results['retrieve_only'] else 'full answers'} — {esc(results['created_at'])}</p>
<table><tr><th>metric</th><th>value</th></tr>{rows}</table>{images}
<h2>Failures ({len(results['failures'])})</h2>
<table><tr><th>id</th><th>question</th><th>prediction</th><th>expected</th><th>cause</th></tr>{fails}</table>
<h2>All questions</h2><table><tr><th>id</th><th>type</th><th>question</th><th>answer</th><th>top documents</th>
<th>scores</th></tr>{questions}</table></body></html>
"""


def write_reports(results: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    plots = _plots(results, out_dir)
    (out_dir / "report.md").write_text(markdown(results, plots))
    (out_dir / "report.html").write_text(html_report(results, plots))
    return {"json": out_dir / "results.json", "markdown": out_dir / "report.md", "html": out_dir / "report.html"}


def _load(path: Path) -> dict[str, Any]:
    path = Path(path)
    return json.loads((path / "results.json" if path.is_dir() else path).read_text())


def compare(a: Path, b: Path) -> str:
    """Markdown: totals side by side, then every question whose outcome changed from run A to run B."""
    ra, rb = _load(a), _load(b)
    lines = [f"# {a} → {b}", "", "| metric | A | B | change |", "|---|---|---|---|"]
    for key, label in TOTAL_LABELS:
        va, vb = ra["totals"].get(key), rb["totals"].get(key)
        if va is None and vb is None:
            continue
        delta = f"{vb - va:+.3f}" if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else ""
        lines.append(f"| {label} | {_fmt(va)} | {_fmt(vb)} | {delta} |")
    qa = {r["id"]: r for r in ra["questions"]}
    changed = []
    for r in rb["questions"]:
        old = qa.get(r["id"])
        if old is None:
            continue
        diffs = []
        for key in ("contains_answer", "cites_gold", "recall@5", "citation_recall"):
            x, y = old.get("scores", {}).get(key), r.get("scores", {}).get(key)
            if x is not None and y is not None and x != y:
                diffs.append(f"{key} {x:.2f}→{y:.2f}")
        if old.get("abstained") != r.get("abstained"):
            diffs.append(f"abstained {old.get('abstained')}→{r.get('abstained')}")
        if diffs:
            changed.append(f"| {r['id']} | {r['question']} | {old.get('prediction', '')} | {r.get('prediction', '')} "
                           f"| {'; '.join(diffs)} |")
    lines += ["", f"## Questions that changed ({len(changed)})", ""]
    if changed:
        lines += ["| id | question | A | B | change |", "|---|---|---|---|---|", *changed]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"
