"""Re-indexing an unchanged folder reads no file whose size and mtime are unchanged, and stays correct."""

import os
import shutil
import time

import pytest

import rag.parallel
from rag.chunker import SentenceChunker
from rag.index import DocumentIndex, Indexer
from tests.conftest import SEEDS


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    past = time.time() - 3600
    for f in sorted(SEEDS.iterdir()):
        shutil.copy(f, folder / f.name)
        os.utime(folder / f.name, (past, past))
    return folder


def test_unchanged_files_are_not_read_again(tmp_path, corpus, embedder, monkeypatch):
    indexer = Indexer(tmp_path / "index", embedder, SentenceChunker(), progress=False)
    first = indexer.index_paths([corpus])
    reads = []
    real = rag.parallel.load_document
    monkeypatch.setattr(rag.parallel, "load_document", lambda path, doc_id=None, limits=None: (
        reads.append(doc_id), real(path, doc_id, limits))[1])
    again = indexer.index_paths([corpus])
    assert reads == [] and not again.changed and sorted(again.unchanged) == sorted(first.added)

    changed = sorted(corpus.iterdir())[0]
    changed.write_text(changed.read_text() + "\nA new closing sentence about review panels.\n")
    gone = sorted(corpus.iterdir())[1]
    gone.unlink()
    report = indexer.index_paths([corpus])
    assert reads == [changed.name] and report.updated == [changed.name] and report.removed == [gone.name]
    index = DocumentIndex.open(tmp_path / "index")
    assert gone.name not in index.documents and "review panels" in index.document_text(changed.name)

    # Same size and mtime but touched just now (within the racy margin): read again to be safe.
    reads.clear()
    indexer.index_paths([corpus])
    assert reads == [changed.name]
    # A rebuild reads everything.
    reads.clear()
    indexer.index_paths([corpus], rebuild=True)
    assert sorted(reads) == sorted(p.name for p in corpus.iterdir())
