"""The index picks its vector store and FAISS index type from settings and size, and records the choice."""


import numpy as np
import pytest

from rag.chunker import SentenceChunker
from rag.index import DocumentIndex, Indexer
from rag.settings import SettingsError, load_settings
from rag.stores import FaissPolicy, FaissStore, StoreConfig
from rag.stores.faiss_store import IVF_TYPES
from tests.conftest import copy_seeds


@pytest.fixture()
def corpus(tmp_path):
    folder = copy_seeds(tmp_path / "docs")
    return folder


def indexer(tmp_path, embedder, config):
    return Indexer(tmp_path / "index", embedder, SentenceChunker(), progress=False, store_config=config)


def clustered(n, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(20, dim))
    x = centers[rng.integers(0, 20, n)] + rng.normal(scale=0.1, size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("codec", ["sq8", "flat"])
def test_policy_switches_to_ivf_past_the_threshold_and_back(tmp_path, codec):
    x = clustered(3000)
    policy = FaissPolicy(flat_max=1000, nprobe=16, ivf_codec=codec)
    store = FaissStore(32, policy=policy)
    store.add(np.arange(800), x[:800])
    assert store.save(tmp_path)["index_type"] == "IndexIDMap2(IndexFlatIP)"
    store.add(np.arange(800, 3000), x[800:])
    info = store.save(tmp_path)
    assert info["index_type"] == IVF_TYPES[codec]
    assert info["params"]["nlist"] == 256 and info["params"]["nprobe"] == 16 and info["params"]["trained_on"] == 3000
    # The vectors read back for retraining are the originals (SQ8: decoded, within quantization error).
    ids, vecs = store.vectors()
    assert np.min(np.sum(vecs * x[ids], axis=1)) > 0.999
    loaded = FaissStore.load(tmp_path, 32, policy, info)
    exact = FaissStore(32, policy=FaissPolicy(index_type="flat"))
    exact.add(np.arange(3000), x)
    hits = [len({i for i, _ in loaded.search(q, 10)} & {i for i, _ in exact.search(q, 10)}) for q in x[:100]]
    # SQ8 codes reorder near-ties: these tight synthetic clusters are near-duplicates (0.93 with every list
    # scanned); on real MiniLM vectors the codec costs about a point (docs/decisions.md).
    assert np.mean(hits) / 10 >= (0.95 if codec == "flat" else 0.9)
    assert loaded.remove(np.arange(0, 2500)) == 2500
    assert loaded.save(tmp_path)["index_type"] == "IndexIDMap2(IndexFlatIP)"  # shrank below the threshold
    assert len(loaded) == 500 and loaded.search(x[2600], 1)[0][0] == 2600


def test_indexer_records_ivf_choice_in_manifest_and_stays_correct(tmp_path, corpus, embedder):
    config = StoreConfig(faiss=FaissPolicy(flat_max=10, nprobe=64))
    report = indexer(tmp_path, embedder, config).index_paths([corpus])
    index = DocumentIndex.open(tmp_path / "index", config)
    store_info = index.manifest["store"]
    assert store_info["index_type"] == IVF_TYPES["sq8"]
    assert store_info["params"]["nprobe"] == min(64, store_info["params"]["nlist"])
    assert len(index.store) == len(index.chunks) == report.chunks_embedded
    for chunk in list(index.chunks.values())[:5]:
        assert index.store.search(embedder.encode([chunk.text])[0], 1)[0][0] == chunk.chunk_id
    # Incremental change on an IVF index: removal and addition work without retraining.
    victim = sorted(corpus.iterdir())[0]
    victim.unlink()
    indexer(tmp_path, embedder, config).index_paths([corpus])
    index = DocumentIndex.open(tmp_path / "index", config)
    assert victim.name not in index.documents and len(index.store) == len(index.chunks)


def test_settings_select_store_and_reject_unknown(monkeypatch):
    monkeypatch.setenv("RAG_STORE", "milvus")
    monkeypatch.setenv("RAG_FAISS_INDEX", "flat")
    s = load_settings()
    config = StoreConfig.from_settings(s)
    assert config.kind == "milvus" and config.faiss.index_type == "flat"
    monkeypatch.setenv("RAG_STORE", "chroma")
    with pytest.raises(SettingsError, match="store must be one of faiss, milvus"):
        load_settings()


def test_milvus_store_through_the_indexer_keeps_generations_apart(tmp_path, corpus, embedder):
    pytest.importorskip("pymilvus")
    from rag.stores.milvus_store import MilvusStore, milvus_client

    config = StoreConfig(kind="milvus")
    first = indexer(tmp_path, embedder, config).index_paths([corpus])
    index = DocumentIndex.open(tmp_path / "index", config)
    assert index.manifest["store"]["kind"] == "milvus" and len(index.store) == first.chunks_embedded
    chunk = next(iter(index.chunks.values()))
    assert index.store.search(embedder.encode([chunk.text])[0], 1)[0][0] == chunk.chunk_id
    old_collection = MilvusStore.saved_collection(tmp_path / "index" / index.snapshot)

    victim = sorted(corpus.iterdir())[0]
    victim.unlink()
    indexer(tmp_path, embedder, config).index_paths([corpus])
    # The reader opened before the update still sees its whole generation until it closes.
    assert len(index.store) == first.chunks_embedded
    new = DocumentIndex.open(tmp_path / "index", config)
    assert victim.name not in new.documents and len(new.store) == len(new.chunks)
    client = milvus_client(config.milvus_uri_for(tmp_path / "index"))
    assert client.list_collections() == [MilvusStore.saved_collection(tmp_path / "index" / new.snapshot)]
    assert old_collection not in client.list_collections()

    # Switching the configured store rebuilds into the new kind.
    report = indexer(tmp_path, embedder, StoreConfig()).index_paths([corpus])
    assert report.rebuilt_reason and "vector store changed" in report.rebuilt_reason
    assert DocumentIndex.open(tmp_path / "index").manifest["store"]["kind"] == "faiss"
    assert client.list_collections() == []


def test_a_changed_codec_retrains_on_the_next_save(tmp_path):
    x = clustered(3000)
    store = FaissStore(32, policy=FaissPolicy(index_type="ivf", ivf_codec="flat"))
    store.add(np.arange(3000), x)
    info = store.save(tmp_path)
    assert info["index_type"] == IVF_TYPES["flat"]
    loaded = FaissStore.load(tmp_path, 32, FaissPolicy(index_type="ivf", ivf_codec="sq8"), info)
    assert loaded.index_type == IVF_TYPES["flat"]  # an index keeps its codec until it is retrained
    assert loaded.save(tmp_path)["index_type"] == IVF_TYPES["sq8"]
    assert len(loaded) == 3000 and loaded.search(x[42], 1)[0][0] == 42


def test_default_probes_scale_with_the_lists():
    policy = FaissPolicy()
    assert [policy.probes_for(n) for n in (8, 32, 512, 4096)] == [8, 16, 96, 768]
    assert FaissPolicy(nprobe=40).probes_for(4096) == 40 and FaissPolicy(nprobe=40).probes_for(16) == 16
    assert policy.lists_for(100_000) == 1024 and policy.lists_for(1_000_000) == 4096
