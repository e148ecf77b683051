from rag.chunker import SentenceChunker
from rag.loaders import load_document
from rag.text import split_sentences
from rag.types import Document
from tests.conftest import SEEDS


def test_seed_chunks_point_at_exact_spans_and_overlap():
    chunker = SentenceChunker(max_words=60, overlap_sentences=1)
    for path in sorted(SEEDS.iterdir()):
        doc = load_document(path)
        chunks = chunker.chunk(doc, first_id=10)
        assert chunks, path
        assert [c.chunk_id for c in chunks] == list(range(10, 10 + len(chunks)))
        for c in chunks:
            assert doc.text[c.start : c.end] == c.text
        # Consecutive chunks overlap by one sentence (when the earlier one holds more than one, and that sentence
        # fits beside the next one), leave no gap, each holds text its predecessor does not, and together they
        # cover the document.
        for a, b in zip(chunks, chunks[1:], strict=False):
            assert a.start < b.start and a.end < b.end, "a chunk that repeats its predecessor's end"
            assert not doc.text[a.end : b.start].strip(), "gap between chunks"
            last, first = split_sentences(a.text)[-1], split_sentences(doc.text[a.end :])[0]
            if len(split_sentences(a.text)) > 1 and len(last.text.split()) + len(first.text.split()) <= 60:
                assert b.start < a.end, (path, a, b)
        assert chunks[0].start == 0 and chunks[-1].end == len(doc.text)


def test_chunks_respect_the_word_budget_and_sentence_boundaries():
    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(30))
    doc = Document("d", "t", text, "d", "h")
    chunks = SentenceChunker(max_words=20, overlap_sentences=0).chunk(doc)
    assert all(len(c.text.split()) <= 20 for c in chunks)
    assert all(c.text.endswith(".") and c.text.startswith("Sentence") for c in chunks)
    assert " ".join(c.text for c in chunks) == text


def test_overlong_sentence_is_cut_at_word_boundaries():
    words = [f"w{i}" for i in range(250)]
    doc = Document("d", "t", " ".join(words), "d", "h")
    chunks = SentenceChunker(max_words=100, overlap_sentences=0).chunk(doc)
    assert [len(c.text.split()) for c in chunks] == [100, 100, 50]
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text


def test_no_chunk_is_only_the_overlap_of_the_one_before():
    """A sentence too long to sit beside the overlap starts the next chunk itself: the chunk would otherwise be the
    overlap sentence alone, a repeat of its predecessor's end (82 of Quoref's 12,163 chunks were)."""
    short = "The choir met on Monday."
    long = "Then " + " ".join(["the long rehearsal ran on"] * 3) + " until late at night."
    doc = Document("d", "t", f"{short} {short} {long} {short}", "d", "h")
    chunks = SentenceChunker(max_words=20, overlap_sentences=1).chunk(doc)
    assert [c.text for c in chunks] == [f"{short} {short}", long, short]
