"""A question typed without capitals is read with the capitals its passages write (rag/casing.py). Failure kind: a
trap or a two-name question typed in lower case is answered as if it named nothing, because its names are its
capitalised words."""

import pytest

from rag.casing import needs_case, restore_case
from rag.question import question_names

PASSAGES = [
    "Halden Orchestra review\n\nThe Halden Orchestra was founded in 1952 by the conductor Marta Lind. Review "
    "boards praised the Halden Orchestra's SEND outreach, and the board plans to send players to schools.",
    "A report by the SEND team said the Halden programme for SEND pupils should grow. The board will review it.",
    'She sang "What Are You Waiting For" at the Halden gala, and the orchestra played.',
]


def test_the_passages_capitals_mark_the_questions_names():
    read = restore_case("who founded the halden orchestra?", PASSAGES)
    assert read == "Who founded the Halden Orchestra?"
    assert question_names(read) == ("halden", "orchestra")


def test_a_possessive_and_an_acronym_are_written_as_the_passages_write_them():
    assert restore_case("what did halden's send team report?", PASSAGES) == "What did Halden's SEND team report?"


def test_a_word_the_passages_write_in_lower_case_stays_a_word():
    # "Review" opens a sentence: a sentence's first word says nothing.
    assert restore_case("when will the board review the halden programme?", PASSAGES) == \
        "When will the board review the Halden programme?"
    # "orchestra" is lower case in one of its four uses mid-sentence (a heading's count): at most a quarter.
    assert restore_case("who played?", ["The Halden Orchestra played, and the orchestra sang."]) == "Who played?"


def test_question_words_stay_as_typed_even_inside_a_capitalised_title():
    assert restore_case("what are you doing at the halden gala?", PASSAGES) == "What are you doing at the Halden gala?"


def test_an_office_stays_as_typed():
    # "Cabinet Member" is a title (the office check reads it), not a name the cited document must hold.
    passages = ["The report said Sefton's Cabinet Member for Children, Councillor Ann Lee, would act."]
    assert restore_case("who is sefton's cabinet member?", passages) == "Who is Sefton's cabinet member?"


def test_a_word_no_passage_holds_is_left_alone():
    assert restore_case("who founded the bergen quartet?", PASSAGES) == "Who founded the bergen quartet?"


def test_a_question_with_its_first_word_capitalised_is_read_as_typed():
    # Its writer capitalises names: on Quoref such questions gain almost only wrong names ("a toy Maker").
    assert not needs_case("Who founded the orchestra?")
    assert restore_case("Who founded the halden orchestra?", PASSAGES) == "Who founded the halden orchestra?"


def test_an_all_capitals_question_is_read_in_lower_case_with_the_passages_capitals():
    assert needs_case("WHO FOUNDED THE HALDEN ORCHESTRA?")
    assert restore_case("WHO FOUNDED THE HALDEN ORCHESTRA?", PASSAGES) == "Who founded the Halden Orchestra?"


@pytest.mark.parametrize("question", ["orchestra", "", "1952?", "11900 children were evacuated from where?"])
def test_needs_case_reads_letters_only(question):
    assert needs_case(question) == (question == "11900 children were evacuated from where?")
