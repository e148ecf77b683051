"""A reply sentence that restates the question is cut to what it adds (rag/concise.py, the "concise" check).
Cases are written like Quoref's (Wikipedia stories), outside the seeds."""

import pytest

from rag.citations import terms
from rag.concise import asks_for_a_thing, concise_answer, concise_sentence
from tests.fakes import scripted_pipeline, story_folder


@pytest.mark.parametrize("question, reply, cut", [
    ("Who joins a Buddhist collective?", "Russell joins a Buddhist collective [1].", "Russell [1]."),
    ("Who built a firehouse, water-supply and lighting system?",
     "The Navy built a firehouse, water-supply and lighting system [1].", "The Navy [1]."),
    ("What railway owned the track behind the house that no longer exists?",
     "The Lackawanna and Bloomsburg Railroad owned the track behind the house that no longer exists [1].",
     "The Lackawanna and Bloomsburg Railroad [1]."),
    ("Whose house does Lang return stolen goods to?", "Lang returns stolen goods to the house of Pym [1].",
     "Pym [1]."),
    ("What is the name of the band signed by Dualtone Records whose next album was Weather and Water?",
     "The band signed by Dualtone Records whose next album was Weather and Water is The Greencards [1][2].",
     "The Greencards [1][2]."),
    ("Who does the orderly that is shot work for?", "The orderly that is shot works for the asylum [1].",
     "The asylum [1]."),
    # Each sentence of a joined answer on its own; citations stay where they were.
    ("Which temporary workers did the two mills depend on?",
     "The two mills depended on seasonal pickers [1]. Day labourers [2].", "Seasonal pickers [1]. Day labourers [2]."),
    # A name or title stays whole, with what the question also says of it.
    ("What is the name of the album the band recorded in Seattle in 1993?",
     "The name of the album the band recorded in Seattle in 1993 is In Utero [1].", "In Utero [1]."),
    ("What is the full name of the committee that gave the research to Thomson?",
     "The full name of the committee that gave the research to Thomson was Committee for the Scientific Survey "
     "of Air Warfare [1].", "Committee for the Scientific Survey of Air Warfare [1]."),
    ("What is the name given for the subgenre of black metal?", "The name given for the subgenre of black metal "
     "is Viking metal [1].", "Viking metal [1]."),
    ("What was the total length in miles of the rail trail?", "The total length in miles of the rail trail was "
     "4 miles [1].", "4 miles [1]."),
    ("What is the name of the album the band played whole in 2013?",
     "The name of the album the band played whole in 2013 was Kill 'Em All [1].", "Kill 'Em All [1]."),
    ("What is the name of the song the singer performed at the 1998 awards?",
     'The song the singer performed at the 1998 awards was "Journey to the Past" [1].', '"Journey to the Past" [1].'),
])
def test_a_restated_question_is_cut_to_what_the_reply_adds(question, reply, cut):
    assert concise_answer(question, reply) == cut


@pytest.mark.parametrize("question, reply", [
    # Not a question for a thing: why, how, an action.
    ("Why did the mill close?", "The mill closed because the river silted up [1]."),
    ("How did the crew escape?", "The crew escaped through an underground tunnel [1]."),
    ("What does the sister-in-law do in every situation she encounters?",
     "Peggy meddles in every situation she stumbles into [1]."),
    # Nothing restated, or only one word of the question.
    ("Who wrote the ballad?", "Agnes Moore [1]."),
    ("Who led the expedition?", "Roald Amundsen led it [1]."),
    # The cut would start on a verb, end on a common word, or keep a clause.
    ("What did Hans Muller think would prevent tragedy befalling him and his family?",
     "Hans Muller thought that survivor guilt would prevent tragedy befalling him and his family [1]."),
    ("Who sighed at the thought of the unhappiness that this failure must cause the composer?",
     "The other man sighed at the thought of the unhappiness that this failure must cause the composer [1]."),
    ("What was the mill owner's full name, and when did he die?",
     "The mill owner was Peter, and he died in August 1907 [1]."),
    # A title the reply gives whole is not split.
    ("Which cabinet member thanked the foster carers?", "Cabinet Member for Children and Families [1]"),
    # A long clause is not a thing.
    ("What is the name of the person Sweet Chiffon takes to her working place?",
     "Sweet Chiffon takes the little redhead, freckled 9-year-old boy to her working place, a bar [1]."),
])
def test_other_replies_are_left_alone(question, reply):
    assert concise_answer(question, reply) == reply


def test_questions_for_a_thing():
    assert asks_for_a_thing("In which year did the mill close?")
    assert asks_for_a_thing("Whose house does Lang return stolen goods to?")
    assert not asks_for_a_thing("What happened to the mill?")
    assert not asks_for_a_thing("How many mills were there?")


def test_a_sentence_without_markers_is_cut_the_same_way():
    question = "Who joins a Buddhist collective?"
    assert concise_sentence("Russell joins a Buddhist collective.", terms(question)) == "Russell."


def test_the_pipeline_cuts_the_checked_answer_and_keeps_the_models_reply(tmp_path, embedder):
    """The checks and citations judge the model's whole sentence; only the text shown is cut, and the sentence
    keeps its citation. With the check off, the sentence stays whole."""
    folder = story_folder(tmp_path, "monastery", "After the war Russell joins a Buddhist collective in the hills "
                          "above Kyoto. He stays there for seven years and learns to carve wood.")
    question = "Who joins a Buddhist collective?"
    reply = "Russell joins a Buddhist collective."
    on = scripted_pipeline(tmp_path / "index", folder, embedder, lambda m: reply, chunk_words=40,
                           answer_checks="names,concise")
    answer = on.ask(question)
    assert not answer.abstained and answer.text == "Russell [1]."
    assert answer.raw_generation == reply
    assert [s.text for s in answer.sentences] == ["Russell."] and answer.sentences[0].citation_ns == (1,)
    assert "Russell joins a Buddhist collective" in answer.citations[0].quote
    off = on.variant(on.settings.replace(answer_checks="names"))
    assert off.ask(question).text == "Russell joins a Buddhist collective [1]."
