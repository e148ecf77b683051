"""Prompt wording. Worked examples are opt-in (``answer_examples``): on stories they help, on reports and news they
cost answers (docs/decisions.md, "Worked examples before the question")."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from rag.errors import QuestionError, SettingsError
from rag.generation.base import ChatMessage
from rag.types import Hit

log = logging.getLogger(__name__)

NOT_FOUND = "NOT IN DOCUMENTS"
# What an answer says when the documents do not hold it (rag/pipeline.py abstains with it).
ABSTAIN_TEXT = "The documents don't say."

# "brief" (default): the answer in at most one sentence; abstention is decided in code (rag/answer_check.py).
# "terse" (opt-in): the answer alone, not a sentence; better token F1 on short-answer benchmarks, but it lost seed
# answers (docs/decisions.md, "Terse answer prompt"), and multi-part questions keep "brief" for their parts
# (settings.multi_part_prompt), where a bare "2" loses what it answers. "strict": the model is also told to
# decline, which made it decline on answerable questions.
ANSWER_SYSTEMS = {
    "terse": (
        "Answer the question using only the numbered passages. Reply with only the answer itself: the name, "
        "number or short phrase asked for, not a full sentence."
    ),
    "brief": (
        "Answer the question using only the numbered passages. Reply with a short, direct answer: the name, "
        "number or phrase asked for, in at most one sentence."
    ),
    # For questions that ask for several things (rag/question.py, wants_list): one item a line, so that the
    # citation check judges (and cites) each item on its own.
    "list": (
        "Answer the question using only the numbered passages. The question asks for several things: give "
        "every one that the passages name, one per line, each as a short phrase."
    ),
    "strict": (
        "You answer questions using only the numbered passages you are given. "
        "Reply with a short, direct answer of one or two sentences, stating the facts from the passages. "
        f"If the passages do not contain the answer, reply exactly: {NOT_FOUND}"
    ),
}

REWRITE_SYSTEM = (
    "You rewrite a follow-up question from a conversation into one standalone question that can be "
    "understood without the conversation. Replace pronouns and vague references with the names they refer "
    "to. Reply with the rewritten question only."
)

# Phrases with which models decline; any of them in the reply means the passages did not hold the answer.
DECLINE_MARKERS = (
    NOT_FOUND.lower(), "not in the documents", "not in the passages", "do not contain", "does not contain",
    "don't contain", "doesn't contain", "do not mention", "does not mention", "not mentioned",
    "no information", "not provided", "cannot answer", "can't answer", "cannot be determined",
    "i don't know", "i do not know", "not specified", "not stated", "no mention",
)


def _clip(text: str, limit: int | None) -> str:
    return text if limit is None or len(text) <= limit else text[:limit] + " [...]"


# Worked examples (``answer_examples``), one conversation on invented passages before the real one. Each turn
# shows one skill the reader lacks on its own: the one fact asked for among similar ones (a duration beside years
# and counts), a person described by what they did and named elsewhere, every item when items sit in two
# passages, and a decline when the passages hold a near fact only. Their subject (a lighthouse) is far from the
# seeds' and Quoref's, and their names are rare, so that nothing of them fits a real answer (with "Mary Alder"
# the reader once answered a story's other Mary with it). The first answer is a full sentence in the passage's
# words. The decline uses a phrase of DECLINE_MARKERS, so a reply in its form abstains.
EXAMPLE_PASSAGES = (
    ("Carrick Point lighthouse", "The lighthouse at Carrick Point was built in 1871 and rebuilt in 1903 after a "
     "storm. Its first keeper, Tobias Wrenfield, kept the lamp lit for 32 years and rescued eleven sailors."),
    ("Carrick Point lighthouse", "When he retired, his daughter took over the lamp. Ingrid Wrenfield said the "
     "hardest winter was 1947, when the keeper's cottage was cut off for nine weeks and the supply boat came twice."),
)
EXAMPLE_TURNS = (
    ("How long was the keeper's cottage cut off in the hardest winter?",
     "The keeper's cottage was cut off for nine weeks."),
    ("What is the first name of the person who took over the lamp from the first keeper?", "Ingrid."),
    ("Who kept the lamp at Carrick Point?", "Tobias Wrenfield and his daughter, Ingrid Wrenfield."),
    ("How much did the 1903 rebuilding cost?", "The passages do not mention it."),
)
# Styles whose replies have the examples' form (a short answer); "list" replies one item a line, and "strict"
# declines with NOT_FOUND.
EXAMPLE_STYLES = frozenset({"brief", "terse"})


def _passage_blocks(passages: Sequence[tuple[str, str]]) -> str:
    return "Passages:\n\n" + "\n\n".join(f"[{n}] {title}\n{text}" for n, (title, text) in enumerate(passages, 1))


def example_messages() -> list[ChatMessage]:
    """The worked examples as user and assistant turns: the passages with the first question, then one question
    a turn."""
    messages = []
    for n, (question, answer) in enumerate(EXAMPLE_TURNS):
        asked = f"Question: {question}\nAnswer:"
        if n == 0:
            asked = _passage_blocks(EXAMPLE_PASSAGES) + "\n\n" + asked
        messages += [ChatMessage("user", asked), ChatMessage("assistant", answer)]
    return messages


def answer_messages(question: str, passages: Sequence[Hit], style: str = "brief",
                    max_passage_chars: int | None = None, *, examples: bool = False,
                    shown: Callable[[Hit], str] | None = None) -> list[ChatMessage]:
    """``max_passage_chars`` clips a passage for the model only (a pasted blob with no spaces makes one huge
    'word' chunk that would overflow the context window); citations are still checked against the full text.
    ``examples``: the worked examples go first (for the styles in EXAMPLE_STYLES). ``shown``: a passage's text as
    the model sees it (rag/coreference.py adds whom pronouns stand for); its own text otherwise."""
    if style not in ANSWER_SYSTEMS:
        raise SettingsError(f"unknown answer prompt {style!r}; choose one of {', '.join(ANSWER_SYSTEMS)}")
    blocks = [(hit.title, _clip(shown(hit) if shown is not None else hit.chunk.text, max_passage_chars))
              for hit in passages]
    user = _passage_blocks(blocks) + f"\n\nQuestion: {question}\nAnswer:"
    worked = example_messages() if examples and style in EXAMPLE_STYLES else []
    return [ChatMessage("system", ANSWER_SYSTEMS[style]), *worked, ChatMessage("user", user)]


def fitted_answer_messages(question: str, passages: Sequence[Hit], style: str, max_passage_chars: int,
                           count_tokens: Callable[[str], int] | None, *, budget: int, n_ctx: int,
                           examples: bool = False, shown: Callable[[Hit], str] | None = None) -> list[ChatMessage]:
    """The answer prompt within ``budget`` tokens when ``count_tokens`` can count them: passages are clipped (for
    the model only) until prompt + answer fit, because token-dense text such as a pasted blob can take one token
    per character or two. QuestionError when even clipped passages leave no room."""
    limit = max_passage_chars
    messages = answer_messages(question, passages, style, limit, examples=examples, shown=shown)
    if count_tokens is None:
        return messages
    while True:
        used = sum(count_tokens(m.content) for m in messages)
        if used <= budget:
            return messages
        if limit <= 100:
            raise QuestionError(f"the question does not fit the model's context window ({used} prompt tokens, "
                                f"{budget} available with n_ctx {n_ctx}); ask something shorter")
        limit //= 2
        log.info("prompt is %d tokens, over %d: clipping passages to %d characters", used, budget, limit)
        messages = answer_messages(question, passages, style, limit, examples=examples, shown=shown)


# Added when a first rewrite brought in a name the conversation never mentioned (rag/followup.py).
REWRITE_STRICT = " Use only names, places, years and numbers that appear in the conversation."


def rewrite_messages(question: str, history: Sequence[tuple[str, str]], *, strict: bool = False) -> list[ChatMessage]:
    turns = "\n".join(f"User: {q}\nAssistant: {a}" for q, a in history[-3:])
    user = f"Conversation:\n{turns}\n\nFollow-up question: {question}\nStandalone question:"
    return [ChatMessage("system", REWRITE_SYSTEM + (REWRITE_STRICT if strict else "")), ChatMessage("user", user)]


_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")


def list_lines(reply: str) -> str:
    """A list reply as one item a line, bullets and numbering removed, each line ending as a sentence."""
    lines = [_BULLET.sub("", line).strip() for line in reply.splitlines()]
    return "\n".join(line if line.endswith((".", "!", "?")) else line + "." for line in lines if line)


def is_decline(text: str) -> bool:
    lowered = " ".join(text.lower().split())
    return not lowered or any(marker in lowered for marker in DECLINE_MARKERS)
