"""Shared helpers for the benchmark scripts: machine description, load average, memory, percentiles, one timed
answer."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
QUOREF = Path(__file__).resolve().parents[2] / "shared/datasets/quoref"
SEEDS = Path(__file__).resolve().parents[1] / "eval/datasets/seeds.jsonl"
PYDOCS = Path("/usr/share/doc/python3.11/html")


def tuning_questions(which: str, keep=lambda case: True):
    """The dataset and the questions answer-level tuning may look at: Quoref questions outside the fixed
    300-question sample that `rag eval --limit 300` reports, or the single-turn seeds tune split (never the
    heldout split). ``keep`` narrows them further."""
    from eval.dataset import load_dataset

    if which == "quoref":
        dataset = load_dataset(QUOREF)
        reported = {c.id for c in load_dataset(QUOREF, limit=300).cases}
        return dataset, [c for c in dataset.cases if c.id not in reported and keep(c)]
    dataset = load_dataset(SEEDS)
    return dataset, [c for c in dataset.cases if c.split == "tune" and not c.turns and keep(c)]


def machine() -> dict[str, object]:
    """The machine a result was measured on: CPU model and the flags that decide model speed (rag/machine.py)."""
    from rag.machine import cpu_info

    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {**cpu_info().to_dict(), "memory_gib": round(mem_gib, 1), "python": platform.python_version()}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentiles(seconds: list[float]) -> dict[str, float]:
    arr = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(arr, 50)), 3), "p95_ms": round(float(np.percentile(arr, 95)), 3)}


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"machine": machine(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_average_at_end": load_average(), **data}
    path.write_text(json.dumps(data, indent=2))
    return path


class TimingEmbedder:
    """Pass-through embedder that adds up the time spent encoding (the share subtracted from update costs)."""

    def __init__(self, inner):
        self.inner, self.seconds, self.texts = inner, 0.0, 0

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        started = time.perf_counter()
        out = self.inner.encode(texts, progress=progress)
        self.seconds += time.perf_counter() - started
        self.texts += len(texts)
        return out


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank; nan for none)."""
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


def timed_answer(pipeline, question: str) -> dict[str, object]:
    """One streamed answer: seconds to the first model token and to the checked answer, its text and tokens."""
    started = time.perf_counter()
    first = None
    answer = None
    for event in pipeline.ask_stream(question):
        if event.kind == "token" and first is None:
            first = time.perf_counter() - started
        if event.kind == "answer":
            answer = event.answer
    assert answer is not None
    return {"total": time.perf_counter() - started, "first": first, "text": answer.text,
            "tokens": answer.timings.get("completion_tokens", 0), "generate_s": answer.timings.get("generate_s", 0)}
