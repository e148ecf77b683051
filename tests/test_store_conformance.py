"""One conformance suite for every VectorStore implementation."""

import numpy as np
import pytest

from rag.stores import FaissPolicy, FaissStore, StoreError, VectorStore
from rag.stores.faiss_store import IVF_TYPES

DIM = 16


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def faiss_factory(tmp_path):
    return FaissStore(DIM), lambda store: (store.save(tmp_path), FaissStore.load(tmp_path, DIM))[1]


def faiss_ivf_factory(tmp_path, codec="sq8"):
    """Forced IVF: the store trains its inverted lists on save, so the reloaded store is an IVF index."""
    policy = FaissPolicy(index_type="ivf", nprobe=64, ivf_codec=codec)

    def reload(store):
        info = store.save(tmp_path)
        assert info["index_type"] == IVF_TYPES[codec]
        return FaissStore.load(tmp_path, DIM, policy, info)

    return FaissStore(DIM, policy=policy), reload


def milvus_factory(tmp_path):
    """Milvus Lite on a local file: the same code a cluster URI runs."""
    pytest.importorskip("pymilvus")
    from rag.stores.milvus_store import MilvusStore

    uri = str(tmp_path / "milvus.db")
    gen = tmp_path / "gen"
    gen.mkdir()
    return MilvusStore(DIM, uri), lambda store: (store.save(gen), MilvusStore.load(gen, DIM, uri))[1]


STORES = {"faiss": faiss_factory, "faiss-ivf-sq8": faiss_ivf_factory,
          "faiss-ivf-flat": lambda tmp_path: faiss_ivf_factory(tmp_path, "flat"), "milvus": milvus_factory}


@pytest.fixture(params=[pytest.param(n, marks=pytest.mark.milvus) if n == "milvus" else n for n in sorted(STORES)])
def store_and_reload(request, tmp_path):
    return STORES[request.param](tmp_path)


@pytest.fixture()
def vectors():
    return unit(np.random.default_rng(0).normal(size=(50, DIM)))


def test_is_a_vector_store(store_and_reload):
    store, _ = store_and_reload
    assert isinstance(store, VectorStore) and store.dimension == DIM


def test_add_search_exact_neighbour(store_and_reload, vectors):
    store, _ = store_and_reload
    ids = np.arange(100, 150)
    store.add(ids, vectors)
    assert len(store) == 50
    for i in (0, 17, 49):
        results = store.search(vectors[i], 5)
        assert results[0][0] == 100 + i and abs(results[0][1] - 1.0) < 1e-4
        scores = [s for _, s in results]
        assert scores == sorted(scores, reverse=True)


def test_remove_then_search_never_returns_removed(store_and_reload, vectors):
    store, _ = store_and_reload
    store.add(np.arange(50), vectors)
    assert store.remove(np.array([3, 4, 999])) == 2
    assert len(store) == 48
    assert all(i not in (3, 4) for i, _ in store.search(vectors[3], 48))


def test_persist_and_reload(store_and_reload, vectors):
    store, reload = store_and_reload
    store.add(np.arange(10, 60), vectors)
    store.remove(np.array([10]))
    loaded = reload(store)
    assert len(loaded) == 49
    assert loaded.search(vectors[5], 1)[0][0] == 15


def test_empty_store_and_k_larger_than_size(store_and_reload, vectors):
    store, _ = store_and_reload
    assert store.search(vectors[0], 5) == []
    store.add(np.array([1, 2]), vectors[:2])
    assert len(store.search(vectors[0], 10)) == 2


def test_wrong_shape_is_a_clear_error(store_and_reload):
    store, _ = store_and_reload
    with pytest.raises(StoreError, match="dimension"):
        store.add(np.array([1]), np.zeros((1, DIM + 1), dtype=np.float32))


def test_reloaded_store_keeps_working(store_and_reload, vectors):
    store, reload = store_and_reload
    store.add(np.arange(40), vectors[:40])
    loaded = reload(store)
    loaded.add(np.arange(40, 50), vectors[40:])
    assert loaded.remove(np.array([0, 45])) == 2
    assert len(loaded) == 48
    assert loaded.search(vectors[45], 1)[0][0] != 45
    assert loaded.search(vectors[46], 1)[0][0] == 46


def test_allowed_ids_filter_inside_the_search(store_and_reload, vectors):
    """A filter restricts the search itself: k allowed ids come back even when every nearest neighbour of the
    query is outside the filter, and none outside it ever does (also after a reload, IVF included)."""
    store, reload = store_and_reload
    store.add(np.arange(50), vectors)
    allowed = np.array([7, 21, 33, 40, 48])
    for s in (store, reload(store)):
        found = s.search(vectors[0], 3, allowed)
        assert len(found) == 3 and {i for i, _ in found} <= set(allowed.tolist())
        assert [x for _, x in found] == sorted((x for _, x in found), reverse=True)
        assert s.search(vectors[21], 1, allowed)[0][0] == 21
        assert {i for i, _ in s.search(vectors[0], 10, allowed)} == set(allowed.tolist())
        assert s.search(vectors[0], 5, np.array([], dtype=np.int64)) == []


def test_texts_follow_their_vectors_through_forks_and_reloads(store_and_reload, vectors):
    """A store that searches texts itself (``lexical()``) keeps each text with its vector: through a reload, the
    fork of the first write after it, removals and another reload. Other stores accept and ignore texts."""
    store, reload = store_and_reload
    texts = [f"chunk number {i} about " + ("lanterns in Whitby" if i == 7 else "the weather") for i in range(40)]
    store.add(np.arange(40), vectors[:40], texts)
    loaded = reload(store)
    loaded.add(np.arange(40, 45), vectors[40:45], ["a festival of lantern makers"] * 5)
    assert loaded.remove(np.array([41])) == 1
    assert loaded.search(vectors[42], 1)[0][0] == 42
    lexical = loaded.lexical()
    if lexical is None:
        assert store.lexical() is None
        return
    assert lexical.search("Whitby", 5)[0][0] == 7
    assert {i for i, _ in lexical.search("festival", 10)} == {40, 42, 43, 44}
    again = reload(loaded).lexical()
    assert again.search("lanterns Whitby", 1)[0][0] == 7 and len(again) == 44
    assert {i for i, _ in again.search("festival", 10, np.array([40, 41, 44]))} == {40, 44}
