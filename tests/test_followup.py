"""Follow-up references resolved in code (rag/followup.py). Failure kind 6 of issue 14: follow-ups rewritten wrong
(a council swapped for another, the question's subject changed). Text outside the seeds."""

import pytest

from rag.followup import answer_names, place_named, resolve_references, standalone_question
from rag.generation.base import Generation

FOUNDED = ("Which orchestra did Marta Lind found?", "The Halden Orchestra [1].")
CONDUCTOR = ("Who conducts the Halden Orchestra?", "It is conducted by Marta Lind, since 1990 [1].")
CITIES = ("Which cities did the orchestra tour in 1968?", "Bergen, Tromso and Oslo [1].")


@pytest.mark.parametrize(("question", "history", "expected"), [
    ("Who played there in 1968?", FOUNDED, "Who played in Halden Orchestra in 1968?"),
    ("What was its first concert?", FOUNDED, "What was Halden Orchestra's first concert?"),
    ("What did the critics say about their recordings?", FOUNDED,
     "What did the critics say about Halden Orchestra's recordings?"),
    ("What did she study?", CONDUCTOR, "What did Marta Lind study?"),
    ("When was her first season?", CONDUCTOR, "When was Marta Lind's first season?"),
    ("What did the board tell her about the budget?", CONDUCTOR,
     "What did the board tell Marta Lind about the budget?"),
    ("Who travelled from there to Paris?", FOUNDED, "Who travelled from Halden Orchestra to Paris?"),
    ("What did they charge for tickets?", CITIES, "What did Bergen, Tromso and Oslo charge for tickets?"),
    # Several names: a plural reference to a bare list takes them all, anything else the first name.
    ("Who was sacked there?", ("Which orchestra lost its funding?", "The Halden Orchestra in northern Norway [1]."),
     "Who was sacked in Halden Orchestra?"),
    ("What did they record?", ("Which orchestra did she join?", "The Halden Orchestra, which Bergen funds [1]."),
     "What did Halden Orchestra record?"),
])
def test_a_pronoun_gets_the_name_the_previous_answer_gave(question, history, expected):
    assert resolve_references(question, [history]) == expected


@pytest.mark.parametrize(("question", "history"), [
    ("And in 1968?", FOUNDED),  # no reference to resolve: the model rewrites it
    ("Is it true that the orchestra toured?", FOUNDED),  # "it" is left alone
    ("What did he say?", ("Who conducts it?", "The documents don't say.")),  # nothing named
])
def test_no_substitution_without_one_clear_name(question, history):
    assert resolve_references(question, [history]) is None


@pytest.mark.parametrize(("question", "history", "expected"), [
    ("What did that orchestra record in 1968?", FOUNDED, "What did Halden Orchestra record in 1968?"),
    ("Who paid for this orchestra's tour?", FOUNDED, "Who paid for Halden Orchestra's tour?"),
    ("Who played at that orchestra?", FOUNDED, "Who played at Halden Orchestra?"),
    ("What did that woman study?", CONDUCTOR, "What did Marta Lind study?"),
    ("When did the same woman's first season start?", CONDUCTOR, "When did Marta Lind's first season start?"),
    ("What did this director say, and when did she leave?", CONDUCTOR,
     "What did Marta Lind say, and when did Marta Lind leave?"),
])
def test_a_pointing_noun_phrase_gets_the_name_the_previous_answer_gave(question, history, expected):
    """Failure kind 6 (follow-ups rewritten wrong): "that council", "this director", "the same councillor" point back
    like a pronoun, and the 1.5B rewriter dropped the name ("What was the council still short of?")."""
    assert resolve_references(question, [history]) == expected


@pytest.mark.parametrize(("question", "history"), [
    ("What did the letter that council officers wrote say?", FOUNDED),  # a relative clause, not a pointer
    ("What did that orchestra play?", CONDUCTOR),  # a person answer names no orchestra: the model rewrites
    ("What did this conductor study?", CONDUCTOR),  # not a listed person noun: the model rewrites
    ("What did that woman say?", ("Who conducts it?", "The documents don't say.")),
])
def test_no_substitution_for_a_relative_that_or_without_a_name_of_its_kind(question, history):
    assert resolve_references(question, [history]) is None


def test_the_names_of_an_answer_leave_out_what_the_question_named():
    assert answer_names(*CONDUCTOR) == ["Marta Lind"]
    assert answer_names("Which body funds it?", "The Department for Culture funds it [1].") == [
        "Department for Culture"]
    assert answer_names("Who conducts the Halden Orchestra?", "The Halden Orchestra's founder [1].") == []


class _NoModel:
    def generate(self, messages, params):  # pragma: no cover - must not be called
        raise AssertionError("a resolved follow-up must not ask the model")


class _Rewriter:
    def __init__(self, text):
        self.text = text

    def generate(self, messages, params):
        return Generation(text=self.text, prompt_tokens=1, completion_tokens=1, seconds=0.0)


def test_a_resolved_follow_up_asks_no_model_and_the_setting_turns_it_off():
    history = [CONDUCTOR]
    assert standalone_question(_NoModel(), "What did she study?", history) == "What did Marta Lind study?"
    rewritten = standalone_question(_Rewriter("What did Marta Lind study in Oslo?"), "What did she study?", history,
                                    references=False, check=False)
    assert rewritten == "What did Marta Lind study in Oslo?"


def test_there_is_a_place_or_a_body_never_a_person():
    # The answer to "which orchestra" is the place referred to.
    assert place_named("Which orchestra toured Norway?", "The Halden Orchestra, with Marta Lind [1].") == (
        "Halden Orchestra")
    # A person answered: "there" is the place the answer or the question gave.
    assert place_named("Who was sacked at the Halden Orchestra?", "Marta Lind was sacked [1].") == "Halden Orchestra"
    assert place_named("Who was sacked?", "Marta Lind, the conductor in Bergen [1].") == "Bergen"
    assert place_named("Who was sacked?", "Marta Lind [1].") is None
    assert resolve_references("Who replaced her there?", [("Who was sacked in Bergen?", "Marta Lind [1].")]) == (
        "Who replaced Marta Lind in Bergen?")
    assert resolve_references("Who played there?", [("Who conducted?", "Marta Lind [1].")]) is None
