import pytest

from rag.retriever import reciprocal_rank_fusion


def test_rrf_scores_and_order():
    fused = dict(reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert [i for i, _ in reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60)] == [1, 3, 2]


def test_rrf_item_in_both_lists_beats_single_list_top():
    order = [i for i, _ in reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=60)]
    assert order[0] == "b"


def test_rrf_weights():
    order = [i for i, _ in reciprocal_rank_fusion([["a"], ["b"]], k=60, weights=[1.0, 2.0])]
    assert order == ["b", "a"]


@pytest.mark.parametrize(
    ("query", "doc"),
    [
        ("How many cases did Sheffield council examine after the Baby P case?", "000_3e02e4570786b062.txt"),
        ("unallocated referrals North Yorkshire", "001_dd36892c629eaee8.txt"),
        ("Sheffield Futures missing episodes", "002_0a90d2f0ffb6067a.txt"),
        ("Who was sacked at Haringey?", "003_880be84fd3658657.txt"),
        ("Sefton agency workers social work academy", "004_244dd2b7b137fb73.txt"),
    ],
)
def test_hybrid_search_finds_the_right_seed(seed_pipeline, query, doc):
    hits = seed_pipeline.search(query, 3)
    assert hits[0].chunk.doc_id == doc
    assert hits[0].dense_score is not None and hits[0].title


def test_fusion_modes_and_scores(seed_pipeline):
    retriever = seed_pipeline.retriever
    hits = retriever.search("Ofsted inspection Rotherham Calderdale", 5)
    assert len(hits) == 5 and hits == sorted(hits, key=lambda h: -h.score)
    retriever.fusion = "bm25"
    assert all(h.bm25_score is not None for h in retriever.search("Rotherham", 3))
    assert retriever.search("   ", 3) == []
