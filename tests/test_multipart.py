"""Per-document answering of questions about several things (rag/multipart.py): which questions, which
passages go to each prompt, how the replies are joined."""

from __future__ import annotations

import pytest

from rag.multipart import asked_count, given_items, is_multi_part, join_replies, per_document_passages
from rag.types import Chunk, Hit
from tests.fakes import scripted_pipeline, story_folder


@pytest.mark.parametrize("question", [
    "Which two towns held a festival in 2020?",
    "Which three rivers flooded in two years?",
    "What were the three years in which the hall burned?",  # years as the items asked for
    "Did both companies report a loss?",
    "What did the mayor and the bishop each say about the bridge?",
    "How tall is the north tower compared with the south tower?",
    "How many rooms does the hotel have, and when did it open?",
    "What is the difference between the two contracts?",
    # The count is in the head, the head is plural, or a second question follows: still several things.
    "What are the first names of the two people who founded the mill?",
    "Who were the three officers that arrested the smugglers?",
    "What was each council's rating, and who inspected them?",
    "What is the name of the person who founded both mills, and when did he die?",
])
def test_questions_about_several_things_are_multi_part(question):
    assert is_multi_part(question)


@pytest.mark.parametrize("question", [
    "How many people live in the town?",
    "Who opened the new library and when?",  # one event: one document answers it
    "Which company reported a loss?",
    "What did the twentieth report say?",  # "two" only as a whole word
    "What has the museum spent money on over the last two years?",  # a span of time is one thing
    "Who left the band three months before the tour?",
    "Which singers had never met each other?",  # "each other": one relation
    # A count inside the clause that describes the one person or thing asked for.
    "What is the first name of the person who launched two perfumes and became a spokesmodel?",
    "What is the last name of the composer whose opinions on both music and painting were sharpened in Rome?",
    "What is the name of the state that has three principal geographical zones?",
])
def test_plain_questions_are_not(question):
    assert not is_multi_part(question)


def _hit(chunk_id: int, doc: str) -> Hit:
    chunk = Chunk(chunk_id=chunk_id, doc_id=doc, ordinal=chunk_id, start=0, end=4, text="text")
    return Hit(chunk=chunk, title=doc, score=1.0 / (chunk_id + 1))


def test_passages_are_grouped_by_document_in_rank_order():
    ranked = [_hit(0, "a"), _hit(1, "b"), _hit(2, "a"), _hit(3, "c"), _hit(4, "b"), _hit(5, "d"), _hit(6, "a")]
    groups = per_document_passages(ranked, from_top=4, max_documents=3, per_document=2)
    assert [[h.chunk.chunk_id for h in g] for g in groups] == [[0, 2], [1, 4], [3]]


def test_only_documents_of_the_top_hits_take_part():
    ranked = [_hit(0, "a"), _hit(1, "a"), _hit(2, "b")]
    groups = per_document_passages(ranked, from_top=2, max_documents=3, per_document=5)
    assert [[h.chunk.chunk_id for h in g] for g in groups] == [[0, 1]]


def test_documents_given_are_the_groups_whatever_their_rank():
    ranked = [_hit(0, "a"), _hit(1, "a"), _hit(2, "b"), _hit(3, "c"), _hit(4, "c")]
    groups = per_document_passages(ranked, from_top=2, max_documents=3, per_document=2, documents=("a", "c"))
    assert [[h.chunk.chunk_id for h in g] for g in groups] == [[0, 1], [3, 4]]


def test_replies_joined_without_declines_or_repeats():
    joined = join_replies(["The review examined 272 cases", "The documents do not mention a rating.",
                           "Ofsted rated it good.", "the review examined 272 cases."])
    assert joined == "The review examined 272 cases. Ofsted rated it good."


def test_all_declined_replies_stay_a_decline():
    joined = join_replies(["Not mentioned in the passages.", "The passages do not contain it."])
    assert joined == "Not mentioned in the passages."


def test_pipeline_prompts_see_the_passages_citations_are_checked_against(seed_pipeline):
    """Each prompt's passages are exactly the context the citation check uses: one group for a plain question
    (also when evidence selection shortens it), one per document for a multi-part one."""
    plain = seed_pipeline.prepare("How many cases did Sheffield council examine after the Baby P case?", ())
    assert plain.groups == (plain.context,)
    evidence = type(seed_pipeline)(seed_pipeline.settings.replace(evidence_sentences=2),
                                   embedder=seed_pipeline.embedder, progress=False)
    selected = evidence.prepare("How many cases did Sheffield council examine after the Baby P case?", ())
    assert selected.groups == (selected.context,) and "evidence_s" in selected.timings
    multi = seed_pipeline.prepare("Sheffield appears in two of the reports: how many cases did its post-Baby P "
                                   "review examine, and what rating did Ofsted give it in 2019?", ())
    assert len(multi.groups) >= 2
    assert multi.context == tuple(h for group in multi.groups for h in group)
    for group in multi.groups:
        assert len({h.chunk.doc_id for h in group}) == 1
    assert {"000_3e02e4570786b062.txt", "002_0a90d2f0ffb6067a.txt"} <= {g[0].chunk.doc_id for g in multi.groups}
    assert set(multi.context) <= set(multi.hits)  # every passage the model saw is shown with the answer


class _RecordingGenerator:
    """Wraps the real tiny generator and keeps the system prompt of every call (which wording went out)."""

    def __init__(self, inner):
        self.inner = inner
        self.systems: list[str] = []

    def describe(self):
        return self.inner.describe()

    def generate(self, messages, params):
        self.systems.append(messages[0].content)
        return self.inner.generate(messages, params)

    def stream(self, messages, params):
        self.systems.append(messages[0].content)
        return self.inner.stream(messages, params)


def test_multi_part_prompts_use_their_own_wording(seed_pipeline, smollm2_path):
    """answer_prompt words the single prompt; multi_part_prompt words each per-document prompt (a terse "2" per
    document would lose which thing it answers)."""
    from rag.generation.llama_cpp_backend import LlamaCppGenerator
    from rag.prompts import ANSWER_SYSTEMS

    recorder = _RecordingGenerator(LlamaCppGenerator(smollm2_path, n_ctx=2048))
    pipeline = type(seed_pipeline)(seed_pipeline.settings.replace(answer_prompt="terse", multi_part_prompt="brief",
                                                                  # first-pass wording only: no retries
                                                                  answer_checks="", list_answers=False),
                                   embedder=seed_pipeline.embedder, generator=recorder, progress=False)
    pipeline.ask("How many cases did Sheffield council examine after the Baby P case?")
    assert recorder.systems == [ANSWER_SYSTEMS["terse"]]
    recorder.systems.clear()
    pipeline.ask("Sheffield appears in two of the reports: how many cases did its post-Baby P review examine, and "
                 "what rating did Ofsted give it in 2019?")
    assert len(recorder.systems) >= 2 and set(recorder.systems) == {ANSWER_SYSTEMS["brief"]}


def _scripted_pipeline(tmp_path, folder, embedder, reply, **settings):
    """A pipeline over ``folder`` (40-word chunks) whose reader replies ``reply(messages)``, and that reader."""
    pipeline = scripted_pipeline(tmp_path / "index", folder, embedder, reply, chunk_words=40, **settings)
    return pipeline, pipeline.generator


def test_a_question_about_one_person_gets_one_prompt_and_one_name(tmp_path, embedder):
    """Text outside the seeds: two documents, each naming someone who launched perfumes. A question about the one
    person who launched two of them is asked once, over the ranked passages, and its answer names one person;
    a question about two things is asked once per document."""
    folder = story_folder(tmp_path, "fragrance", "In 2011 Mara Quist launched two perfumes, Ember and Tide, and "
                          "became a spokesmodel for the house that made them.")
    (folder / "rival.txt").write_text("Rival\n\nThe rival brand hired Oskar Lind, who launched one perfume of his "
                                      "own, called Ash, in 2013.\n")
    pipeline, generator = _scripted_pipeline(tmp_path, folder, embedder, lambda m: "Mara Quist.")
    answer = pipeline.ask("What is the full name of the person who launched two perfumes and became a spokesmodel?")
    assert len(generator.prompts) == 1
    assert not answer.abstained and answer.text == "Mara Quist [1]."
    generator.prompts.clear()
    pipeline.ask("Which two perfumes did the spokesmodel launch, and when?")
    assert len(generator.prompts) >= 2  # one prompt per document


def test_names_whose_documents_rank_below_the_prompt_passages_are_asked_one_document_each(tmp_path, embedder):
    """Failure kind 2 on text outside the seeds: the question names two towns, each in its own report, and the
    second town's report ranks below the passages one prompt reads. Each report answers its own part."""
    folder = story_folder(tmp_path, "bergen", " ".join(
        f"Bergen hired ferry crews from agencies in {year}, and the Bergen ferry crews were paid by the hour."
        for year in range(2001, 2009)))
    (folder / "tromso.txt").write_text("Tromso\n\nTromso took on seasonal staff for its harbour.\n")
    pipeline, generator = _scripted_pipeline(tmp_path, folder, embedder, lambda m: "Agency crews.", context_k=1)
    question = "What kind of ferry crews did Bergen and Tromso hire?"
    assert {h.chunk.doc_id for h in pipeline.search(question, 1)} == {"bergen.txt"}
    answer = pipeline.ask(question)
    assert answer.timings["answer_parts"] == 2 == len(generator.prompts)
    assert "Tromso took on" in generator.prompts[1][-1].content
    assert "Tromso took on" not in generator.prompts[0][-1].content


@pytest.mark.parametrize("question, count", [
    ("What are the last names of the two officers who apprehend the man in the garage?", 2),
    ("Which two councils were told their progress was too slow?", 2),
    ("What were the three ships the expedition used?", 3),
    ("Which two councils were inspected, and what did Ofsted find?", None),  # a second question
    ("How did the rating compare with the two earlier ones?", None),  # a comparison
    ("What did both councils say about agency staff?", None),  # "both": one answer from each
    ("What rating did each council get?", None),
    ("Who founded the mill?", None),  # not multi-part
])
def test_the_count_a_question_asks_for(question, count):
    assert asked_count(question) == count


@pytest.mark.parametrize("answer, items", [
    ("McCall and Roper [1].", 2),
    ("Korda [1]. Patel [2]. Neilson [3].", 3),
    ("Haringey in north London [1].", 1),
    ("The Endurance, the Aurora and the Nimrod [1][2].", 3),
    ("G.L.O.W. and Superchrist [1].", 2),
    ("", 0),
])
def test_the_things_an_answer_gives(answer, items):
    assert given_items(answer) == items


def _two_stations(tmp_path, embedder, reply, *, single_first=True):
    folder = story_folder(tmp_path, "garage", "In the parking garage the officers McCall and Roper apprehend the "
                          "man who stole the van, and take him to the station.")
    (folder / "station.txt").write_text("Station\n\nAt the station the officers Korda and Patel question a driver "
                                        "about a stolen van.\n")
    return _scripted_pipeline(tmp_path, folder, embedder, reply, multi_part_single_first=single_first)


QUESTION = "What are the last names of the two officers who apprehend the man in the parking garage?"


def test_a_counted_question_answered_in_full_by_one_prompt_is_not_asked_per_document(tmp_path, embedder):
    """Text outside the seeds: the two officers asked for are in one document. With one prompt first, the reply
    that names both is the answer, and no document is asked on its own."""
    pipeline, generator = _two_stations(tmp_path, embedder, lambda m: "McCall and Roper.")
    answer = pipeline.ask(QUESTION)
    assert not answer.abstained and answer.text.startswith("McCall and Roper")
    assert "answer_parts" not in answer.timings and answer.timings.get("retry") != "multi_part"
    assert "Korda" in generator.prompts[0][-1].content  # the one prompt saw the ranked passages of both


def test_a_counted_question_answered_short_is_asked_per_document(tmp_path, embedder):
    """One name for "the two officers": asked again once per document, as multi-part questions always were, and
    the streamed events say so."""
    pipeline, generator = _two_stations(tmp_path, embedder, lambda m: "McCall.")
    events = list(pipeline.ask_stream(QUESTION))
    retries = [e.text for e in events if e.kind == "retry"]
    assert any("fewer than the 2 things asked" in text for text in retries)
    answer = events[-1].answer
    assert answer.timings["retry"] == "multi_part" and answer.timings["answer_parts"] >= 2
    per_document = generator.prompts[-answer.timings["answer_parts"]:]
    assert not any("Korda" in p[-1].content and "McCall" in p[-1].content for p in per_document)


def test_without_the_setting_a_counted_question_is_asked_per_document_at_once(tmp_path, embedder):
    pipeline, generator = _two_stations(tmp_path, embedder, lambda m: "McCall and Roper.", single_first=False)
    events = list(pipeline.ask_stream(QUESTION))
    assert not [e for e in events if e.kind == "retry"]
    assert len(generator.prompts) == events[-1].answer.timings["answer_parts"] >= 2
