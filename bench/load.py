"""Load test of ``rag serve`` over loopback: N concurrent chat sessions x M questions through the app's HTTP API.

Starts ``rag serve`` as a subprocess on a free loopback port over a fresh temporary index (the server indexes the
seeds on start), waits until it answers, warms the model with one question, then runs N client threads. Each
client is one browser session: its own ``session_hash`` and HTTP connection, speaking the protocol the page
itself uses (``POST /gradio_api/queue/join`` with the chat event's ``fn_index``, then the server-sent events of
``GET /gradio_api/queue/data``, applying the streamed diffs). The chat event is deliberately hidden from the
Gradio client libraries (``api_visibility="private"`` in ``ui/app.py``), so ``gradio_client`` cannot call it;
the page's own protocol is the app's real HTTP API.

Each client asks its questions as one conversation (the chat history grows, follow-ups get the standalone
rewrite, as for a person at the page). Questions come from ``eval/datasets/seeds.jsonl`` (answerable ones, with
expected answers and gold documents); clients start at different offsets, so at any moment they ask different
questions. Checked for every answer:

* error: a transport failure, a Gradio error event, a timeout, or the app's own error block in the answer;
* mixed-up: the chat the server returns must be exactly this session's history plus this question (the echoed
  user turns, in order, equal the questions this client sent) and must end with an answer to it;
* correct (reported, not a failure: it measures the model, not the server): the expected answer string is in
  the answer; cited_gold: the answer cites the question's gold document.

Latency is measured per request from ``queue/join`` to the final event (time spent waiting in the queue
included). Server memory is the RSS summed over the server's process tree (``/proc``), sampled after the
warm-up, after 10% of the questions (20 of 200) and at the end, after every answer (``memory_series_mb``),
and the peak seen by a 1 s sampler.

Usage: .venv/bin/python bench/load.py --clients 8 --questions 25 [--out bench/results/load.json]
Exit status 0 when the run finished within ``--timeout`` with no error, no mixed-up answer, and final memory
within 10% of the 10% mark; 1 otherwise.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from gradio_client.utils import apply_diff

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "eval" / "datasets" / "seeds.jsonl"
DEFAULT_OUT = ROOT / "bench" / "results" / "load.json"
MEMORY_TOLERANCE = 0.10
WARMUP_QUESTION = "Who inspected the councils?"

log = logging.getLogger("bench.load")


class LoadTestError(RuntimeError):
    """The load test could not run (server did not start, the app's chat event was not found)."""


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    answers: tuple[str, ...]
    gold_docs: tuple[str, ...]


@dataclass
class Result:
    client: int
    turn: int
    qid: str
    question: str
    started_s: float = 0.0
    latency_s: float | None = None
    error: str | None = None
    mixed_up: str | None = None
    abstained: bool = False
    correct: bool = False
    cited_gold: bool = False
    answer: str = ""


@dataclass
class Memory:
    samples: dict[str, int] = field(default_factory=dict)
    series: list[int] = field(default_factory=list)  # after each answer, in completion order
    peak: int = 0


def load_questions(path: Path = DATASET) -> list[Question]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("answerable") and row.get("answers"):
            out.append(Question(row["id"], row["question"], tuple(row["answers"]), tuple(row["gold_docs"])))
    return out


def plan(pool: list[Question], clients: int, per_client: int) -> list[list[Question]]:
    """Each client its own run of questions; clients start at evenly spread offsets, so they differ at any step."""
    step = max(1, len(pool) // clients)
    return [[pool[(c * step + i) % len(pool)] for i in range(per_client)] for c in range(clients)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss(pid: int) -> int:
    """Resident memory in bytes of ``pid`` and all its descendants (Linux /proc)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024  # type: ignore[union-attr]
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, AttributeError):
            continue
    return total


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _text(content: Any) -> str:
    """A chat message's content (string, or Gradio's list of typed parts) as plain text."""
    if isinstance(content, list):
        content = " ".join(_text(part) for part in content)
    elif isinstance(content, dict):
        content = content.get("text") or content.get("content") or ""
    content = re.sub(r"<br\s*/?>", "\n", str(content))
    return html.unescape(re.sub(r"<[^>]+>", " ", content))


def _norm(text: str) -> str:
    return " ".join(text.split())


class ChatApp:
    """What a client needs to know about the running app: the chat event and its inputs' defaults."""

    def __init__(self, base_url: str, config: dict[str, Any]):
        self.base_url = base_url
        components = {c["id"]: c for c in config["components"]}
        by_elem = {c.get("props", {}).get("elem_id"): c["id"] for c in config["components"]}
        ask = by_elem.get("rag-ask")
        dep = next((d for d in config["dependencies"] if [ask, "click"] in d.get("targets", [])), None)
        if ask is None or dep is None:
            raise LoadTestError("the app has no 'rag-ask' button with a click event; is this rag serve?")
        self.fn_index: int = dep["id"]
        self.trigger_id: int = ask
        self.inputs: list[int] = dep["inputs"]
        self.chatbot = by_elem["rag-chat"]
        self.question = next(i for i in self.inputs if components[i].get("props", {}).get("elem_id") == "rag-question")
        self.defaults = [components[i].get("props", {}).get("value") for i in self.inputs]
        self.types = [components[i].get("type") for i in self.inputs]
        self.chat_out = dep["outputs"].index(self.chatbot)

    def payload(self, question: str, chat: list[dict[str, Any]]) -> list[Any]:
        data = []
        for cid, default, kind in zip(self.inputs, self.defaults, self.types, strict=True):
            if cid == self.question:
                data.append(question)
            elif cid == self.chatbot:
                data.append(chat)
            elif kind == "state":
                data.append(None)  # the server keeps each session's state; the page sends null
            else:
                data.append(default)
        return data


def ask(http: httpx.Client, app: ChatApp, session: str, question: str, chat: list[dict[str, Any]],
        timeout: float) -> list[Any]:
    """One chat event as the page sends it; returns the final output values. Raises on any failure."""
    body = {"data": app.payload(question, chat), "event_data": None, "fn_index": app.fn_index,
            "trigger_id": app.trigger_id, "session_hash": session}
    r = http.post(f"{app.base_url}/gradio_api/queue/join", json=body)
    r.raise_for_status()
    event_id = r.json()["event_id"]
    output: list[Any] | None = None
    deadline = time.monotonic() + timeout
    with http.stream("GET", f"{app.base_url}/gradio_api/queue/data", params={"session_hash": session}) as resp:
        resp.raise_for_status()
        for line in resp.iter_lines():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer within {timeout:.0f} s")
            if not line.startswith("data:"):
                continue
            msg = json.loads(line[5:])
            if msg.get("event_id") not in (None, event_id):
                raise RuntimeError(f"event for another request on this session: {msg.get('event_id')}")
            kind = msg.get("msg")
            if kind == "process_generating":
                data = msg["output"].get("data", [])
                output = list(data) if output is None else [apply_diff(o, d) for o, d in zip(output, data,
                                                                                             strict=True)]
            elif kind == "process_completed":
                if not msg.get("success", False):
                    raise RuntimeError(f"server error: {msg.get('output')}")
                data = msg["output"].get("data")
                if data and output is not None and len(data) == len(output):
                    # a generator's last event may carry diffs or the full values; apply diffs when they are
                    output = [apply_diff(o, d) if _is_diff(d) else d for o, d in zip(output, data, strict=True)]
                elif data:
                    output = list(data)
                if output is None:
                    raise RuntimeError("completed without output")
                return output
            elif kind in ("unexpected_error", "server_stopped"):
                raise RuntimeError(f"{kind}: {msg.get('message')}")
    raise RuntimeError("the event stream ended before the answer was complete")


def _is_diff(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, list) and len(v) == 3 and v[0] in
                                           ("replace", "append", "add", "delete") for v in value)


def check(result: Result, q: Question, sent: list[str], chat: list[dict[str, Any]]) -> None:
    """Fill in mixed_up / error / correctness of one answer against this session's own history."""
    users = [_norm(_text(m.get("content"))) for m in chat if m.get("role") == "user"]
    if users != [_norm(s) for s in sent]:
        result.mixed_up = f"session history does not match: sent {len(sent)} questions, got back {users!r}"
        return
    if len(chat) != 2 * len(sent) or chat[-1].get("role") != "assistant":
        result.mixed_up = f"chat has {len(chat)} messages for {len(sent)} questions"
        return
    raw = str(chat[-1].get("content"))
    text = _norm(_text(chat[-1].get("content")))
    result.answer = text[:400]
    if "rag-error" in raw:
        result.error = f"app error: {text[:200]}"
        return
    if "rag-draft" in raw:
        result.error = "answer still a draft at the end of the event"
        return
    result.abstained = "rag-abstain" in raw
    result.correct = any(a.lower() in text.lower() for a in q.answers)
    result.cited_gold = any(doc in text for doc in q.gold_docs)


def run_client(index: int, app: ChatApp, questions: list[Question], results: list[Result], done: threading.Event,
               progress: threading.Semaphore, request_timeout: float, t0: float) -> None:
    session = uuid.uuid4().hex[:11]
    chat: list[dict[str, Any]] = []
    sent: list[str] = []
    with httpx.Client(timeout=httpx.Timeout(request_timeout, connect=10.0)) as http:
        for turn, q in enumerate(questions):
            if done.is_set():
                return
            result = Result(index, turn, q.qid, q.text)
            results.append(result)
            started = time.perf_counter()
            result.started_s = round(started - t0, 3)
            try:
                output = ask(http, app, session, q.text, chat, request_timeout)
                result.latency_s = round(time.perf_counter() - started, 3)
                new_chat = output[app.chat_out]
                sent.append(q.text)
                check(result, q, sent, new_chat)
                chat = new_chat
            except Exception as exc:  # noqa: BLE001 - every failure is recorded as this request's error
                result.latency_s = round(time.perf_counter() - started, 3)
                result.error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("client %d question %d failed: %s", index, turn, result.error)
                return  # this session's history is now unknown; stop this client
            finally:
                progress.release()
            log.info("client %d q%d %s %.1fs%s%s", index, turn, q.qid, result.latency_s,
                     " MIXED" if result.mixed_up else "", " ERROR" if result.error else "")


def start_server(index_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    rag = Path(sys.executable).with_name("rag")
    cmd = [str(rag)] if rag.exists() else [sys.executable, "-m", "rag.cli"]
    cmd += ["serve", "--host", "127.0.0.1", "--port", str(port), "--index", str(index_dir), "--quiet"]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    with log_path.open("wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_ready(base_url: str, server: subprocess.Popen[bytes], deadline: float, log_path: Path) -> dict[str, Any]:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise LoadTestError(f"rag serve exited with {server.returncode}: {_tail(log_path)}")
        try:
            r = httpx.get(f"{base_url}/config", timeout=5.0)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    raise LoadTestError(f"rag serve did not answer on {base_url} in time: {_tail(log_path)}")


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=20)


def run_load(clients: int, per_client: int, *, timeout: float, request_timeout: float = 600.0,
             early_mark: int | None = None, work_dir: Path | None = None) -> dict[str, Any]:
    """Start a server, run the load, stop the server; the report as a dict (see ``main`` for the verdict)."""
    pool = load_questions()
    questions = plan(pool, clients, per_client)
    total = clients * per_client
    early_mark = early_mark or max(1, round(total * 0.1))
    started_wall = time.monotonic()
    deadline = started_wall + timeout
    tmp = Path(tempfile.mkdtemp(prefix="rag-load-", dir=work_dir))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp / "serve.log"
    load_before = load_average()
    server = start_server(tmp / "index", port, log_path)
    memory = Memory()
    results: list[Result] = []
    report: dict[str, Any] = {"clients": clients, "questions_per_client": per_client, "total_questions": total,
                              "load_average_before": load_before, "cpus": os.cpu_count(),
                              "protocol": "gradio page protocol: POST /gradio_api/queue/join + SSE queue/data"}
    try:
        config = wait_ready(base_url, server, deadline, log_path)
        report["startup_s"] = round(time.monotonic() - started_wall, 1)
        app = ChatApp(base_url, config)
        memory.samples["after_start"] = tree_rss(server.pid)
        with httpx.Client(timeout=httpx.Timeout(request_timeout, connect=10.0)) as http:
            t = time.perf_counter()
            try:
                ask(http, app, uuid.uuid4().hex[:11], WARMUP_QUESTION, [], request_timeout)
            except (httpx.HTTPError, RuntimeError, TimeoutError) as exc:
                raise LoadTestError(f"the warm-up question failed: {exc}; {_tail(log_path)}") from exc
            report["warmup_s"] = round(time.perf_counter() - t, 2)
        memory.samples["after_warmup"] = tree_rss(server.pid)

        done = threading.Event()
        progress = threading.Semaphore(0)
        t0 = time.perf_counter()
        threads = [threading.Thread(target=run_client, name=f"client-{c}", daemon=True,
                                    args=(c, app, questions[c], results, done, progress, request_timeout, t0))
                   for c in range(clients)]
        for th in threads:
            th.start()

        def sample_peak() -> None:
            while not done.is_set():
                memory.peak = max(memory.peak, tree_rss(server.pid))
                done.wait(1.0)

        sampler = threading.Thread(target=sample_peak, daemon=True)
        sampler.start()
        finished = 0
        timed_out = False
        while finished < total:
            if not progress.acquire(timeout=max(0.0, min(5.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    timed_out = True
                    break
                if not any(th.is_alive() for th in threads):
                    break  # clients stopped early (after an error)
                continue
            finished += 1
            memory.series.append(tree_rss(server.pid))
            if finished == early_mark:
                memory.samples[f"after_{early_mark}"] = tree_rss(server.pid)
        memory.samples[f"after_{finished}"] = tree_rss(server.pid)
        done.set()
        for th in threads:
            th.join(timeout=5)
        report["run_s"] = round(time.perf_counter() - t0, 1)
        report["timed_out"] = timed_out
        report["server_alive_at_end"] = server.poll() is None
        if report["server_alive_at_end"]:
            try:
                report["server_answers_at_end"] = httpx.get(f"{base_url}/config", timeout=10.0).status_code == 200
            except httpx.HTTPError:
                report["server_answers_at_end"] = False
    finally:
        stop_server(server)
        report["load_average_after"] = load_average()
        report["server_log_tail"] = _tail(log_path, 1500)
        shutil.rmtree(tmp, ignore_errors=True)

    results.sort(key=lambda r: (r.client, r.turn))
    latencies = [r.latency_s for r in results if r.latency_s is not None and r.error is None]
    completed = [r for r in results if r.latency_s is not None]
    early_key, final_key = f"after_{early_mark}", f"after_{len(completed)}"
    early, final = memory.samples.get(early_key), memory.samples.get(final_key)
    growth = (final - early) / early if early and final else None
    report.update({
        "completed": len(completed),
        "errors": sum(r.error is not None for r in results),
        "mixed_up": sum(r.mixed_up is not None for r in results),
        "correct": sum(r.correct for r in results),
        "cited_gold": sum(r.cited_gold for r in results),
        "abstained": sum(r.abstained for r in results),
        "latency_s": {"p50": pct(latencies, 0.5), "p95": pct(latencies, 0.95), "max": max(latencies, default=None),
                      "mean": round(statistics.fmean(latencies), 3) if latencies else None},
        "throughput_answers_per_min": round(60 * len(latencies) / report["run_s"], 2) if report.get("run_s") else None,
        "memory_rss_mb": {k: round(v / 2**20, 1) for k, v in memory.samples.items()} | {
            "peak": round(memory.peak / 2**20, 1)},
        "memory_series_mb": [round(v / 2**20, 1) for v in memory.series],
        "memory_early_mark": early_key,
        "memory_final_mark": final_key,
        "memory_growth_pct": round(100 * growth, 2) if growth is not None else None,
        "results": [asdict(r) for r in results],
    })
    report["passed"] = bool(
        not report.get("timed_out") and report["completed"] == total and report["errors"] == 0
        and report["mixed_up"] == 0 and report.get("server_answers_at_end")
        and growth is not None and growth <= MEMORY_TOLERANCE)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=8, help="concurrent sessions (default 8)")
    p.add_argument("--questions", type=int, default=25, help="questions per session (default 25)")
    p.add_argument("--timeout", type=float, default=3 * 3600, help="overall time limit in seconds (default 3 h)")
    p.add_argument("--request-timeout", type=float, default=900, help="one answer's limit incl. queueing (s)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON report (default {DEFAULT_OUT})")
    p.add_argument("--early-mark", type=int, metavar="N", help="measure memory after N answers too, compared "
                   "with the end (default 10%% of the total: 20 of 200)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        report = run_load(args.clients, args.questions, timeout=args.timeout, request_timeout=args.request_timeout,
                          early_mark=args.early_mark)
    except LoadTestError as exc:
        log.error("load test could not run: %s", exc)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    lat, mem = report["latency_s"], report["memory_rss_mb"]
    early, final = report["memory_early_mark"], report["memory_final_mark"]
    summary = (f"{report['completed']}/{report['total_questions']} answered by {report['clients']} clients in "
               f"{report.get('run_s')} s; errors {report['errors']}, mixed-up {report['mixed_up']}, correct "
               f"{report['correct']}; p50 {lat['p50']} s, p95 {lat['p95']} s; RSS {mem.get(early)} MB at {early} -> "
               f"{mem.get(final)} MB at {final} ({report['memory_growth_pct']}%); load {report['load_average_before']}")
    if report.get("timed_out"):
        log.error("TIMED OUT after %.0f s: %s", args.timeout, summary)
    log.info("%s: %s -> %s", "PASSED" if report["passed"] else "FAILED", summary, args.out)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
