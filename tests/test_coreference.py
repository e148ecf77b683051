"""Whom "he" and "she" stand for (rag/coreference.py), shown to the reader and counted by the citation check.
Failure kind: coreference pick. Text outside the seeds."""

import pytest

from rag.coreference import annotate, pronoun_referents, unannotated
from tests.fakes import scripted_pipeline, story_folder

BIOGRAPHY = ("Oskar Lindqvist (1901 - 1960), known as Max Lind, was a Swedish painter. As a student in Uppsala, "
             "Lindqvist met the sculptor Ingrid Berg, with whom he formed a close friendship. A lasting influence on "
             "his work arose from his meeting with the Danish printer Henrik Sand; he also gained new ideas from a "
             "year spent in Iceland.")


def names(text: str) -> list[tuple[str, str]]:
    return [(text[start:end], name) for start, end, name in pronoun_referents(text)]


def test_a_pronoun_stands_for_the_last_subject_not_the_last_name_said():
    assert names(BIOGRAPHY) == [("he", "Oskar Lindqvist"), ("his", "Oskar Lindqvist"), ("his", "Oskar Lindqvist"),
                                ("he", "Oskar Lindqvist")]


@pytest.mark.parametrize("text, expected", [
    # A name that a subordinate clause makes a subject, before the pronoun in the same sentence.
    ("Elated, Tomas sends for his girl. Meanwhile, when Karlsson sets out with the gold, he is shot.",
     [("he", "Karlsson")]),
    # A subordinate clause's subject comes first; a name is "he" or "she" from its first pronoun on, and a
    # pronoun of the other kind passes it over.
    ("Greta Holm works in a diner. Later Urban Falk arrives. He needs help. When Greta sees him, she helps.",
     [("He", "Urban Falk"), ("she", "Greta Holm")]),
    ("Urban Falk is a pilot. He flies at night. She waits.", [("He", "Urban Falk")]),
    # Only subjects are guessed: an object is never whom a pronoun stands for.
    ("Urban Falk is a pilot. He meets Greta Holm, and she smiles.", [("He", "Urban Falk")]),
    # Openers, acronyms, places after a preposition and possessives are not who a sentence is about.
    ("However, she left. In a review, BBC critic Lena Moss said that she liked it.", [("she", "Lena Moss")]),
    ("The Warlock name reflects Arvid's interest. He painted.", []),
    # A participle, adverb or preposition opening a sentence is no name ("Wandering through town, he ...").
    ("Tom Hale is a pilot. He flies at night. Wandering through town, he sees a fire.",
     [("He", "Tom Hale"), ("he", "Tom Hale")]),
    ("Lena Moss is a singer. She tours. Amidst mourning with her family, she focused on work.",
     [("She", "Lena Moss"), ("her", "Lena Moss"), ("she", "Lena Moss")]),
    # Possessives ("the person whose sister wants the shop"): an object "her" is not one.
    ("Mara Voss is a baker. She sells bread. Her sister wants the shop, and Mara tells her to wait.",
     [("She", "Mara Voss"), ("Her", "Mara Voss")]),
    # A possessive points only at someone a "he" or "she" of the text stands for: a band is not one.
    ("Kettle Hill is a band. It plays folk. Tom Ash is a pilot. He flies. Kettle Hill sold his records.",
     [("He", "Tom Ash")]),
    # Not before its clause's subject, after a reported clause's subject, or inside a quotation.
    ("Mara Voss is a baker. She sells bread. In her diary, Ilse Voss writes about the shop.", [("She", "Mara Voss")]),
    ("Tom Ash is a pilot. He flies. Tom Ash said Ed Moor had promised help, but a year into his term nothing came.",
     [("He", "Tom Ash")]),
    ('Mara Voss is a baker. She sells bread. "I love her bread," a critic says.', [("She", "Mara Voss")]),
])
def test_whom_a_pronoun_stands_for(text, expected):
    assert names(text) == expected


def test_the_annotation_reads_before_the_passage_and_keeps_contractions_whole():
    text = "Sara Lind is a pilot. She flies at night.\nWhen she's home, she reads."
    start = text.index("She")
    assert annotate(text, start, len(text)) == \
        "She (Sara Lind) flies at night.\nWhen she's (Sara Lind) home, she (Sara Lind) reads."


def test_the_reader_sees_the_pronouns_names_and_the_answer_cites_the_pronouns_sentence(tmp_path, embedder):
    """The reply names whom "he" stands for; no sentence that names him says what he did. With the annotation
    the answer cites the sentence that says it."""
    folder = story_folder(tmp_path, "painter", BIOGRAPHY)
    question = "What is the full name of the person who gained new ideas from a year spent in Iceland?"
    p = scripted_pipeline(tmp_path / "index", folder, embedder, lambda m: "Oskar Lindqvist",
                          answer_checks="grounded", annotate_pronouns=True, ask_who=False)
    answer = p.ask(question)
    assert "he (Oskar Lindqvist) also gained new ideas" in p.generator.prompts[-1][-1].content
    assert "influence on his (Oskar Lindqvist) work" in p.generator.prompts[-1][-1].content
    assert not answer.abstained and answer.text.startswith("Oskar Lindqvist [")
    assert [c.quote for c in answer.citations] == [
        "A lasting influence on his work arose from his meeting with the Danish printer Henrik Sand; he also gained "
        "new ideas from a year spent in Iceland."]
    # Without it the reply can only cite a sentence that names him and says nothing of Iceland.
    off = p.variant(p.settings.replace(annotate_pronouns=False))
    assert all("Iceland" not in c.quote for c in off.ask(question).citations)
    assert "he also gained new ideas" in off.generator.prompts[-1][-1].content


def test_an_annotation_the_reader_copies_is_put_as_the_name_alone():
    assert unannotated("He (Sean Costello) [1]") == "Sean Costello [1]"
    assert unannotated("It was his (Sean) band and she (Mara Voss) sang.") == "It was Sean's band and Mara Voss sang."
    assert unannotated("He (aged 40) left.") == "He (aged 40) left."  # a document's own aside, not a name


def test_a_copied_annotation_is_not_shown_to_the_user(tmp_path, embedder):
    folder = story_folder(tmp_path, "painter", BIOGRAPHY)
    question = "Who gained new ideas from a year spent in Iceland?"
    p = scripted_pipeline(tmp_path / "index", folder, embedder, lambda m: "He (Oskar Lindqvist) [1]",
                          answer_checks="grounded", annotate_pronouns=True, ask_who=False)
    answer = p.ask(question)
    assert not answer.abstained and answer.text.startswith("Oskar Lindqvist [")
    assert "(" not in answer.text and answer.raw_generation == "He (Oskar Lindqvist) [1]"
