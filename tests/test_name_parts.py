"""The part of a name a question asks for (rag/name_parts.py): a reply that names the right person in the wrong
shape is cut to, or completed to, the first, last or full name. Text outside the seeds."""

import pytest

from rag.name_parts import asked_name_part, names_in, names_only_the_asked_about, shape_name_parts
from tests.fakes import scripted_pipeline, story_folder

STORY = ("Lucien Conein was a CIA officer in Saigon. When the coup began, Conein was called to the embassy. "
         "Later Mary Beekman lost her job; Mary met Dr. Ludwig van Beethoven Jr. in Bonn. "
         "Meantime Mary thinks about Starr's Ringo's Rotogravure.")


@pytest.mark.parametrize("question, part", [
    ("What is the first name of the person who got the call?", "first"),
    ("Give the forename of the officer.", "first"),
    ("What's the given name of the man?", "first"),
    ("What is the last name of the person who cried?", "last"),
    ("What are the surnames of the two officers?", "last"),
    ("What is the family name of the composer?", "last"),
    ("What is the full name of the person who cried?", "full"),
    ("Who got the call?", None),
    ("What is the name of the orchestra?", None),
])
def test_the_part_asked_for(question, part):
    assert asked_name_part(question) == part


def test_names_are_runs_of_capitals_without_sentence_openers_and_possessives():
    assert names_in(STORY) == [["Lucien", "Conein"], ["CIA"], ["Saigon"], ["Conein"], ["Mary", "Beekman"],
                               ["Mary"], ["Dr.", "Ludwig", "van", "Beethoven", "Jr."], ["Bonn"],
                               ["Meantime", "Mary"], ["Starr"], ["Ringo"], ["Rotogravure"]]


@pytest.mark.parametrize("question, reply, shaped", [
    # A surname where the first name is asked: the given name of the person it is the surname of.
    ("What is the first name of the person called to the embassy?", "Conein", "Lucien"),
    ("What is the first name of the officer?", "Lucien Conein [1]", "Lucien"),
    ("What is the last name of the officer?", "Lucien Conein.", "Conein"),
    ("What is the last name of the woman who lost her job?", "Mary", "Beekman"),
    # One word where the full name is asked; "Meantime Mary" (a sentence's opener) does not compete.
    ("What is the full name of the woman who lost her job?", "Mary", "Mary Beekman"),
    # Titles and suffixes are no part of a first or last name.
    ("What is the first name of the composer?", "Dr. Ludwig van Beethoven Jr.", "Ludwig"),
    ("What is the last name of the composer?", "Dr. Ludwig van Beethoven Jr.", "Beethoven"),
    ("What are the last names of the two people?", "Lucien Conein and Mary Beekman", "Conein and Beekman"),
    # Initials are part of a name, neither an article ("A.") nor an acronym; a given name written as an initial
    # is not in the text, so a first-name question keeps the reply whole.
    ("What is the last name of the painter?", "A. Y. Jackson [1]", "Jackson"),
    ("What is the last name of the writer?", "J. R. R. Tolkien", "Tolkien"),
    ("What is the first name of the painter?", "A. Y. Jackson [1]", "A. Y. Jackson [1]"),
])
def test_a_bare_name_is_shaped_to_the_part_asked(question, reply, shaped):
    assert shape_name_parts(question, reply, [STORY]) == shaped


@pytest.mark.parametrize("question, reply", [
    ("Who was called to the embassy?", "Conein"),  # no part of a name asked
    ("What is the first name of the officer?", "The officer was Lucien Conein."),  # a sentence, not a bare name
    ("What is the full name of the officer?", "Lucien Conein"),  # already whole
    ("What is the first name of the officer?", "Lucien"),  # already the given name
    ("What is the last name of the officer?", "Conein"),  # already the surname
    ("What is the full name of the band?", "The Beatles"),  # not a run of names alone
    ("What is the full name of the pianist?", "Rachmaninoff"),  # no longer name in the text holds it
])
def test_other_replies_are_left_alone(question, reply):
    assert shape_name_parts(question, reply, [STORY]) == reply


def test_two_people_sharing_a_name_as_often_leave_the_pick_alone():
    text = "Anna Berg sang. Anna Lund played. Anna left."
    assert shape_name_parts("What is the full name of the singer?", "Anna", [text]) == "Anna"
    assert shape_name_parts("What is the full name of the singer?", "Anna", [text + " Anna Berg bowed."]) == \
        "Anna Berg"


def test_the_pipeline_completes_a_name_from_its_document_and_cites_where_it_is_written(tmp_path, embedder):
    """A story gives a full name once; the passage the question retrieves calls the person by one name. The
    completed name cites the passage that writes it in full, which joins the answer's passages."""
    filler = " ".join(f"Rain fell on the harbour of Bergen on day {i}." for i in range(12))
    folder = story_folder(tmp_path, "story", "Solveig Berg ran a puppet theatre in Oslo. " + filler + " Years later "
                          "Solveig took the shadow puppets of the theatre on a tour of Japan.")
    question = "What is the full name of the person who took shadow puppets on a tour of Japan?"
    on = scripted_pipeline(tmp_path / "index", folder, embedder, lambda m: "Solveig", chunk_words=40, context_k=1,
                           answer_checks="names,name_part")
    context = on.prepare(question).context
    assert len(context) == 1 and "Japan" in context[0].chunk.text and "Solveig Berg" not in context[0].chunk.text
    answer = on.ask(question)
    assert not answer.abstained and answer.text.startswith("Solveig Berg")
    assert answer.raw_generation == "Solveig"  # the model's own reply stays on record
    cited = [c.quote for c in answer.citations]
    assert any("Solveig Berg ran a puppet theatre" in q for q in cited)
    assert any("Solveig Berg" in h.chunk.text for h in answer.passages)
    # Listed once, though it is also among the ranked passages below the one shown.
    assert any("Solveig Berg" in h.chunk.text for h in on.prepare(question).hits)
    listed = [(h.chunk.chunk_id, h.chunk.text) for h in answer.passages]
    assert len(listed) == len(set(listed))
    # Without the check the reply stays as the model gave it.
    off = on.variant(on.settings.replace(answer_checks="names"))
    assert off.ask(question).text.startswith("Solveig [")


def test_the_reader_is_asked_who_and_the_name_part_is_cut_in_code(tmp_path, embedder):
    """ask_who: "the last name of the person who ..." reaches the reader as "Who is the person who ...?"; its
    full-name reply is cut to the last name asked for. The question on record stays as the user asked it."""
    folder = story_folder(tmp_path, "story", "Paul Hartley offered the song to the singer Anna Berg in 1968.")
    question = "What is the last name of the person who offered the song to the singer?"
    p = scripted_pipeline(tmp_path / "index", folder, embedder, lambda m: "Paul Hartley",
                          answer_checks="names,name_part")
    answer = p.ask(question)
    assert p.generator.prompts[-1][-1].content.endswith(
        "Question: Who is the person who offered the song to the singer?\nAnswer:")
    assert answer.question == question and answer.text.startswith("Hartley [")
    off = p.variant(p.settings.replace(ask_who=False))
    off.ask(question)
    assert off.generator.prompts[-1][-1].content.endswith(f"Question: {question}\nAnswer:")


def test_a_restated_reply_cut_to_a_name_gets_the_name_part_asked_for(tmp_path, embedder):
    """A who-question's reply is often a sentence that restates it; "concise" cuts it to the name, and the cut
    name is shaped like a bare-name reply: the last name of a last-name question."""
    folder = story_folder(tmp_path, "story", "Paul Hartley offered the song to the singer Anna Berg in 1968.")
    question = "What is the last name of the person who offered the song to the singer?"
    reply = "The person who offered the song to the singer is Paul Hartley."
    p = scripted_pipeline(tmp_path / "index", folder, embedder, lambda m: reply,
                          answer_checks="names,name_part,concise")
    answer = p.ask(question)
    assert answer.text.startswith("Hartley [") and answer.sentences[0].text.startswith("Hartley")
    without = p.variant(p.settings.replace(answer_checks="names,concise"))
    assert without.ask(question).text.startswith("Paul Hartley [")


@pytest.mark.parametrize("question, reply, own", [
    ("What is the full name of the person that Beatrice is sent to romance?", "Beatrice Reiner [1]",
     ["Beatrice Reiner"]),
    ("What's the full name of the person who lives next to the Whittaker family?", "John Whittaker",
     ["John Whittaker"]),
    ("What is the first name of the man who Read refused to credit?", "Charles Read", ["Charles Read"]),
    # Someone else, a sentence, or a person the question names rather than describes: nothing to say.
    ("What is the full name of the person that Beatrice is sent to romance?", "Ronald Kornblow", []),
    ("What is the full name of the person that Beatrice is sent to romance?", "Beatrice goes to Ronald.", []),
    ("What is the last name of John?", "John Smith", []),
    ("Who does Beatrice romance?", "Beatrice Reiner", []),
])
def test_a_reply_naming_only_whom_the_question_names(question, reply, own):
    assert names_only_the_asked_about(question, reply) == own


@pytest.mark.parametrize("passages, own", [
    # The passages' only Edward is Edward Burne-Jones: "Burne-Jones" names the question's own person.
    (["Burges worked at Waltham Abbey with Edward Burne-Jones. Burne-Jones designed the glass."], ["Burne-Jones"]),
    # Two people called Edward: which one the question means is open, so the reply is left to the other checks.
    (["Edward Burne-Jones designed the glass. Edward Poynter painted the ceiling."], []),
    # Another person who merely shares the question's surname is someone else.
    (["Edward Smith drew the plans; his brother Burne-Jones Smith built them."], []),
    ([], []),
])
def test_a_reply_giving_another_part_of_the_question_persons_name(passages, own):
    question = "What is the last name of the person who worked at Waltham Abbey with Edward?"
    assert names_only_the_asked_about(question, "Burne-Jones [1]", passages) == own
    # Asked for with another word for the part ("surname"), the question describes the same person.
    reworded = "What is the surname of the person who worked at Waltham Abbey with Edward?"
    assert names_only_the_asked_about(reworded, "Burne-Jones [1]", passages) == own


def asked_again(tmp_path, embedder, folder, question, wrong, right):
    """Ask with a model that names ``wrong`` until the prompt says "(Not <wrong>.)", then ``right``; assert that
    the other_person check asked once more and kept ``right``. Returns the scripted reply."""

    def reply(messages):
        return right if f"(Not {wrong}.)" in messages[-1].content else wrong

    p = scripted_pipeline(tmp_path / "index", folder, embedder, reply, answer_checks="names,other_person")
    answer = p.ask(question)
    assert not answer.abstained and answer.text.startswith(right)
    assert answer.timings["retry"] == "other_person" and len(p.generator.prompts) == 2
    return reply


def test_a_reply_naming_the_question_persons_surname_is_asked_again(tmp_path, embedder):
    """"Doolittle" for "the man that will pay for Eliza's lessons": the passages' Eliza is Eliza Doolittle, so the
    reply names her, not the man the question describes, and is asked again with "Not Doolittle."."""
    folder = story_folder(tmp_path, "play", "Eliza Doolittle sells flowers in Covent Garden. Colonel Pickering "
                          "bets that Higgins cannot teach her, and offers to pay for Eliza's lessons himself.")
    asked_again(tmp_path, embedder, folder, "What's the last name of the man that will pay for Eliza's lessons?",
                "Doolittle", "Pickering")


def test_the_wrong_person_is_not_shaped():
    """Cut to "Charles", the reply would no longer show that it names the question's own Read."""
    question = "What is the first name of the man who Read refused to credit?"
    assert shape_name_parts(question, "Charles Read", ["Charles Read wrote about Benvenuto Cellini."]) == \
        "Charles Read"


def test_a_reply_naming_the_described_persons_own_company_is_asked_again(tmp_path, embedder):
    folder = story_folder(tmp_path, "film", "Beatrice Reiner is a spy. Her masters send Beatrice to romance the "
                          "detective Ronald Kornblow, who guards the plans. Kornblow falls for her.")
    asked_again(tmp_path, embedder, folder, "What is the full name of the person that Beatrice is sent to romance?",
                "Beatrice Reiner", "Ronald Kornblow")
    # A retry that names her again abstains, with the check's name as the reason.
    stuck = scripted_pipeline(tmp_path / "index", folder, embedder, lambda m: "Beatrice Reiner",
                              answer_checks="names,other_person")
    again = stuck.ask("What is the full name of the person that Beatrice is sent to romance?")
    assert again.abstained and again.abstain_kind == "other_person"


def test_a_restated_reply_naming_only_the_described_persons_company_is_asked_again(tmp_path, embedder):
    """"James" restates the question (every word of it is the question's), so it used to abstain at once; its only
    name is the question's own person, so it is the other_person check's case and is asked again."""
    folder = story_folder(tmp_path, "fire", "The Lord Mayor dithered while London burned. King Charles overrode the "
                          "City authorities and put his brother James in charge of the firefighting.")
    question = "What is the full name of the person who put James in charge of the firefighting?"
    reply = asked_again(tmp_path, embedder, folder, question, "James", "King Charles")
    # Without the check the restated reply abstains as before, with no second prompt.
    off = scripted_pipeline(tmp_path / "index", folder, embedder, reply, answer_checks="names")
    first = off.ask(question)
    assert first.abstained and first.abstain_kind == "restated" and len(off.generator.prompts) == 1
