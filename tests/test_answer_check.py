"""Abstention decided in code after generation (rag/answer_check.py), on real seed passages."""

from rag.answer_check import AnswerCheck
from rag.citations import CitationChecker
from rag.types import Citation
from tests.test_citations import passage_from_seed

SHEFFIELD = "000_3e02e4570786b062.txt"


def judge(seed_pipeline, embedder, question, raw, doc=SHEFFIELD, needle="272"):
    hit = passage_from_seed(seed_pipeline, doc, needle)
    text, _, citations, _ = CitationChecker(embedder).attach(raw, [hit], question)
    return AnswerCheck().judge(question, raw, text, citations, [hit.chunk.text])


def citing(source: str) -> Citation:
    """A citation of the whole of ``source``, for checks judged on text outside the seeds."""
    return Citation(n=1, doc_id="d", title="t", start=0, end=len(source), quote=source, passage_n=1, support=0.9)


def test_supported_answers_pass(seed_pipeline, embedder):
    assert judge(seed_pipeline, embedder, "How many cases did Sheffield examine after Baby P?", "272").answers
    assert judge(seed_pipeline, embedder, "Who is the cabinet member for children's services in Sheffield?",
                 "Coun Andrew Sangar", needle="Sangar").answers


def test_decline_and_unsupported_replies_abstain(seed_pipeline, embedder):
    v = judge(seed_pipeline, embedder, "How many cases did Sheffield examine?", "Not mentioned in the passages.")
    assert not v.answers and "no answer" in v.reason and v.kind == "declined"
    v = judge(seed_pipeline, embedder, "How many cases did Sheffield examine?", "Sheffield examined 300 cases.")
    assert not v.answers and "supported by the passages" in v.reason and v.kind == "unsupported"


def test_restating_the_question_is_not_an_answer(seed_pipeline, embedder):
    v = judge(seed_pipeline, embedder, "Which cases did Sheffield's review examine?",
              "Sheffield's review examined cases.")
    assert not v.answers and "restates" in v.reason and v.kind == "restated"


def test_name_and_number_questions_need_a_name_and_a_number(seed_pipeline, embedder):
    v = judge(seed_pipeline, embedder, "What is the name of the council that examined 272 cases?",
              "The council looked at all 272 cases closely.")
    assert not v.answers and "name" in v.reason
    v = judge(seed_pipeline, embedder, "How many social workers did the council examine cases with?",
              "The council examined the cases on its books.")
    assert not v.answers and "number" in v.reason


def test_a_section_label_is_not_a_quantity():
    source = "6.7 Jackie Drayton thanked the foster carers.\n6.8 Members asked about education."
    cite = Citation(n=1, doc_id="d", title="t", start=0, end=10, quote=source.splitlines()[0], passage_n=1,
                    support=0.9)
    check = AnswerCheck()
    v = check.judge("How many children in care go on to higher education?", "6.7", "6.7 [1]", [cite], [source])
    assert not v.answers and "section label" in v.reason
    v = check.judge("How many foster carers were thanked?", "67", "67 [1]", [cite], ["67 foster carers were thanked"])
    assert v.answers


def test_a_dotted_acronym_is_a_name():
    """"M.I.A." answers "what is the name of ..." (a Quoref reply the name test once refused)."""
    source = "The single was recorded by the rapper M.I.A. in London."
    cite = citing(source)
    v = AnswerCheck().judge("What is the name of the rapper who recorded the single?", "M.I.A.", "M.I.A. [1]",
                            [cite], [source])
    assert v.answers, v.reason


def test_names_outside_ascii_and_with_digits_are_names():
    """A name question answered "Åkerfeldt", "Dürer" or "U2" gives a name (the ASCII-only pattern refused them,
    on Quoref); a reply of common words still gives none."""
    check = AnswerCheck()
    for name in ("Åkerfeldt", "Dürer", "Þorgerður", "U2", "Léon Marchand"):
        source = f"The album was produced by {name} in Stockholm."
        cite = citing(source)
        v = check.judge("What is the name of the producer of the album?", name, f"{name} [1]", [cite], [source])
        assert v.answers, (name, v.reason)
    source = "The album was produced by the band's guitarist in Stockholm."
    cite = citing(source)
    v = check.judge("What is the name of the producer of the album?", "the band's guitarist",
                    "the band's guitarist [1]", [cite], [source])
    assert not v.answers and v.kind == "no_name"


def test_a_choice_from_the_question_own_list_is_an_answer():
    """Failure kind: wrongly abstained. "Which one of A, B and C ...?" answered "B" holds no word the question
    lacks, yet it answers, when the cited sentence names B and no other choice; naming every choice, or none, or
    citing a sentence that lists every choice, still restates."""
    source = "The Halden Orchestra toured Norway in 1998."
    cite = citing(source)
    check = AnswerCheck()
    choices = {"Which one of the Halden Orchestra, the Bergen Band and the Tromso Choir toured Norway?":
               "Halden Orchestra. Bergen Band. Tromso Choir.",
               "Did the Halden Orchestra or the Tromso Choir tour Norway?": "Halden Orchestra. Tromso Choir."}
    for question, every_choice in choices.items():
        assert check.judge(question, "The Halden Orchestra", "The Halden Orchestra [1]", [cite], [source]).answers
        v = check.judge(question, every_choice, every_choice, [cite], [source])
        assert not v.answers and "restates" in v.reason
    restated = "The orchestra toured Norway."
    v = check.judge("Which orchestra toured Norway?", restated, restated, [cite], [source])
    assert not v.answers and "restates" in v.reason


def test_a_choice_cited_from_a_sentence_listing_every_choice_restates():
    """A sentence naming all the choices supports any pick: it cannot tell which one the question asks for."""
    listing = "Inspectors visited the Halden Orchestra, the Bergen Band and the Tromso Choir last spring."
    telling = "Only the Bergen Band was found to have lost its scores."
    question = "Which one of the Halden Orchestra, the Bergen Band and the Tromso Choir lost its scores?"
    check = AnswerCheck()
    for source, answers in ((listing, False), (telling, True)):
        cite = citing(source)
        v = check.judge(question, "The Bergen Band", "The Bergen Band [1]", [cite], [source])
        assert v.answers is answers, v.reason


def test_the_items_a_sentence_coordinates():
    """Failure kind 2 (incomplete lists): the evidence, not the question's wording, shows a list."""
    from rag.answer_check import coordinated_items

    items = coordinated_items("At the gala the mayor thanked all stagehands, ticket sellers and visiting players, "
                              "and closed the season.")
    first, *rest = items[0]  # the first item is read with the words before it ("thanked all stagehands")
    assert "stagehand" in first and rest == [{"ticket", "seller"}, {"visit", "player"}]
    [[hired, engineers]] = coordinated_items("The firm hired a chemist and two engineers.")
    assert "chemist" in hired and engineers == {"2", "engineer"}
    # Commas joining clauses (a long middle part) cut the run; a run of commas with no "and" is no list.
    runs = coordinated_items("Sales rose, which the board had long predicted in its yearly plans, and costs fell.")
    assert runs and not any("sale" in item for items in runs for item in items)
    assert coordinated_items("Oslo, the capital, is large.") == []
    # A list does not run across brackets or quotes.
    assert coordinated_items('The choir (founded by Lind) "sang well" today.') == []
    # A short aside in brackets is read past: it stands inside the list, it does not end it.
    [[lind, berg, holm]] = coordinated_items("Present were Marta Lind (conductor, founder), Olav Berg (leader) and "
                                             "Kari Holm (treasurer).")
    assert "lind" in lind and berg == {"olav", "berg"} and holm == {"kari", "holm"}
    # ", as were" and ", as well as" join the clause before to a list as "and" does.
    first, *rest = coordinated_items("The conductor was dismissed, as were a violinist and two stagehands.")[0]
    assert "dismiss" in first and rest == [{"violinist"}]
    [[staff, drivers]] = coordinated_items("The depot hired new mechanics, as well as extra night drivers.")
    assert "mechanic" in staff and drivers == {"extra", "night", "driver"}


def test_one_item_of_a_cited_list_asks_for_the_rest():
    from rag.answer_check import one_of_several

    quote = "The Halden Orchestra was led by Marta Lind, Olav Berg and Kari Holm until 1990."
    assert one_of_several("Who led the Halden Orchestra?", "Marta Lind [1]", [quote])
    assert not one_of_several("Who led the Halden Orchestra?", "Marta Lind, Olav Berg and Kari Holm [1]", [quote])
    # The question names the others: the one left is the answer, not a part of it.
    assert not one_of_several("Besides Marta Lind and Olav Berg, who led the orchestra?", "Kari Holm", [quote])
    # No list in the cited sentence.
    assert not one_of_several("Who founded it?", "Marta Lind", ["Marta Lind founded the orchestra in 1952."])
    # The clause before ", as were ..." is the first item: a reply that gives only it leaves the rest out.
    quote = "The conductor was dismissed, as were a violinist and two stagehands."
    assert one_of_several("Who was dismissed?", "The conductor was dismissed [1].", [quote])
    assert not one_of_several("Who was dismissed?", "The conductor, a violinist and two stagehands [1].", [quote])
