"""Keyword search in Milvus: an index on the Milvus store keeps no BM25 of its own; the store's rows carry the
chunks' keywords and Milvus' BM25 function searches them, behind the same reader and retriever interfaces."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from rag.chunker import SentenceChunker
from rag.index import DocumentIndex, IndexCorruptError, Indexer
from rag.index.reader import open_lexical
from rag.retriever import HybridRetriever
from rag.stores import FaissStore, StoreConfig
from rag.types import Document
from tests.fakes import HashingEmbedder

pytest.importorskip("pymilvus")
pytestmark = pytest.mark.milvus

from rag.stores.milvus_store import MilvusLexical, MilvusStore, keywords, milvus_client  # noqa: E402

CONFIG = StoreConfig(kind="milvus")
TEXTS = {
    "whitby.txt": "The harbour lantern festival opens in Whitby every winter. Lantern makers sell their work.",
    "ofsted.txt": "Ofsted rated the council's children's services inadequate in 2019. The council appealed.",
    "museum.txt": "A new library and museum opened beside the railway bridge. Visitors queued all day.",
}


def document(doc_id: str, text: str) -> Document:
    return Document(doc_id=doc_id, title=doc_id, text=text, source_path=doc_id,
                    content_hash=hashlib.sha256(text.encode()).hexdigest())


def indexer(tmp_path, config=CONFIG) -> Indexer:
    return Indexer(tmp_path / "index", HashingEmbedder(), SentenceChunker(max_words=12), progress=False,
                   store_config=config)


def doc_ids(index: DocumentIndex, hits: list[tuple[int, float]]) -> list[str]:
    return [index.chunks[cid].doc_id for cid, _ in hits]


def test_a_milvus_index_searches_keywords_in_milvus(tmp_path):
    indexer(tmp_path).add_documents([document(d, t) for d, t in TEXTS.items()])
    index = DocumentIndex.open(tmp_path / "index", CONFIG)
    assert isinstance(index.lexical, MilvusLexical) and index.manifest["lexical"]["kind"] == "milvus-bm25"
    assert not list((tmp_path / "index" / index.snapshot).glob("bm25-*"))  # no BM25 files beside it
    assert len(index.lexical) == len(index.chunks) == len(index.store)
    assert doc_ids(index, index.lexical.search("Ofsted inadequate", 3))[0] == "ofsted.txt"
    allowed = index.chunk_ids_of(frozenset({"museum.txt"}))
    assert set(doc_ids(index, index.lexical.search("council library", 5, allowed))) == {"museum.txt"}

    retriever = HybridRetriever(index, HashingEmbedder())
    hits, relevance = retriever.search_with_relevance("When did Ofsted rate the services?", k=2)
    assert hits[0].chunk.doc_id == "ofsted.txt" and hits[0].bm25_score and relevance.names_found


def test_removing_a_document_removes_it_from_keyword_results(tmp_path):
    indexer(tmp_path).add_documents([document(d, t) for d, t in TEXTS.items()])
    before = DocumentIndex.open(tmp_path / "index", CONFIG)
    assert doc_ids(before, before.lexical.search("lantern Whitby", 1)) == ["whitby.txt"]
    indexer(tmp_path).remove_documents(["whitby.txt"])
    after = DocumentIndex.open(tmp_path / "index", CONFIG)
    assert "whitby.txt" not in doc_ids(after, after.lexical.search("lantern Whitby", 10))
    assert len(after.lexical) == len(after.chunks)
    # An update adds keywords through the store, in the fork of the live collection.
    indexer(tmp_path).add_documents([document("ferry.txt", "The ferry to Whitby sails at dawn.")])
    latest = DocumentIndex.open(tmp_path / "index", CONFIG)
    assert doc_ids(latest, latest.lexical.search("ferry dawn", 1)) == ["ferry.txt"]
    assert doc_ids(latest, latest.lexical.search("Ofsted", 1)) == ["ofsted.txt"]


def test_an_index_from_before_texts_were_kept_keeps_its_own_bm25_until_rebuilt(tmp_path, monkeypatch):
    """A collection without a text field (made before keyword search moved into Milvus) keeps working: the
    index's BM25 files serve keywords, updates fork the collection without texts, and a rebuild moves keyword
    search into Milvus."""
    import rag.index.writer as writer

    create = writer.create_store

    def textless(*args, **kwargs):
        store = create(*args, **kwargs)
        store.analyzer = None  # as the store created its collections before
        return store

    monkeypatch.setattr(writer, "create_store", textless)
    indexer(tmp_path).add_documents([document(d, t) for d, t in TEXTS.items()])
    monkeypatch.undo()
    assert DocumentIndex.open(tmp_path / "index", CONFIG).manifest["lexical"]["kind"] == "bm25"

    indexer(tmp_path).remove_documents(["museum.txt"])
    index = DocumentIndex.open(tmp_path / "index", CONFIG)
    assert index.store.lexical() is None and index.manifest["lexical"]["kind"] == "bm25"
    assert doc_ids(index, index.lexical.search("Ofsted", 1)) == ["ofsted.txt"]
    assert not index.lexical.search("museum library", 5)

    indexer(tmp_path).rebuild()
    index = DocumentIndex.open(tmp_path / "index", CONFIG)
    assert isinstance(index.lexical, MilvusLexical)
    assert doc_ids(index, index.lexical.search("lantern", 1)) == ["whitby.txt"]


def test_a_manifest_naming_keyword_search_the_store_lacks_is_corrupt(tmp_path):
    with pytest.raises(IndexCorruptError, match="milvus-bm25.*rebuild"):
        open_lexical({"lexical": {"kind": "milvus-bm25"}}, tmp_path, {}, FaissStore(4))


def test_keywords_are_the_tools_bm25_tokens_whole():
    """Milvus gets the tool's tokens (stemmed, stop words out), numbers kept whole, whatever its tokenizer."""
    assert keywords("The Festivals of 1,000 lanterns, 3.5 km") == "festival 1_000 lantern 3_5 km"
    assert keywords("the and of") == ""


def test_a_released_collection_is_loaded_again_on_open(tmp_path):
    """A new process (or a restarted cluster) finds saved collections released; opening loads them."""
    uri = str(tmp_path / "milvus.db")
    store = MilvusStore(4, uri)
    store.add(np.arange(3), np.eye(3, 4, dtype=np.float32), ["one", "two", "three"])
    store.save(tmp_path)
    milvus_client(uri).release_collection(store.collection)
    loaded = MilvusStore.load(tmp_path, 4, uri)
    assert len(loaded) == 3 and loaded.search(np.eye(1, 4, dtype=np.float32)[0], 1)[0][0] == 0
    assert loaded.lexical().search("two", 1)[0][0] == 1


def test_a_text_longer_than_milvus_allows_is_cut_for_keyword_search_only(tmp_path):
    uri = str(tmp_path / "milvus.db")
    store = MilvusStore(4, uri)
    store.add(np.arange(2), np.eye(2, 4, dtype=np.float32), ["word " * 20_000 + "tail", "short text"])
    assert len(store) == 2 and store.lexical().search("short", 1)[0][0] == 1
    assert store.lexical().search("word", 1)[0][0] == 0 and not store.lexical().search("tail", 1)


def test_milvus_ranks_as_the_tools_own_bm25(tmp_path):
    """Same tokens, same k1 and b: Milvus' ranking is the BM25 segments' ranking (Milvus scales every score by
    k1 + 1, which changes no order)."""
    from rag.bm25 import K1, BM25Index
    from tests.conftest import SEEDS

    texts = [line for f in sorted(SEEDS.iterdir()) for line in f.read_text().splitlines() if len(line) > 40][:60]
    ids = np.arange(len(texts), dtype=np.int64)
    store = MilvusStore(4, str(tmp_path / "milvus.db"))
    store.add(ids, np.tile(np.eye(1, 4, dtype=np.float32), (len(ids), 1)), texts)
    store.save(tmp_path)
    milvus, own = MilvusStore.load(tmp_path, 4, str(tmp_path / "milvus.db")).lexical(), BM25Index.from_texts(ids, texts)
    for query in ("council budget", "Ofsted inspection of children's services", "museum opened 2019", "river"):
        expected = own.search(query, len(texts))
        found = milvus.search(query, len(texts))
        assert [i for i, _ in found] == [i for i, _ in expected], query
        assert np.allclose([s for _, s in found], [s * (K1 + 1) for _, s in expected], rtol=1e-4)
