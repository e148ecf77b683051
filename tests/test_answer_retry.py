"""The pipeline's answer constraints, end to end with a scripted generator over a corpus outside the seeds: a
reply that does not fit the question is retried once on the sentences that do, and abstains when none do."""

import pytest

from rag.errors import SettingsError
from rag.settings import load_settings
from tests.fakes import scripted_pipeline

ORCHESTRA = ("Halden Orchestra review\n\nThe Halden Orchestra was founded in 1952 by the conductor Marta Lind. "
             "A review carried out over the last three years found the finances sound, because ticket sales "
             "doubled. In 2015 critics rated the orchestra excellent.\n")
CHOIR = "Tromso Choir news\n\nThe Tromso Choir was rated poor in 2015 by the national arts council.\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs")
    (folder / "orchestra.txt").write_text(ORCHESTRA)
    (folder / "choir.txt").write_text(CHOIR)
    return folder


def pipeline(tmp_path, corpus, embedder, reply, **settings):
    return scripted_pipeline(tmp_path / "index", corpus, embedder, reply,
                             **{"answer_checks": "type,year,names,title", **settings})


def test_a_reason_given_for_a_period_is_retried_with_a_type_hint(tmp_path, corpus, embedder):
    def reply(messages):
        user = messages[-1].content
        return "Over the last three years." if "(Answer with a length of time.)" in user else "Ticket sales doubled."

    p = pipeline(tmp_path, corpus, embedder, reply)
    events = list(p.ask_stream("Over what period was the Halden Orchestra's review carried out?"))
    answer = events[-1].answer
    assert [e.kind for e in events].count("retry") == 1
    assert not answer.abstained and "three years" in answer.text
    assert answer.timings["retry"] == "type"
    assert answer.to_json()["timings"]["retry"] == "type"  # the JSON of a retried answer (ask --json, API)
    retry_prompt = p.generator.prompts[-1][-1].content
    assert "over the last three years" in retry_prompt and "Tromso" not in retry_prompt


def test_an_answer_about_another_entity_abstains_when_no_passage_names_the_one_asked(tmp_path, corpus, embedder):
    p = pipeline(tmp_path, corpus, embedder, lambda messages: "Poor.")
    answer = p.ask("What rating did the arts council give the Bergen Quartet in 2015?")
    assert answer.abstained and "bergen" in answer.abstain_reason and answer.abstain_kind == "names"
    assert answer.to_json()["abstain_kind"] == "names"


def test_checks_off_keep_the_first_reply(tmp_path, corpus, embedder):
    p = pipeline(tmp_path, corpus, embedder, lambda messages: "Ticket sales doubled.", answer_checks="")
    answer = p.ask("Over what period was the Halden Orchestra's review carried out?")
    assert not answer.abstained and "ticket sales" in answer.text.lower() and len(p.generator.prompts) == 1


def test_a_list_answer_is_completed_from_the_closest_sentences(tmp_path, corpus, embedder):
    def reply(messages):
        listing = "one per line" in messages[0].content
        return "- Marta Lind\n- the national arts council" if listing else "Marta Lind."

    p = pipeline(tmp_path, corpus, embedder, reply, list_answers=True)
    answer = p.ask("Which conductors and councils founded or rated the orchestra and the choir?")
    assert len(p.generator.prompts) == 2 and "one per line" in p.generator.prompts[-1][0].content
    assert "Marta Lind" in answer.text and "national arts council" in answer.text
    assert {c.doc_id for c in answer.citations} == {"orchestra.txt", "choir.txt"}
    # Not a list question: one prompt.
    p.ask("Who founded the orchestra?")
    assert len(p.generator.prompts) == 3


def test_an_answer_cited_far_from_the_question_is_asked_again_and_the_better_grounded_kept(tmp_path, corpus,
                                                                                           embedder):
    """Failure kind: near-fact pick (another sentence of the gold passage)."""
    def reply(messages):  # the first prompt holds both documents; the retry only the close sentences
        return "Founded in 1952 by Marta Lind." if "Tromso" in messages[-1].content else "Over the last three years."

    question = "Over what period did the review find the orchestra's finances sound?"
    p = pipeline(tmp_path, corpus, embedder, reply, answer_checks="focus")
    answer = p.ask(question)
    assert answer.timings.get("retry") == "focus" and "three years" in answer.text
    assert "review carried out over the last three years" in answer.citations[0].quote

    p = pipeline(tmp_path / "b", corpus, embedder, reply, answer_checks="")
    answer = p.ask(question)
    assert answer.timings.get("retry") is None and "1952" in answer.text


def test_a_rewrite_that_invents_a_name_is_replaced(tmp_path, corpus, embedder):
    replies = iter(["Who founded the Bergen Quartet?", "Who founded the Bergen Quartet?", "Marta Lind."])
    p = pipeline(tmp_path, corpus, embedder, lambda messages: next(replies), check_rewrite=True)
    answer = p.ask("Who founded it?", [("When was the Halden Orchestra founded?", "In 1952.")])
    assert answer.standalone_question == "Who founded it? (Halden Orchestra)"
    assert not answer.abstained and "Marta Lind" in answer.text


def test_a_passage_holding_every_name_of_the_question_passes_the_relevance_gate(tmp_path, corpus, embedder):
    """Failure kind: relevance gate too strict on a rare exact term (an acronym the embedder scores low)."""
    question = "What is the Halden Orchestra's conductor called?"
    strict = {"min_retrieval_score": 0.99}  # no passage is similar enough by embedding alone
    gated = pipeline(tmp_path / "a", corpus, embedder, lambda m: "Marta Lind.", **strict, relevance_by_names=False)
    gated_answer = gated.ask(question)
    assert gated_answer.abstained and gated_answer.abstain_kind == "not_relevant" and gated.generator.prompts == []
    named = pipeline(tmp_path / "b", corpus, embedder, lambda m: "Marta Lind.", **strict, relevance_by_names=True)
    assert not named.ask(question).abstained
    # A question whose names no passage holds stays gated.
    assert named.ask("What is the Bergen Quartet's conductor called?").abstained


def test_an_answer_naming_one_item_of_a_cited_list_is_completed(tmp_path, corpus, embedder):
    """Failure kind 2: the question does not read as a list question; the cited sentence shows the list."""
    trio = corpus.parent / "trio"
    trio.mkdir(exist_ok=True)
    (trio / "trio.txt").write_text("Bergen Trio news\n\nThe Bergen Trio was founded by Ada Moe, Per Dahl and "
                                   "Siri Lund in 1971.\n")

    def reply(messages):
        listing = "one per line" in messages[0].content
        return "- Ada Moe\n- Per Dahl\n- Siri Lund" if listing else "Ada Moe."

    p = pipeline(tmp_path, trio, embedder, reply, list_from_evidence=True)
    answer = p.ask("Who founded the Bergen Trio?")
    assert len(p.generator.prompts) == 2 and answer.timings["list_pass"] == 1
    assert all(name in answer.text for name in ("Ada Moe", "Per Dahl", "Siri Lund"))
    # Off: the question's wording alone decides, and this one does not ask for a list.
    p = pipeline(tmp_path / "off", trio, embedder, reply, list_from_evidence=False)
    answer = p.ask("Who founded the Bergen Trio?")
    assert len(p.generator.prompts) == 1 and "Per Dahl" not in answer.text


def test_a_number_counting_something_else_is_not_an_answer(tmp_path, corpus, embedder):
    """Failure kind: an unanswerable "how many" question answered from a related number of the passage."""
    question = "How many concerts did the Halden Orchestra give during its review?"
    p = pipeline(tmp_path, corpus, embedder, lambda messages: "Three [1].", answer_checks="type,count")
    answer = p.ask(question)
    assert answer.abstained and answer.timings["retry"] == "count" and "concerts" in answer.abstain_reason
    assert answer.abstain_kind == "count"
    p = pipeline(tmp_path / "off", corpus, embedder, lambda messages: "Three [1].", answer_checks="type")
    assert not p.ask(question).abstained


def test_an_unsupported_reply_is_asked_again_on_the_closest_sentences(tmp_path, corpus, embedder):
    """Failure kind: answerable wrongly abstained (the first reply paraphrased past the passage)."""
    def reply(messages):  # the first prompt holds both documents; the retry only the close sentences
        if "Tromso" in messages[-1].content:
            return "A famous maestro started it long ago."
        return "Marta Lind founded it in 1952."

    p = pipeline(tmp_path, corpus, embedder, reply, answer_checks="supported")
    answer = p.ask("Who founded the Halden Orchestra?")
    assert not answer.abstained and "Marta Lind" in answer.text
    assert answer.timings["retry"] == "supported" and len(p.generator.prompts) == 2
    # Without the "supported" check the unsupported reply abstains at once.
    off = pipeline(tmp_path / "off", corpus, embedder, reply)
    at_once = off.ask("Who founded the Halden Orchestra?")
    assert at_once.abstained and at_once.abstain_kind == "unsupported" and len(off.generator.prompts) == 1
    # A retry the passages do not support either still abstains.
    never = pipeline(tmp_path / "never", corpus, embedder, lambda m: "A famous maestro started it long ago.",
                     answer_checks="supported")
    answer = never.ask("Who founded the Halden Orchestra?")
    assert answer.abstained and answer.abstain_kind == "unsupported" and len(never.generator.prompts) == 2


def test_the_best_passage_neighbours_join_the_prompt(tmp_path, embedder):
    """The answer to a question about the best passage often sits in the passage before it (a text names someone
    before it refers back to them): with context_neighbours = 1 that passage joins the prompt."""
    folder = tmp_path / "docs"
    folder.mkdir()
    intro = " ".join(f"Filler sentence number {i} about the weather in Bergen." for i in range(12))
    (folder / "story.txt").write_text(
        "Story\n\nSolveig Berg founded the Oslo Puppet Theatre. " + intro + " The theatre she founded toured "
        "Japan in 1977 and won a prize for its shadow puppets.\n")
    (folder / "other.txt").write_text("Other\n\nA bakery in Trondheim sells bread.\n")
    question = "Which country did the puppet theatre tour in 1977?"
    off = pipeline(tmp_path / "a", folder, embedder, lambda m: "Japan.", chunk_words=40, context_k=1)
    on = pipeline(tmp_path / "b", folder, embedder, lambda m: "Japan.", chunk_words=40, context_k=1,
                  context_neighbours=1)
    best = off.prepare(question).context
    assert len(best) == 1 and "Japan" in best[0].chunk.text
    context = on.prepare(question).context
    assert len(context) == 2 and context[0] == best[0]
    assert context[1].chunk.doc_id == "story.txt" and abs(context[1].chunk.ordinal - best[0].chunk.ordinal) == 1
    # The answer cites as usual, and the neighbour is among the passages shown.
    answer = on.ask(question)
    assert not answer.abstained and context[1] in answer.passages
    with pytest.raises(SettingsError, match="context_neighbours"):
        load_settings({"context_neighbours": 3})


def test_worked_examples_come_before_the_question_in_answer_prompts_only(tmp_path, corpus, embedder):
    """answer_examples: the invented lighthouse conversation precedes the real passages in an answer prompt, not in
    the list pass's prompt; and a reply in the examples' decline form abstains."""
    def reply(messages):
        return "- Marta Lind" if "one per line" in messages[0].content else "Marta Lind."

    p = pipeline(tmp_path, corpus, embedder, reply, answer_examples=True, list_answers=True)
    p.ask("Which conductors founded the orchestra?")
    first, listing = p.generator.prompts
    assert [m.role for m in first] == ["system"] + ["user", "assistant"] * 4 + ["user"]
    assert "Carrick Point" in first[1].content and "Carrick Point" not in first[-1].content
    assert "Halden Orchestra" in first[-1].content and first[-1].content.endswith("Answer:")
    assert [m.role for m in listing] == ["system", "user"] and "Carrick Point" not in listing[-1].content
    declined = pipeline(tmp_path / "declines", corpus, embedder, lambda m: "The passages do not mention it.",
                        answer_examples=True)
    assert declined.ask("Who founded the orchestra?").abstained
    off = pipeline(tmp_path / "off", corpus, embedder, reply)
    off.ask("Who founded the orchestra?")
    assert [m.role for m in off.generator.prompts[0]] == ["system", "user"]


def test_a_lower_case_trap_about_another_named_body_abstains_as_its_capitalised_form_does(tmp_path, corpus,
                                                                                          embedder):
    """Failure kind: a question typed without capitals loses its names (rag/casing.py). The names check holds the
    reply to "Tromso Choir" only once the question's capitals are restored."""
    question = "when was the tromso choir founded?"
    checks = {"answer_checks": "names"}
    off = pipeline(tmp_path / "off", corpus, embedder, lambda m: "In 1952.", restore_case=False, **checks)
    assert not off.ask(question).abstained
    on = pipeline(tmp_path / "on", corpus, embedder, lambda m: "In 1952.", **checks)
    answer = on.ask(question)
    assert answer.standalone_question == "When was the Tromso Choir founded?"
    assert answer.abstained and answer.timings["retry"] == "names"  # retried on the choir's sentences: none fits
    typed = on.ask("When was the Tromso Choir founded?")
    assert (typed.abstain_kind, typed.timings["retry"]) == (answer.abstain_kind, "names")


def test_a_lower_case_question_passes_the_relevance_gate_on_its_restored_names(tmp_path, corpus, embedder):
    strict = {"min_retrieval_score": 0.99}  # no passage is similar enough by embedding alone
    question = "who conducted the halden orchestra?"
    off = pipeline(tmp_path / "off", corpus, embedder, lambda m: "Marta Lind.", restore_case=False, **strict)
    assert off.ask(question).abstain_kind == "not_relevant"
    on = pipeline(tmp_path / "on", corpus, embedder, lambda m: "Marta Lind.", **strict)
    answer = on.ask(question)
    assert not answer.abstained and "Marta Lind" in answer.text
    events = list(on.ask_stream(question))
    # "orchestra" is in lower case in one of its three uses mid-sentence, over the quarter a name may have.
    assert events[0].kind == "rewrite" and events[0].text == "Who conducted the Halden orchestra?"


def test_a_restated_reply_is_asked_once_more_with_the_terse_prompt(tmp_path, corpus, embedder):
    """``restated_terse``: a reply that only restates the question abstains without the check; with it, the same
    passages are asked once more with the terse prompt, and its bare answer is checked like any other."""
    from rag.prompts import ANSWER_SYSTEMS

    def reply(messages):
        if messages[0].content.startswith(ANSWER_SYSTEMS["terse"]):
            return "Marta Lind"
        return "The conductor founded the Halden Orchestra."

    question = "Which conductor founded the Halden Orchestra?"
    without = pipeline(tmp_path / "a", corpus, embedder, reply).ask(question)
    assert without.abstained
    p = pipeline(tmp_path / "b", corpus, embedder, reply, answer_checks="type,year,names,title,restated_terse")
    answer = p.ask(question)
    assert not answer.abstained and "Marta Lind" in answer.text and answer.citations
    assert answer.timings["retry"] == "restated"
    assert len(p.generator.prompts) == 2
