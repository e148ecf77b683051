from rag.text import normalize_text, split_sentences, tokenize


def test_normalize_replaces_seed_punctuation_and_spaces():
    raw = "Sheffield\u2019s \u201creview\u201d\u00a0found\u00a0 it \u2013 all\n\u00b7\u00a0 item one\r\n\n\n\nnext"
    assert normalize_text(raw) == "Sheffield's \"review\" found it - all\n- item one\n\nnext"


def test_normalize_strips_control_characters_but_keeps_lines():
    assert normalize_text("a\x07b\u200bc\n\n d ") == "abc\n\nd"


def test_sentences_have_exact_offsets_and_respect_abbreviations():
    text = "Coun. Andrew Sangar spoke. Dr. Hare said it was slow! Then 3.5 cases?\nHeading line\nLast one"
    spans = split_sentences(text)
    assert [s.text for s in spans] == [
        "Coun. Andrew Sangar spoke.",
        "Dr. Hare said it was slow!",
        "Then 3.5 cases?",
        "Heading line",
        "Last one",
    ]
    for s in spans:
        assert text[s.start : s.end] == s.text


def test_sentence_offsets_shift_by_offset():
    spans = split_sentences("One. Two.", offset=100)
    assert [(s.start, s.end) for s in spans] == [(100, 104), (105, 109)]


def test_tokenize_keeps_numbers_whole():
    assert tokenize("All 272 cases, 1,000 staff and 3.5% more") == ["all", "272", "cases", "1,000", "staff", "and",
                                                                     "3.5", "more"]


def test_one_number_word_table_read_three_ways():
    """Counts written as words: the citation check, the question profile and the metrics read one table
    (rag/text.py), each leaving out what it must ("one" as a pronoun; multipliers in citations)."""
    from eval.metrics import normalize_answer
    from rag.citations import numbers

    assert numbers("thirteen cases, forty staff and 272 files") == {"13", "40", "272"}
    assert numbers("every one of them") == set() and numbers("two hundred") == {"2"}
    assert normalize_answer("Eight cases") == "8 cases" and normalize_answer("one of them") == "one of them"
