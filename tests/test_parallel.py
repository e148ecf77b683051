"""Parallel ingest and batch (processes, Ray) produce exactly what the serial path produces."""

import json
import sqlite3

import numpy as np
import pytest

from rag.batch import run_batch
from rag.chunker import SentenceChunker
from rag.index import DocumentIndex, Indexer
from rag.parallel import ProcessExecutor, load_documents, make_executor
from rag.pipeline import RagPipeline
from tests.conftest import copy_seeds

QUESTIONS = ["Who was sacked after the Baby P case?", "What is MAST?", "How long is the placement review?",
             "What colour is the sky on Mars?"]


@pytest.fixture()
def corpus(tmp_path):
    folder = copy_seeds(tmp_path / "docs")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    return folder


def catalog(index_dir):
    gen = index_dir / (index_dir / "CURRENT").read_text().strip()
    conn = sqlite3.connect(gen / "catalog.sqlite")
    try:
        docs = conn.execute("SELECT doc_id, title, content_hash, text FROM documents ORDER BY doc_id").fetchall()
        chunks = conn.execute('SELECT chunk_id, doc_id, ordinal, start, "end", text FROM chunks ORDER BY 1').fetchall()
    finally:
        conn.close()
    return docs, chunks


def assert_same_index(a_dir, b_dir, embedder):
    assert catalog(a_dir) == catalog(b_dir)
    a, b = DocumentIndex.open(a_dir), DocumentIndex.open(b_dir)
    for chunk in list(a.chunks.values())[:8]:
        q = embedder.encode([chunk.text])[0]
        hits_a, hits_b = a.store.search(q, 5), b.store.search(q, 5)
        assert [i for i, _ in hits_a] == [i for i, _ in hits_b]
        assert np.allclose([s for _, s in hits_a], [s for _, s in hits_b], atol=1e-5)


def test_process_pool_loading_keeps_order_and_errors(corpus):
    files = [(p, p.name) for p in sorted(corpus.iterdir())]
    serial = list(load_documents(files))
    executor = ProcessExecutor(2)
    try:
        parallel = list(load_documents(files, executor))
    finally:
        executor.close()
    assert [getattr(d, "doc_id", None) for d in parallel] == [getattr(d, "doc_id", None) for d in serial]
    assert [getattr(d, "reason", None) for d in parallel] == [getattr(d, "reason", None) for d in serial]
    assert any(getattr(d, "reason", None) for d in parallel), "the broken PDF comes back as its LoadError"


def test_process_ingest_equals_serial(tmp_path, corpus, embedder):
    serial = Indexer(tmp_path / "serial", embedder, SentenceChunker(), progress=False)
    parallel = Indexer(tmp_path / "parallel", embedder, SentenceChunker(), progress=False, workers=2)
    r1, r2 = serial.index_paths([corpus]), parallel.index_paths([corpus])
    assert r1.added == r2.added and [s.reason for s in r1.skipped] == [s.reason for s in r2.skipped]
    assert_same_index(tmp_path / "serial", tmp_path / "parallel", embedder)


def test_batch_with_worker_processes_equals_serial(tmp_path, seed_settings, seed_pipeline):
    questions = tmp_path / "q.txt"
    questions.write_text("\n".join(QUESTIONS) + "\n")
    run_batch(seed_pipeline, questions, tmp_path / "serial.jsonl", retrieve_only=True, progress=False)
    run_batch(seed_pipeline, questions, tmp_path / "parallel.jsonl", retrieve_only=True, progress=False, workers=2)
    assert rows(tmp_path / "serial.jsonl") == rows(tmp_path / "parallel.jsonl")


def rows(path):
    out = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        for p in row.get("passages", []):
            p["score"] = round(p["score"], 4)
        out.append(row)
    return out


@pytest.mark.ray
def test_ray_ingest_and_batch_equal_serial(tmp_path, corpus, embedder, seed_settings):
    pytest.importorskip("ray")
    import ray

    make_executor(2, "local").close()  # starts and stops cleanly on its own
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # one instance for both runs below
    try:
        serial = Indexer(tmp_path / "serial", embedder, SentenceChunker(), progress=False)
        on_ray = Indexer(tmp_path / "ray", embedder, SentenceChunker(), progress=False, ray_address="local")
        serial.index_paths([corpus])
        on_ray.index_paths([corpus])
        assert_same_index(tmp_path / "serial", tmp_path / "ray", embedder)

        settings = seed_settings.replace(index_dir=tmp_path / "serial")
        pipeline = RagPipeline(settings, embedder=embedder, progress=False)
        questions = tmp_path / "q.jsonl"
        questions.write_text("".join(json.dumps({"id": f"q{i}", "question": q}) + "\n"
                                     for i, q in enumerate(QUESTIONS)))
        run_batch(pipeline, questions, tmp_path / "serial.jsonl", retrieve_only=True, progress=False)
        run_batch(pipeline, questions, tmp_path / "ray.jsonl", retrieve_only=True, progress=False,
                  ray_address="local")
        assert rows(tmp_path / "serial.jsonl") == rows(tmp_path / "ray.jsonl")
    finally:
        ray.shutdown()
