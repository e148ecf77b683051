"""The segmented BM25 index: scores equal a fresh bm25s index over the live chunks, whatever sequence of adds,
removes, saves, merges and reloads produced it."""

import random

import bm25s
import numpy as np
import pytest

from rag import bm25 as bm25_module
from rag.bm25 import BM25Index, bm25_tokens
from rag.bm25_segment import Segment, SegmentError

WORDS = ("river bridge council ofsted school report inspection rating children harbour lantern museum "
         "orchestra village mayor railway festival garden library winter summer election budget").split()


def corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30))) for _ in range(n)]
    texts[0] = "the of and"  # only stopwords: no tokens, one placeholder, as bm25s counts it
    return texts


def reference(ids: list[int], texts: list[str], query: str, k: int) -> list[tuple[int, float]]:
    model = bm25s.BM25()
    model.index([bm25_tokens(t) or ["<empty>"] for t in texts], show_progress=False)
    tokens = [t for t in bm25_tokens(query) if t in model.vocab_dict]
    if not tokens:
        return []
    scores = model.get_scores(tokens)
    order = np.lexsort((np.asarray(ids), -scores))[:k]
    return [(ids[i], float(scores[i])) for i in order if scores[i] > 0]


QUERIES = ["river council", "ofsted inspection rating of the school", "lantern lantern museum", "winter",
           "nothing matches zebra", ""]


def assert_same(index: BM25Index, live: dict[int, str]) -> None:
    ids = sorted(live)
    assert len(index) == len(ids)
    for query in QUERIES:
        assert index.search(query, 7) == reference(ids, [live[i] for i in ids], query, 7), query


def test_scores_equal_bm25s_bit_for_bit():
    texts = corpus(300, 1)
    ids = [i * 3 + 5 for i in range(len(texts))]
    assert_same(BM25Index.from_texts(ids, texts), dict(zip(ids, texts, strict=True)))


def test_adds_removes_saves_and_reloads_stay_equal_to_a_fresh_index(tmp_path, monkeypatch):
    monkeypatch.setattr(bm25_module, "MAX_SEGMENTS", 3)  # force merges within a short history
    rng = random.Random(7)
    live: dict[int, str] = {}
    index, next_id, previous = BM25Index(), 0, None
    for step in range(8):
        texts = corpus(rng.randint(5, 60), step + 10)
        ids = np.arange(next_id, next_id + len(texts))
        next_id += len(texts)
        index.add(ids, texts)
        live.update(zip(ids.tolist(), texts, strict=True))
        doomed = rng.sample(sorted(live), k=len(live) // 4)
        assert index.remove(np.asarray(doomed + [10**9])) == len(doomed)  # an unknown id is not counted
        for d in doomed:
            del live[d]
        folder = tmp_path / f"snap{step}"
        folder.mkdir()
        info = index.save(folder)
        assert len(info["segments"]) <= 3
        index = BM25Index.load(folder, info)
        assert_same(index, live)
        if previous is not None:
            # unchanged segments are shared with the snapshot before, not rewritten
            shared = set(info["segments"]) & set(previous[1]["segments"])
            for name in shared:
                assert (folder / name).stat().st_ino == (previous[0] / name).stat().st_ino
        previous = (folder, info)


def test_removing_twice_counts_once_and_filter_limits_ranking():
    texts = corpus(50, 3)
    index = BM25Index.from_texts(range(50), texts)
    assert index.remove(np.asarray([4, 5])) == 2
    assert index.remove(np.asarray([4])) == 0
    allowed = np.asarray([10, 11, 12])
    hits = index.search("river council bridge school", 10, allowed)
    assert {i for i, _ in hits} <= {10, 11, 12}


def test_damaged_segment_is_a_clear_error(tmp_path):
    index = BM25Index.from_texts(range(20), corpus(20, 4))
    info = index.save(tmp_path)
    path = tmp_path / info["segments"][0]
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(SegmentError, match="truncated"):
        BM25Index.load(tmp_path, info)
    path.write_bytes(b"not a segment at all")
    with pytest.raises(SegmentError, match="not a segment"):
        BM25Index.load(tmp_path, info)


def test_segment_lookup_of_absent_term_is_empty():
    seg = Segment.build([1, 2], [["a", "b"], ["b"]])
    rows, tf = seg.postings(12345)
    assert len(rows) == 0 and len(tf) == 0


def test_document_scores_equal_bm25s_over_the_joined_chunks():
    """A document's score is BM25 over its whole text: the same as a fresh index whose rows are the documents
    (each the concatenation of its live chunks), whatever was removed; ``allowed`` narrows the ranking."""
    from rag.index.tables import ChunkDocuments

    texts = corpus(120, seed=5)[1:]  # no stop-word-only chunk: it counts one placeholder token as a row
    ids = list(range(10, 10 + len(texts)))
    rng = random.Random(9)
    doc_of = {cid: f"doc{rng.randrange(17):02d}" for cid in ids}
    rows = sorted((doc_of[cid], cid) for cid in ids)
    documents = ChunkDocuments.from_rows(rows)
    index = BM25Index.from_texts(ids, texts)
    removed = ids[::7]
    index.remove(np.asarray(removed))
    live = {cid: t for cid, t in zip(ids, texts, strict=True) if cid not in removed}
    joined: dict[str, list[str]] = {}
    for doc, cid in rows:
        if cid in live:
            joined.setdefault(doc, []).append(live[cid])
    names = sorted(joined)
    for query in QUERIES[:-1]:
        want = reference(list(range(len(names))), [" ".join(joined[n]) for n in names], query, 5)
        got = index.search_documents(query, 5, documents)
        assert [documents.names[d] for d, _ in got] == [names[d] for d, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5)
    allowed = documents.numbers(["doc03", "doc11"])
    got = index.search_documents("river council", 5, documents, allowed)
    assert got and {documents.names[d] for d, _ in got} <= {"doc03", "doc11"}
    assert index.search_documents("", 5, documents) == []
