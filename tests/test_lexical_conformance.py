"""One conformance suite for every lexical (keyword) search implementation (rag.stores.base.LexicalSearch).

Each implementation comes with a harness: how its writer adds texts, removes ids and persists, and how a reader
gets the searchable object back. The assertions are about search behaviour only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.bm25 import BM25Index
from rag.stores.base import LexicalIndex, LexicalSearch

TEXTS = {
    1: "The harbour lantern festival opens in Whitby every winter.",
    2: "Ofsted rated the council's children's services inadequate in 2019.",
    3: "A new library and museum opened beside the railway bridge.",
    4: "The orchestra played at the village festival in summer.",
    5: "Inspectors praised the school's reading and writing.",
    6: "The mayor's budget froze council tax for the election year.",
}


class BM25Harness:
    def __init__(self, folder: Path):
        self.folder = folder
        self.index = BM25Index()
        self.saves = 0

    def add(self, ids: list[int], texts: list[str]) -> None:
        self.index.add(np.asarray(ids, dtype=np.int64), texts)

    def remove(self, ids: list[int]) -> None:
        self.index.remove(np.asarray(ids, dtype=np.int64))

    def reload(self) -> LexicalSearch:
        self.saves += 1
        folder = self.folder / f"snap{self.saves}"
        folder.mkdir()
        info = self.index.save(folder)
        self.index = BM25Index.load(folder, info)
        return self.index


class MilvusHarness:
    """Keyword search inside Milvus (Milvus Lite here, the same code as on a cluster): the texts go into the
    store with their vectors, a reload is the store's save and load, and the search is the store's own."""

    DIM = 8

    def __init__(self, folder: Path):
        pytest.importorskip("pymilvus")
        from rag.stores.milvus_store import MilvusStore

        self.folder = folder
        self.uri = str(folder / "milvus.db")
        self.store = MilvusStore(self.DIM, self.uri)
        self.saves = 0

    def add(self, ids: list[int], texts: list[str]) -> None:
        vectors = np.random.default_rng(ids[0]).normal(size=(len(ids), self.DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        self.store.add(np.asarray(ids, dtype=np.int64), vectors, texts)

    def remove(self, ids: list[int]) -> None:
        self.store.remove(np.asarray(ids, dtype=np.int64))

    def reload(self) -> LexicalSearch:
        from rag.stores.milvus_store import MilvusStore

        self.saves += 1
        folder = self.folder / f"snap{self.saves}"
        folder.mkdir()
        self.store.save(folder)
        self.store = MilvusStore.load(folder, self.DIM, self.uri)
        return self.store.lexical()


HARNESSES = {"bm25": BM25Harness, "milvus": MilvusHarness}


@pytest.fixture(params=[pytest.param(n, marks=pytest.mark.milvus) if n == "milvus" else n for n in sorted(HARNESSES)])
def harness(request, tmp_path):
    h = HARNESSES[request.param](tmp_path)
    h.add(list(TEXTS), list(TEXTS.values()))
    return h


def test_is_a_lexical_search(harness):
    lexical = harness.reload()
    assert isinstance(lexical, LexicalSearch) and isinstance(lexical, LexicalIndex)


def test_exact_terms_rank_the_chunk_that_holds_them_first(harness):
    lexical = harness.reload()
    assert lexical.search("lantern festival Whitby", 3)[0][0] == 1
    assert lexical.search("Ofsted inadequate", 3)[0][0] == 2
    assert len(lexical) == len(TEXTS)


def test_scores_descend_and_only_matching_chunks_come_back(harness):
    hits = harness.reload().search("festival", 10)
    assert {i for i, _ in hits} == {1, 4}
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)


def test_no_match_and_empty_query_give_nothing(harness):
    lexical = harness.reload()
    assert lexical.search("zebra quasar", 5) == []
    assert lexical.search("", 5) == []
    assert lexical.search("the and of", 5) == []


def test_removed_ids_never_come_back(harness):
    harness.remove([1])
    lexical = harness.reload()
    assert all(i != 1 for i, _ in lexical.search("lantern festival Whitby", 5))
    assert len(lexical) == len(TEXTS) - 1


def test_added_after_reload_is_found(harness):
    harness.reload()
    harness.add([7], ["Lantern makers from Whitby won a national prize."])
    assert harness.reload().search("lantern Whitby prize", 1)[0][0] == 7


def test_allowed_ids_filter_inside_the_search(harness):
    lexical = harness.reload()
    hits = lexical.search("festival council", 5, np.asarray([2, 6], dtype=np.int64))
    assert {i for i, _ in hits} <= {2, 6} and hits


def test_an_empty_filter_finds_nothing_and_case_and_plurals_do_not_matter(harness):
    lexical = harness.reload()
    assert lexical.search("festival", 5, np.asarray([], dtype=np.int64)) == []
    assert lexical.search("WHITBY Lanterns", 1)[0][0] == 1
    assert {i for i, _ in lexical.search("festivals", 10)} == {1, 4}
