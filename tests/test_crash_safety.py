"""Crashes and concurrency: SIGKILL at random points while indexing, two writers, readers during a swap, and
damaged or foreign index files. The previous index always loads and answers; nothing is lost or duplicated."""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag.chunker import SentenceChunker
from rag.cli import EXIT_ERROR, EXIT_OK, main
from rag.index import (
    CATALOG_FILE,
    CURRENT_FILE,
    MANIFEST_FILE,
    DocumentIndex,
    Indexer,
    IndexLockedError,
    IndexMissingError,
    index_lock,
)
from rag.retriever import HybridRetriever
from tests.conftest import ROOT

TOWNS = ("Ashford Barnsley Carlisle Dover Exeter Frome Grantham Hexham Ilkley Jarrow Keswick Ludlow Malton Newark "
         "Oakham Penrith Ripon Selby Thirsk Ulverston Ventnor Wetherby Yarm Zennor Alnwick Bude Cromer Dartmouth "
         "Epsom Filey").split()
CROPS = "tomato bean pea squash kale leek onion carrot beet chard radish lettuce".split()
KILL_TRIALS = 14
RNG_SEED = 20261123


def doc_text(i: int, version: int = 0) -> str:
    town = TOWNS[i % len(TOWNS)]
    crop = CROPS[i % len(CROPS)]
    n = 100 + 7 * i + version
    return (f"# {town} seed library, depot {i}\n\n"
            f"The {town} seed library (depot {i}) keeps {n} varieties of heirloom {crop} seeds. "
            f"It opened in {1950 + i} and lends seeds to {20 + i} community gardens every spring. "
            f"Volunteers in {town} clean, dry and pack the {crop} seeds by hand each autumn.\n")


def write_docs(folder: Path, ids: range, version: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in ids:
        (folder / f"depot-{i:03d}.md").write_text(doc_text(i, version))


def index_cmd(folder: Path) -> list[str]:
    return [sys.executable, "-m", "rag.cli", "index", str(folder), "--quiet"]


def check_consistent(index: DocumentIndex) -> None:
    """Vectors == chunks, no duplicate chunks, every chunk belongs to a document and quotes its text."""
    assert len(index.store) == len(index.chunks)
    keys = [(c.doc_id, c.ordinal) for c in index.chunks.values()]
    assert len(keys) == len(set(keys)), "duplicate chunks"
    assert {c.doc_id for c in index.chunks.values()} == set(index.documents)
    conn = sqlite3.connect(f"file:{index.index_dir / index.snapshot / CATALOG_FILE}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def lock_is_free(index_dir: Path) -> bool:
    try:
        with index_lock(index_dir):
            return True
    except IndexLockedError:
        return False


def new_generation_started(index_dir: Path, live: str) -> bool:
    return any(p.name.startswith("gen-") and p.name != live for p in index_dir.iterdir())


def test_sigkill_during_indexing_never_loses_the_previous_index(tmp_path, embedder):
    """KILL_TRIALS runs of `rag index`, each killed with SIGKILL at a seeded random moment: half at a random
    delay from process start (startup, reading, embedding), half at a random delay after the new generation
    folder appears (writing and publishing). After every kill the index loads, is consistent, is exactly the
    previous or the complete next state, answers retrieval, and the lock is free; a final run completes it."""
    rng = random.Random(RNG_SEED)
    docs, idx = tmp_path / "docs", tmp_path / "idx"
    write_docs(docs, range(0, 30))
    Indexer(idx, embedder, SentenceChunker(), progress=False).index_paths([docs])
    env = {**os.environ, "RAG_INDEX_DIR": str(idx)}
    expected = {p.name: p.read_text() for p in docs.iterdir()}  # what the live index holds
    outcomes = {"previous": 0, "next": 0, "partial generation left behind": 0}
    next_id = 30
    for trial in range(KILL_TRIALS):
        # Pending work for this run: five new documents, one changed, one deleted.
        write_docs(docs, range(next_id, next_id + 5))
        next_id += 5
        changed = docs / f"depot-{trial:03d}.md"
        changed.write_text(doc_text(trial, version=trial + 1))
        (docs / f"depot-{trial + 15:03d}.md").unlink(missing_ok=True)
        wanted = {p.name: p.read_text() for p in docs.iterdir()}

        live = (idx / CURRENT_FILE).read_text().strip()
        existing = {p.name for p in idx.iterdir()}
        proc = subprocess.Popen(index_cmd(docs), env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if trial % 2 == 0:
            time.sleep(rng.uniform(0.5, 20.0))
        else:
            deadline = time.time() + 120
            while time.time() < deadline and proc.poll() is None and not new_generation_started(idx, live):
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()

        assert lock_is_free(idx), "a killed writer's lock must not block (flock is released on death)"
        index = DocumentIndex.open(idx)
        check_consistent(index)
        held = {d: index.document_text(d) for d in index.documents}
        state = "next" if index.snapshot != live else "previous"
        # Killed while writing: this run's unfinished generation folder is left behind (and ignored).
        outcomes["partial generation left behind"] += any(
            p.name.startswith("gen-") and p.name not in existing | {index.snapshot} for p in idx.iterdir())
        reference = wanted if state == "next" else expected
        assert set(held) == set(reference), f"trial {trial}: a partial index was published"
        for name, raw in reference.items():
            assert held[name].split("\n")[-1] in raw.replace("\n\n", "\n")
        outcomes[state] += 1
        expected = reference
        # Retrieval answers from whatever generation is live.
        probe = sorted(reference)[trial % len(reference)]
        number = int(probe.removeprefix("depot-").removesuffix(".md"))
        hits = HybridRetriever(index, embedder).search(f"Which seed library opened in {1950 + number}?", 3)
        assert probe in [h.chunk.doc_id for h in hits]
        chunk = next(c for c in index.chunks.values() if c.doc_id == probe)
        assert index.store.search(embedder.encode([chunk.text])[0], 1)[0][0] == chunk.chunk_id

    done = subprocess.run(index_cmd(docs) + ["--json"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == EXIT_OK, done.stderr
    index = DocumentIndex.open(idx)
    check_consistent(index)
    final = {p.name: p.read_text() for p in docs.iterdir()}
    assert set(index.documents) == set(final)
    assert index.manifest["documents"] == len(final) and index.manifest["chunks"] == len(index.chunks)
    # Stale generations and temp files from the killed runs are gone; the stale lock file is harmless.
    leftovers = sorted(p.name for p in idx.iterdir() if p.name not in {CURRENT_FILE, ".lock"})
    assert leftovers == [index.snapshot]
    assert not list(idx.rglob("*.tmp"))
    # Same catalog as a clean index built from scratch: nothing lost, nothing duplicated.
    clean = Indexer(tmp_path / "clean", embedder, SentenceChunker(), progress=False)
    clean.index_paths([docs])
    fresh = DocumentIndex.open(tmp_path / "clean")
    assert sorted((c.doc_id, c.text) for c in index.chunks.values()) == \
        sorted((c.doc_id, c.text) for c in fresh.chunks.values())
    print(f"kill trials: {KILL_TRIALS}, outcomes {outcomes}")  # recorded in docs/reliability.md
    assert outcomes["previous"] + outcomes["next"] == KILL_TRIALS


def test_sigkill_during_the_first_index_leaves_no_half_index(tmp_path, embedder):
    docs, idx = tmp_path / "docs", tmp_path / "idx"
    write_docs(docs, range(0, 40))
    idx.mkdir()
    proc = subprocess.Popen(index_cmd(docs), env={**os.environ, "RAG_INDEX_DIR": str(idx)}, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not new_generation_started(idx, ""):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (idx / CURRENT_FILE).exists()
    with pytest.raises(IndexMissingError, match="no index at .*; create one with: rag index PATH"):
        DocumentIndex.open(idx)
    Indexer(idx, embedder, SentenceChunker(), progress=False).index_paths([docs])
    index = DocumentIndex.open(idx)
    check_consistent(index)
    assert len(index.documents) == 40 and index.snapshot == "gen-000002"
    assert [p.name for p in idx.iterdir() if p.name.startswith("gen-")] == ["gen-000002"]


@pytest.mark.slow
def test_answer_with_real_model_after_a_kill(tmp_path, embedder, qwen_generator, seed_settings):
    from rag.pipeline import RagPipeline

    docs, idx = tmp_path / "docs", tmp_path / "idx"
    write_docs(docs, range(0, 12))
    Indexer(idx, embedder, SentenceChunker(), progress=False).index_paths([docs])
    write_docs(docs, range(12, 30))  # Dover is depot 3 only (town names repeat from depot 30)
    live = (idx / CURRENT_FILE).read_text().strip()
    proc = subprocess.Popen(index_cmd(docs), env={**os.environ, "RAG_INDEX_DIR": str(idx)}, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not new_generation_started(idx, live):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    pipeline = RagPipeline(seed_settings.replace(index_dir=idx), embedder=embedder, generator=qwen_generator,
                           progress=False)
    answer = pipeline.ask("How many varieties of heirloom seeds does the Dover seed library keep?")
    assert not answer.abstained, answer.abstain_reason
    assert "121" in answer.text
    assert answer.citations[0].doc_id == "depot-003.md"


def test_two_writers_second_gets_locked_error_and_nothing_is_corrupted(tmp_path, embedder):
    docs, idx = tmp_path / "docs", tmp_path / "idx"
    write_docs(docs, range(0, 5))
    Indexer(idx, embedder, SentenceChunker(), progress=False).index_paths([docs])
    write_docs(docs, range(5, 400))  # enough work that the first writer still holds the lock
    live = (idx / CURRENT_FILE).read_text().strip()
    env = {**os.environ, "RAG_INDEX_DIR": str(idx)}
    first = subprocess.Popen(index_cmd(docs), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not new_generation_started(idx, live):  # the first writer holds the lock
        time.sleep(0.01)
    second = subprocess.run(index_cmd(docs), env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    out, err = first.communicate(timeout=600)
    assert first.returncode == EXIT_OK, err
    assert second.returncode == EXIT_ERROR
    assert second.stderr.startswith("error: index at") and "is locked by another process" in second.stderr
    assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
    index = DocumentIndex.open(idx)
    check_consistent(index)
    assert len(index.documents) == 400


def test_flock_is_released_when_the_holder_is_killed(tmp_path):
    idx = tmp_path / "idx"
    idx.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"fh = open({str(idx / '.lock')!r}, 'a+')\n"
        "fcntl.flock(fh.fileno(), fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert not lock_is_free(idx)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (idx / ".lock").exists() and lock_is_free(idx)


def test_readers_never_see_a_broken_index_while_a_writer_swaps_generations(tmp_path, embedder):
    docs, idx = tmp_path / "docs", tmp_path / "idx"
    write_docs(docs, range(0, 6))
    indexer = Indexer(idx, embedder, SentenceChunker(), progress=False)
    indexer.index_paths([docs])
    errors: list[BaseException] = []
    generations: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                index = DocumentIndex.open(idx)
                assert len(index.store) == len(index.chunks)
                generations.add(index.snapshot)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for version in range(1, 9):
            write_docs(docs, range(0, 6), version=version)
            indexer.index_paths([docs])
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    assert len(generations) >= 3


def test_a_loaded_index_keeps_serving_documents_after_its_generation_is_deleted(tmp_path, embedder):
    """A long-running reader (the UI) holds an index while a writer publishes twice and deletes the reader's
    generation folder: the reader still serves its snapshot, and reopening gives the new one."""
    docs, idx = tmp_path / "docs", tmp_path / "idx"
    write_docs(docs, range(0, 3))
    indexer = Indexer(idx, embedder, SentenceChunker(), progress=False)
    indexer.index_paths([docs])
    reader = DocumentIndex.open(idx)
    for version in (1, 2):
        write_docs(docs, range(0, 3), version=version)
        indexer.index_paths([docs])
    assert not (idx / reader.snapshot).exists()
    assert "keeps 100 varieties" in reader.document_text("depot-000.md")
    assert "keeps 102 varieties" in DocumentIndex.open(idx).document_text("depot-000.md")


# -- damaged and foreign indexes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, embedder) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("small")
    docs = root / "docs"
    write_docs(docs, range(0, 4))
    Indexer(root / "idx", embedder, SentenceChunker(), progress=False).index_paths([docs])
    return docs, root / "idx"


def _damage(idx: Path, how: str) -> None:
    gen = idx / (idx / CURRENT_FILE).read_text().strip()
    manifest = json.loads((gen / MANIFEST_FILE).read_text())
    if how == "truncated vectors":
        data = (gen / "vectors.faiss").read_bytes()
        (gen / "vectors.faiss").write_bytes(data[: len(data) // 2])
    elif how == "flipped byte in vectors":
        data = bytearray((gen / "vectors.faiss").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (gen / "vectors.faiss").write_bytes(bytes(data))
    elif how == "truncated catalog":
        data = (gen / CATALOG_FILE).read_bytes()
        (gen / CATALOG_FILE).write_bytes(data[: len(data) // 3])
    elif how == "catalog is not sqlite":
        (gen / CATALOG_FILE).write_bytes(b"this is not a database" * 100)
    elif how == "missing manifest":
        (gen / MANIFEST_FILE).unlink()
    elif how == "truncated manifest":
        (gen / MANIFEST_FILE).write_text((gen / MANIFEST_FILE).read_text()[:40])
    elif how == "other format version":
        manifest["format_version"] = 99
        (gen / MANIFEST_FILE).write_text(json.dumps(manifest))
    elif how == "CURRENT points nowhere":
        (idx / CURRENT_FILE).write_text("gen-999999\n")
    elif how == "truncated vectors, old manifest without checksums":
        del manifest["files"]
        (gen / MANIFEST_FILE).write_text(json.dumps(manifest))
        data = (gen / "vectors.faiss").read_bytes()
        (gen / "vectors.faiss").write_bytes(data[: len(data) - 100])
    elif how == "truncated catalog, old manifest without checksums":
        del manifest["files"]
        (gen / MANIFEST_FILE).write_text(json.dumps(manifest))
        data = (gen / CATALOG_FILE).read_bytes()
        (gen / CATALOG_FILE).write_bytes(data[:4096])
    else:  # pragma: no cover
        raise ValueError(how)


DAMAGE = {
    "truncated vectors": "vectors.faiss is truncated or damaged",
    "flipped byte in vectors": "vectors.faiss is damaged (checksum mismatch)",
    "truncated catalog": "catalog.sqlite is truncated or damaged",
    "catalog is not sqlite": "catalog.sqlite is truncated or damaged",
    "missing manifest": "manifest missing",
    "truncated manifest": "is truncated or not JSON",
    "other format version": "has format version 99; this version of the tool reads 1",
    "CURRENT points nowhere": "points at 'gen-999999', which is not a snapshot folder",
    "truncated vectors, old manifest without checksums": "is truncated or not a FAISS index",
    "truncated catalog, old manifest without checksums": "catalog",
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_damaged_index_gives_clear_error_naming_the_fix_and_rebuild_repairs_it(tmp_path, small_index, capsys, how):
    docs, original = small_index
    idx = tmp_path / "idx"
    shutil.copytree(original, idx)
    _damage(idx, how)
    assert main(["search", "Dover seed library", "--index", str(idx)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert DAMAGE[how] in err
    assert "rag index --rebuild" in err
    # An incremental run refuses to build on a damaged index, with the same advice.
    assert main(["index", str(docs), "--index", str(idx), "--quiet"]) == EXIT_ERROR
    assert "rag index --rebuild" in capsys.readouterr().err
    # The advice works: rebuild from the folder, then search answers.
    assert main(["index", str(docs), "--rebuild", "--index", str(idx), "--json", "--quiet"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["rebuilt_reason"]
    assert main(["search", "Dover seed library", "--json", "--index", str(idx)]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["passages"][0]["doc"] == "depot-003.md"
    index = DocumentIndex.open(idx)
    check_consistent(index)
    assert len(index.documents) == 4
    assert [p.name for p in idx.iterdir() if p.name.startswith("gen-")] == [index.snapshot]


def test_lock_file_is_plain_and_flock_based(tmp_path):
    """The lock is an advisory flock on a file that stays behind; its content is irrelevant."""
    idx = tmp_path / "idx"
    with index_lock(idx), open(idx / ".lock") as fh, pytest.raises(BlockingIOError):
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    (idx / ".lock").write_text("garbage from a crashed process")
    with index_lock(idx):
        pass
