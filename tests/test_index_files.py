"""The index on disk at scale's terms: opening maps files and reads no rows, updates share unchanged segment files
with the snapshot before, checksums are not recomputed for files already verified, and an index written before
the lexical index was stored still opens and is upgraded by the next write."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from rag.bm25 import BM25Index
from rag.chunker import SentenceChunker
from rag.index import MANIFEST_FILE, DocumentIndex, IndexCorruptError, Indexer, current_snapshot, layout
from rag.retriever import HybridRetriever
from rag.types import Document
from tests.fakes import HashingEmbedder

WORDS = ("river bridge council ofsted school report inspection rating children harbour lantern museum "
         "orchestra village mayor railway festival garden library winter summer election budget").split()


def documents(n: int, seed: int, prefix: str = "doc") -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        text = " ".join(". ".join(" ".join(rng.choice(WORDS) for _ in range(8)).capitalize() for _ in range(4))
                        for _ in range(3)) + "."
        docs.append(Document(f"{prefix}-{seed}-{i}.txt", f"Title {i}", text, f"/src/{prefix}-{i}.txt",
                             f"hash-{seed}-{i}"))
    return docs


@pytest.fixture
def indexer(tmp_path):
    return Indexer(tmp_path / "index", HashingEmbedder(), SentenceChunker(), progress=False)


def fresh_bm25(index: DocumentIndex) -> BM25Index:
    chunks = list(index.chunks.values())
    return BM25Index.from_texts([c.chunk_id for c in chunks], [c.text for c in chunks])


def test_updates_share_segments_and_search_equals_a_fresh_build(indexer):
    indexer.add_documents(documents(30, 1))
    first = current_snapshot(indexer.index_dir)
    inodes = {name: (first / name).stat().st_ino
              for name in json.loads((first / MANIFEST_FILE).read_text())["lexical"]["segments"]}
    indexer.add_documents(documents(10, 2))
    second = current_snapshot(indexer.index_dir)
    for name, inode in inodes.items():  # the first snapshot's segment is the same file in the second
        assert (second / name).stat().st_ino == inode
    indexer.remove_documents([d.doc_id for d in documents(30, 1)[:12]])
    index = DocumentIndex.open(indexer.index_dir)
    reference = fresh_bm25(index)
    assert len(index.lexical) == len(index.chunks) == len(index.store)
    for query in ("river council", "lantern museum rating", "winter budget election"):
        assert index.lexical.search(query, 10) == reference.search(query, 10)
    hits = HybridRetriever(index, HashingEmbedder()).search("harbour festival", 5)
    assert hits and all(h.chunk.text for h in hits)


def test_open_reads_no_rows_and_maps_the_files(indexer):
    indexer.add_documents(documents(20, 3))
    index = DocumentIndex.open(indexer.index_dir)
    assert not isinstance(index.chunks, dict) and not isinstance(index.documents, dict)
    segment = index.lexical.segments[0]
    assert isinstance(segment.rows, np.memmap)
    assert len(index.documents) == 20 and "doc-3-0.txt" in index.documents
    assert index.documents["doc-3-0.txt"].chunk_count >= 1
    assert index.chunk_ids_of(frozenset({"doc-3-0.txt"})).size == index.documents["doc-3-0.txt"].chunk_count


def test_verified_files_are_not_hashed_again_but_damage_is_caught(indexer, monkeypatch):
    indexer.add_documents(documents(10, 4))
    hashed: list[str] = []
    real_digest = layout.file_digest
    monkeypatch.setattr(layout, "file_digest", lambda path: hashed.append(path.name) or real_digest(path))
    DocumentIndex.open(indexer.index_dir)
    assert hashed == []  # the writer recorded what it verified
    indexer.add_documents(documents(5, 5))
    shared = [n for n in json.loads((current_snapshot(indexer.index_dir) / MANIFEST_FILE).read_text())["lexical"]
              ["segments"] if n in {p.name for p in current_snapshot(indexer.index_dir).iterdir()}]
    assert not set(hashed) & set(shared[:1])  # the linked segment kept its recorded checksum
    snapshot = current_snapshot(indexer.index_dir)
    segment = snapshot / shared[0]
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF  # same size, one byte changed
    segment.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum mismatch"):
        DocumentIndex.open(indexer.index_dir)


def test_index_without_stored_lexical_index_opens_and_is_upgraded(indexer):
    indexer.add_documents(documents(15, 6))
    snapshot = current_snapshot(indexer.index_dir)
    manifest = json.loads((snapshot / MANIFEST_FILE).read_text())
    for name in manifest["lexical"]["segments"]:  # what an index written by the previous version looks like
        (snapshot / name).unlink()
        del manifest["files"][name]
    del manifest["lexical"]
    (snapshot / MANIFEST_FILE).write_text(json.dumps(manifest))
    old = DocumentIndex.open(indexer.index_dir)
    assert old.lexical.search("river", 5) == fresh_bm25(old).search("river", 5) != []
    indexer.add_documents(documents(3, 7))
    new = DocumentIndex.open(indexer.index_dir)
    assert "lexical" in new.manifest and len(new.lexical) == len(new.chunks)
    assert new.lexical.search("river", 5) == fresh_bm25(new).search("river", 5)
