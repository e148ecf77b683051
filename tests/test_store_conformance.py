"""One conformance suite for every VectorStore implementation."""

import numpy as np
import pytest

from rag.stores import FaissStore, StoreError, VectorStore

DIM = 16


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def faiss_factory(tmp_path):
    return FaissStore(DIM), lambda store: (store.save(tmp_path), FaissStore.load(tmp_path, DIM))[1]


STORES = {"faiss": faiss_factory}


@pytest.fixture(params=sorted(STORES))
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
