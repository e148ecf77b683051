import pytest

from rag.question import keyword_query
from rag.retriever import reciprocal_rank_fusion
from rag.settings import SettingsError, load_settings


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


def test_the_document_vote_adds_each_documents_rank_to_its_chunks(tmp_path, embedder):
    """Whole-document BM25 ranks the story whose paragraphs share the question's terms between them; with
    document_weight w every chunk of the document ranked r gains w / (rrf_k + r), the same for all its chunks, so
    within a document the chunk-level ranking still decides."""
    from tests.fakes import scripted_pipeline

    folder = tmp_path / "docs"
    folder.mkdir()
    filler = " ".join(f"The harbour pilot logged tide number {i} at dawn." for i in range(14))
    (folder / "story.txt").write_text(
        "Story\n\nThe lighthouse keeper Ingrid Vold kept a diary of storms on Utsira. " + filler +
        " Years later her nephew gave it to a museum in Haugesund.\n")
    (folder / "museum.txt").write_text(
        "Museum\n\nThe Bergen museum received a storm lantern last year.\n")
    (folder / "other.txt").write_text("Other\n\nA bakery in Trondheim sells bread and cakes.\n")
    question = "Which museum received the storm diary that Ingrid Vold kept at the Utsira lighthouse?"
    off = scripted_pipeline(tmp_path / "a", folder, embedder, lambda m: "", chunk_words=40)
    on = scripted_pipeline(tmp_path / "b", folder, embedder, lambda m: "", chunk_words=40, document_weight=2.0)
    documents = on.index.chunk_documents()
    ranked = [documents.names[d] for d, _ in on.index.lexical.search_documents(question, 3, documents)]
    assert ranked[:2] == ["story.txt", "museum.txt"] and "other.txt" not in ranked
    before = {h.chunk.chunk_id: h.score for h in off.search(question, 10)}
    after = {h.chunk.chunk_id: (h.chunk.doc_id, h.score) for h in on.search(question, 10)}
    k = on.settings.rrf_k
    for cid, (doc, score) in after.items():
        gain = {"story.txt": 2.0 / (k + 1), "museum.txt": 2.0 / (k + 2)}.get(doc, 0.0)  # no shared term: no vote
        assert score == pytest.approx(before.get(cid, 0.0) + gain)
    assert max(after.values(), key=lambda v: v[1])[0] == "story.txt"
    story_off = [c for c, _ in sorted(before.items(), key=lambda kv: -kv[1]) if after.get(c, ("",))[0] == "story.txt"]
    story_on = [c for c, (d, _) in sorted(after.items(), key=lambda kv: -kv[1][1]) if d == "story.txt"]
    assert story_on[:len(story_off)] == story_off
    # A question limited to some documents is ranked within them only.
    limited = on.retriever.search(question, 3, documents=frozenset({"museum.txt", "other.txt"}))
    assert {h.chunk.doc_id for h in limited} <= {"museum.txt", "other.txt"}
    with pytest.raises(SettingsError, match="document_weight"):
        load_settings({"document_weight": -1})


def test_the_answer_frame_of_a_question_is_not_a_keyword(tmp_path, embedder):
    """Text outside the seeds: "What is the first name of the person who ..." names the kind of answer, not the
    topic. Searched as keywords, "first", "name" and "person" rank a passage that says them often above the one
    about what the question asks; the keyword search gets the question without them."""
    from tests.fakes import scripted_pipeline

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "festival.txt").write_text(
        "Festival\n\nThe first name on the festival's first poster was the first person to sign up, and the "
        "names of the first people to play were printed in the first programme.\n")
    (folder / "portrait.txt").write_text("Portrait\n\nMarta Lind painted the harbour at dusk.\n")
    pipeline = scripted_pipeline(tmp_path / "index", folder, embedder, lambda m: "", fusion="bm25")
    question = "What is the first name of the person who painted the harbour?"
    assert pipeline.search(question, 1)[0].chunk.doc_id == "portrait.txt"
    assert [c for c, _ in pipeline.index.lexical.search(question, 2)][:1] != \
        [c for c, _ in pipeline.index.lexical.search(keyword_query(question), 2)][:1]
