from rag.citations import CitationChecker, strip_markers
from rag.types import Chunk, Hit
from tests.conftest import SEEDS

DOC = (SEEDS / "000_3e02e4570786b062.txt")


def passage_from_seed(seed_pipeline, doc_id, needle):
    index = seed_pipeline.index
    chunk = next(c for c in index.chunks.values() if c.doc_id == doc_id and needle in c.text)
    return Hit(chunk=chunk, title=index.title(doc_id), score=1.0, dense_score=0.9)


def test_citation_points_at_the_exact_supporting_sentence(seed_pipeline, embedder):
    hit = passage_from_seed(seed_pipeline, "000_3e02e4570786b062.txt", "272")
    other = passage_from_seed(seed_pipeline, "003_880be84fd3658657.txt", "sacked")
    checker = CitationChecker(embedder)
    q = "How many cases did Sheffield council examine after the Baby P case?"
    text, sentences, citations, dropped = checker.attach("Sheffield examined 272 cases [2].", [other, hit], q)
    assert not dropped and len(citations) == 1
    c = citations[0]
    assert c.doc_id == "000_3e02e4570786b062.txt" and c.passage_n == 2
    doc_text = seed_pipeline.index.document_text(c.doc_id)
    assert doc_text[c.start : c.end] == c.quote
    assert "All 272 cases on the council" in c.quote and c.quote.endswith("no child was in danger.")
    assert text == "Sheffield examined 272 cases [1]."


def test_wrong_number_and_outside_knowledge_are_unsupported(seed_pipeline, embedder):
    hit = passage_from_seed(seed_pipeline, "000_3e02e4570786b062.txt", "272")
    checker = CitationChecker(embedder)
    q = "How many cases did Sheffield council examine?"
    _, _, citations, dropped = checker.attach("Sheffield examined 300 cases.", [hit], q)
    assert citations == [] and dropped == ["Sheffield examined 300 cases."]
    _, _, citations, dropped = checker.attach("The capital of France is Paris.", [hit], "capital of France?")
    assert citations == [] and dropped


def test_mixed_answer_keeps_supported_sentence_and_drops_the_rest(seed_pipeline, embedder):
    hit = passage_from_seed(seed_pipeline, "003_880be84fd3658657.txt", "sacked")
    checker = CitationChecker(embedder)
    answer = ("The head of the children's services in Haringey was sacked. "
              "She later became a famous novelist in Paris.")
    text, sentences, citations, dropped = checker.attach(answer, [hit], "Who was sacked in Haringey?")
    assert len(citations) == 1 and "sacked" in citations[0].quote
    assert dropped == ["She later became a famous novelist in Paris."]
    assert "novelist" not in text and text.endswith("[1].")


def test_two_facts_from_two_passages_get_two_citations(seed_pipeline, embedder):
    a = passage_from_seed(seed_pipeline, "000_3e02e4570786b062.txt", "272")
    b = passage_from_seed(seed_pipeline, "004_244dd2b7b137fb73.txt", "Risthardh Hare")
    checker = CitationChecker(embedder)
    _, sentences, citations, _ = checker.attach(
        "Sheffield examined all 272 cases. Risthardh Hare is the interim director of children's services in Sefton.",
        [a, b], "")
    assert [c.doc_id for c in citations] == ["000_3e02e4570786b062.txt", "004_244dd2b7b137fb73.txt"]
    assert [s.citation_ns for s in sentences] == [(1,), (2,)]


def test_markers_written_by_the_model_are_ignored():
    assert strip_markers("Yes [1], and no [2,3]. Done [4-5].") == "Yes, and no. Done."


def test_chunk_offsets_feed_document_offsets(embedder):
    text = "Intro line.\nThe panel approved 12 placements. Nothing else happened."
    chunk = Chunk(0, "d.txt", 0, 12, len(text), text[12:])
    hit = Hit(chunk=chunk, title="t", score=1.0)
    _, _, citations, _ = CitationChecker(embedder).attach("12 placements were approved.", [hit],
                                                          "How many placements did the panel approve?")
    assert text[citations[0].start : citations[0].end] == "The panel approved 12 placements."


def test_extractive_fallback_quotes_the_source_instead_of_a_wrong_paraphrase(seed_pipeline, embedder):
    hit = passage_from_seed(seed_pipeline, "000_3e02e4570786b062.txt", "272")
    checker = CitationChecker(embedder)
    text, _, citations, dropped = checker.attach(
        "Sheffield examined 300 cases.", [hit], "How many cases did Sheffield council examine?",
        extractive_fallback=True)
    assert dropped == ["Sheffield examined 300 cases."]
    assert len(citations) == 1 and "272" in citations[0].quote and "300" not in text


def test_one_sentence_joining_two_sources_cites_each_clause(seed_pipeline, embedder):
    a = passage_from_seed(seed_pipeline, "000_3e02e4570786b062.txt", "272")
    b = passage_from_seed(seed_pipeline, "004_244dd2b7b137fb73.txt", "Risthardh Hare")
    checker = CitationChecker(embedder)
    text, sentences, citations, dropped = checker.attach(
        "Sheffield examined all 272 cases, and Risthardh Hare is the interim director of children's services.",
        [a, b], "")
    assert not dropped
    assert {c.doc_id for c in citations} == {"000_3e02e4570786b062.txt", "004_244dd2b7b137fb73.txt"}
    assert sentences[0].citation_ns == (1, 2) and text.endswith("[1][2].")
    # A clause with no source is dropped; the supported clause stays, cited.
    text, _, citations, dropped = checker.attach("Sheffield examined all 272 cases, and Paris is in France.",
                                                 [a, b], "")
    assert dropped == ["Paris is in France."] and text == "Sheffield examined all 272 cases [1]."
    assert [c.doc_id for c in citations] == ["000_3e02e4570786b062.txt"]
