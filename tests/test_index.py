import json
import shutil

import numpy as np
import pytest

from embeddings.encoder import SentenceTransformerEmbedder
from rag.chunker import SentenceChunker
from rag.index import (
    DocumentIndex,
    IndexCorruptError,
    Indexer,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    index_lock,
)
from tests.conftest import SEEDS
from tests.fakes import HashingEmbedder


@pytest.fixture()
def fake_embedder():
    return HashingEmbedder()


class CountingEmbedder:
    """An embedder, counting how many texts it is asked to embed."""

    def __init__(self, inner, fingerprint=None):
        self.inner = inner
        self.count = 0
        self._fingerprint = fingerprint

    @property
    def dimension(self):
        return self.inner.dimension

    @property
    def fingerprint(self):
        return self._fingerprint or self.inner.fingerprint

    def encode(self, texts, *, progress=False):
        self.count += len(texts)
        return self.inner.encode(texts, progress=progress)


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for f in sorted(SEEDS.iterdir())[:3]:
        shutil.copy(f, folder / f.name)
    return folder


def make_indexer(tmp_path, embedder, **kw):
    return Indexer(tmp_path / "index", embedder, SentenceChunker(**kw), progress=False)


def test_incremental_reindex_embeds_only_what_changed(tmp_path, corpus, fake_embedder):
    counting = CountingEmbedder(fake_embedder)
    indexer = make_indexer(tmp_path, counting)
    first = indexer.index_paths([corpus])
    assert sorted(first.added) == sorted(p.name for p in corpus.iterdir())
    total = counting.count
    assert total == first.chunks_embedded > 0

    again = indexer.index_paths([corpus])
    assert counting.count == total, "unchanged documents must not be re-embedded"
    assert not again.changed and len(again.unchanged) == 3

    changed = sorted(corpus.iterdir())[0]
    changed.write_text(changed.read_text() + "\nA brand new closing sentence about adoption panels.\n")
    removed = sorted(corpus.iterdir())[1]
    removed.unlink()
    (corpus / "new.md").write_text("# New note\n\nThe fostering panel meets monthly.\n")
    report = indexer.index_paths([corpus])
    assert report.updated == [changed.name]
    assert report.removed == [removed.name]
    assert report.added == ["new.md"]
    index = DocumentIndex.open(tmp_path / "index")
    assert removed.name not in index.documents
    assert {c.doc_id for c in index.chunks.values()} == {p.name for p in corpus.iterdir()}
    assert len(index.store) == len(index.chunks)
    # Only the changed and new documents were embedded.
    assert counting.count - total == report.chunks_embedded == sum(
        index.documents[d].chunk_count for d in (changed.name, "new.md"))
    # Vectors and chunk ids agree: each chunk's own text finds itself first.
    for chunk in list(index.chunks.values())[:5]:
        (best_id, _), *_ = index.store.search(fake_embedder.encode([chunk.text])[0], 1)
        assert best_id == chunk.chunk_id


def test_changed_embedder_forces_rebuild_with_message(tmp_path, corpus, fake_embedder):
    make_indexer(tmp_path, fake_embedder).index_paths([corpus])
    other = CountingEmbedder(fake_embedder, fingerprint="other-model:0000")
    with pytest.raises(IndexMismatchError, match="rebuild"):
        DocumentIndex.open(tmp_path / "index").check_embedder(other)
    report = make_indexer(tmp_path, other).index_paths([corpus])
    assert report.rebuilt_reason and "embedder changed" in report.rebuilt_reason
    assert other.count == report.chunks_embedded > 0
    DocumentIndex.open(tmp_path / "index").check_embedder(other)


def test_changed_chunker_settings_rebuild_from_stored_text(tmp_path, corpus, fake_embedder):
    make_indexer(tmp_path, fake_embedder, max_words=120).index_paths([corpus])
    shutil.rmtree(corpus)  # the sources are gone: the rebuild must use the stored normalised text
    report = make_indexer(tmp_path, fake_embedder, max_words=40).rebuild()
    assert report.chunks_embedded > 0
    index = DocumentIndex.open(tmp_path / "index")
    assert index.manifest["chunker"]["max_words"] == 40
    assert len(index.documents) == 3


def test_second_writer_gets_locked_error(tmp_path, corpus, fake_embedder):
    indexer = make_indexer(tmp_path, fake_embedder)
    with index_lock(tmp_path / "index"), pytest.raises(IndexLockedError, match="locked"):
        indexer.index_paths([corpus])


def test_missing_and_corrupt_indexes_give_clear_errors(tmp_path, corpus, fake_embedder):
    with pytest.raises(IndexMissingError, match="rag index"):
        DocumentIndex.open(tmp_path / "nothing")
    make_indexer(tmp_path, fake_embedder).index_paths([corpus])
    gen = tmp_path / "index" / (tmp_path / "index" / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())

    (gen / "vectors.faiss").write_bytes((gen / "vectors.faiss").read_bytes()[:100])
    with pytest.raises(IndexCorruptError, match="truncated"):
        DocumentIndex.open(tmp_path / "index")

    manifest["format_version"] = 99
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="format version 99"):
        DocumentIndex.open(tmp_path / "index")


def test_broken_file_is_skipped_and_previous_version_kept(tmp_path, corpus, fake_embedder):
    indexer = make_indexer(tmp_path, fake_embedder)
    indexer.index_paths([corpus])
    victim = sorted(corpus.iterdir())[0]
    victim.write_bytes(b"\x00\x00binary garbage\x00")
    (corpus / "empty.txt").write_bytes(b"")
    report = indexer.index_paths([corpus])
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in report.skipped}
    assert "binary" in reasons[victim.name] and reasons["empty.txt"] == "file is empty"
    assert victim.name in DocumentIndex.open(tmp_path / "index").documents  # old version kept, not lost


def test_remove_documents_and_unknown_id(tmp_path, corpus, fake_embedder):
    indexer = make_indexer(tmp_path, fake_embedder)
    indexer.index_paths([corpus])
    name = sorted(corpus.iterdir())[0].name
    report = indexer.remove_documents([name])
    assert report.removed == [name]
    index = DocumentIndex.open(tmp_path / "index")
    assert name not in index.documents and len(index.store) == len(index.chunks)
    with pytest.raises(KeyError, match="not in the index"):
        indexer.remove_documents(["nope.txt"])


def test_real_embedder_vectors_are_normalised(embedder):
    assert isinstance(embedder, SentenceTransformerEmbedder)
    v = embedder.encode(["Ofsted inspection", "social workers"])
    assert v.shape == (2, 384) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("which", ["fake", pytest.param("real", marks=pytest.mark.slow)])
def test_embedders_keep_one_contract(which, request):
    """The fake used by the fast tier behaves like the real embedder where the index relies on it."""
    e = HashingEmbedder() if which == "fake" else request.getfixturevalue("embedder")
    texts = ["Ofsted inspection of Sheffield", "social workers", ""]
    v = e.encode(texts)
    assert v.shape == (3, e.dimension) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert np.array_equal(v, e.encode(texts)) and isinstance(e.fingerprint, str) and e.fingerprint
