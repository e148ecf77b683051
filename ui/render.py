"""HTML for answers, citations and the sources panel. Pure functions of pipeline data; no retrieval logic.

Every piece of document or model text goes through ``esc`` first: the HTML special characters and every Markdown
(and KaTeX) control character become character references, so a document holding ``<script>``,
``**bold**``, ``[link](javascript:...)`` or ``$$x$$`` shows those characters literally in the chat (which
renders Markdown and then sanitises HTML) and in ``gr.HTML`` (which does not sanitise at all). The only markup
in the output is the markup built here.

Citations: each marker ``[n]`` in an answer becomes a link ``<a class="rag-cite" href="#rag-tT-cN"
title="title — “quote”">`` (hover shows the source without any script) that points at a
``<details id="rag-tT-cN">`` block under the answer holding the document title, the passage and the quoted
span in ``<mark>``. Clicking the ``<summary>`` opens it natively; the page script in ``ui/app.py`` also opens
it when the marker itself is clicked. Gradio's chat sanitiser keeps ids, classes, ``href``, ``title``,
``details``/``summary``/``mark``; it drops ``data-*`` attributes, so none are used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.types import Answer, Citation, Hit

_MARKER = re.compile(r"\[(\d+)\]")
# One pass: HTML's special characters, then every character Markdown, GFM autolinks or KaTeX could act on,
# as a numeric character reference (which Markdown shows literally and HTML decodes).
_MD_CHARS = "\\`*_{}[]()#+-!|~$:@=^"
_TABLE = {ord(c): f"&#{ord(c)};" for c in _MD_CHARS} | {
    ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;", ord("'"): "&#39;"}


def esc(text: str) -> str:
    """Text that renders literally in Markdown and HTML alike; newlines become ``<br>``."""
    escaped = text.translate(_TABLE)
    # No blank lines: the whole message stays one raw HTML block that Markdown leaves alone.
    return re.sub(r"\r\n|\r|\n", "<br>", escaped)


def esc_attr(text: str) -> str:
    """For attribute values (title tooltips): escaped, on one line."""
    return " ".join(text.split()).translate(_TABLE)


def cite_anchor(turn: int, n: int) -> str:
    return f"rag-t{turn}-c{n}"


def passage_for(citation: Citation, passages: Sequence[Hit]) -> Hit | None:
    """The retrieved passage that holds a citation's span (the one the checker used when it is shown)."""
    candidates = list(passages)
    if 1 <= citation.passage_n <= len(candidates):
        candidates.insert(0, candidates[citation.passage_n - 1])
    for hit in candidates:
        c = hit.chunk
        if c.doc_id == citation.doc_id and c.start <= citation.start and citation.end <= c.end:
            return hit
    return None


def highlighted_passage(hit: Hit, spans: Sequence[tuple[int, int]]) -> str:
    """The passage text, escaped, with each (start, end) document span inside it wrapped in ``<mark>``."""
    chunk = hit.chunk
    local = sorted({(max(s, chunk.start) - chunk.start, min(e, chunk.end) - chunk.start)
                    for s, e in spans if s < chunk.end and e > chunk.start})
    out, pos = [], 0
    for start, end in local:
        if start < pos:  # overlapping spans: extend the previous mark
            start = pos
        if end <= start:
            continue
        out.append(esc(chunk.text[pos:start]))
        out.append(f"<mark>{esc(chunk.text[start:end])}</mark>")
        pos = end
    out.append(esc(chunk.text[pos:]))
    return "".join(out)


def _citation_block(turn: int, c: Citation, passages: Sequence[Hit]) -> str:
    hit = passage_for(c, passages)
    body = highlighted_passage(hit, [(c.start, c.end)]) if hit else f"<mark>{esc(c.quote)}</mark>"
    return (f'<details class="rag-source" id="{cite_anchor(turn, c.n)}">'
            f'<summary><b>[{c.n}]</b> {esc(c.title)} <span class="rag-doc">{esc(c.doc_id)}</span></summary>'
            f'<div class="rag-passage">{body}</div></details>')


def _marker_link(turn: int, n: int, by_n: dict[int, Citation]) -> str:
    c = by_n.get(n)
    if c is None:  # a marker with no citation behind it is shown as plain text
        return esc(f"[{n}]")
    tip = esc_attr(f"{c.title} — “{c.quote}”")
    return f'<a class="rag-cite" href="#{cite_anchor(turn, n)}" title="{tip}">&#91;{n}&#93;</a>'


def answer_text_html(answer: Answer, turn: int) -> str:
    by_n = {c.n: c for c in answer.citations}
    parts, pos = [], 0
    for m in _MARKER.finditer(answer.text):
        parts.append(esc(answer.text[pos : m.start()]))
        parts.append(_marker_link(turn, int(m.group(1)), by_n))
        pos = m.end()
    parts.append(esc(answer.text[pos:]))
    return "".join(parts)


def timings_html(timings: dict[str, float]) -> str:
    labels = [("rewrite_s", "rewrite"), ("retrieve_s", "retrieve"), ("first_token_s", "first token"),
              ("generate_s", "generate"), ("cite_s", "cite"), ("total_s", "total")]
    shown = [f"{label} {timings[key]:.2f} s" for key, label in labels if key in timings]
    return f'<div class="rag-timings">{esc(" · ".join(shown))}</div>' if shown else ""


def rewrite_html(standalone: str) -> str:
    return f'<div class="rag-rewrite">Read as: <i>{esc(standalone)}</i></div>'


def draft_html(text: str, standalone: str | None = None, evidence: Sequence[Hit] = ()) -> str:
    """The message while an answer is being written: the best evidence sentences first (marked as evidence,
    replaced by the checked answer), then the draft."""
    head = rewrite_html(standalone) if standalone else ""
    if evidence:
        quotes = "".join(f'<blockquote class="rag-evidence-quote">{esc(" ".join(h.chunk.text.split()))} '
                         f'<span class="rag-evidence-source">— {esc(h.title)}</span></blockquote>' for h in evidence)
        head += f'<div class="rag-evidence"><b>Evidence</b> (the checked answer follows){quotes}</div>'
    return f'{head}<div class="rag-draft">{esc(text) or "…"}</div>'


def answer_html(answer: Answer, turn: int, *, show_rewrite: bool = False, show_timings: bool = False) -> str:
    """The chat message for a finished answer: text with clickable markers, then one block per citation."""
    head = rewrite_html(answer.standalone_question) if show_rewrite and answer.standalone_question else ""
    tail = timings_html(answer.timings) if show_timings else ""
    if answer.abstained:
        reason = f'<div class="rag-reason">{esc(answer.abstain_reason or "")}</div>' if answer.abstain_reason else ""
        return f'{head}<div class="rag-abstain"><b>{esc(answer.text)}</b>{reason}</div>{tail}'
    blocks = "".join(_citation_block(turn, c, answer.passages) for c in answer.citations)
    return f'{head}<div class="rag-answer">{answer_text_html(answer, turn)}</div>{blocks}{tail}'


def error_html(message: str) -> str:
    return f'<div class="rag-error"><b>Error:</b> {esc(message)}</div>'


def sources_html(answer: Answer | None, passages: Sequence[Hit] = ()) -> str:
    """The sources panel: every retrieved passage with its scores, whether it was cited, and the cited spans."""
    if answer is None and not passages:
        return '<div class="rag-sources-empty">Sources of the latest answer appear here.</div>'
    passages = answer.passages if answer is not None else passages
    status = ""
    if answer is not None and answer.abstained:
        status = (f'<div class="rag-abstain">Abstained: {esc(answer.abstain_reason or "no supported answer")}'
                  "</div>")
    elif answer is None:
        status = '<div class="rag-status">Answering…</div>'
    cards = []
    for i, hit in enumerate(passages, start=1):
        cited = [c for c in (answer.citations if answer else ()) if passage_for(c, passages) is hit]
        badge = (f'<span class="rag-badge rag-cited">cited {esc(" ".join(f"[{c.n}]" for c in cited))}</span>'
                 if cited else '<span class="rag-badge">not cited</span>')
        scores = f"score {hit.score:.4f}"
        if hit.dense_score is not None:
            scores += f" · dense {hit.dense_score:.3f}"
        if hit.bm25_score is not None:
            scores += f" · bm25 {hit.bm25_score:.2f}"
        body = highlighted_passage(hit, [(c.start, c.end) for c in cited])
        css = "rag-card rag-card-cited" if cited else "rag-card"
        cards.append(f'<div class="{css}" id="rag-passage-{i}"><div class="rag-card-head"><b>{i}.</b> '
                     f'{esc(hit.title)} <span class="rag-doc">{esc(hit.chunk.doc_id)}</span> {badge}</div>'
                     f'<div class="rag-scores">{esc(scores)}</div><div class="rag-passage">{body}</div></div>')
    if not cards:
        cards.append('<div class="rag-sources-empty">No passages were retrieved.</div>')
    return f'<div class="rag-sources">{status}{"".join(cards)}</div>'
