"""The browser chat page (Gradio), served with the HTTP API by ``ui/server.py``. A thin front end over
``RagPipeline``.

What lives where: retrieval, generation, citation checking and abstention are the pipeline's
(``rag/pipeline.py``); validating and storing uploads is ``rag/uploads.py``; turning answers into escaped HTML
is ``ui/render.py``. This module only wires components to those.

Sessions and concurrency:

* One ``RagPipeline`` is built when the app starts and shared by every visitor; its embedder, index and
  generator load lazily, once. Changing the page settings (passages, backend, model) gets a pipeline that
  shares the same embedder and, where the generator settings match, the same generator
  (``PipelinePool``).
* Each browser tab has its own chat: the chat history lives in the Chatbot's per-session value and the
  conversation turns used for rewriting follow-ups in a ``gr.State``. Nothing chat-related is global.
* Every event that runs a model (answering, indexing an upload, removing a document) is queued under one
  concurrency id, ``"models"``, with a limit of 1: llama.cpp models are not thread-safe, and on a small CPU
  two generations at once would only be slower. Other visitors' requests wait in Gradio's queue (the page
  shows their place in it); listing documents does not wait.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from rag.errors import IndexError_, RagError, user_message  # noqa: E402
from rag.pipeline import RagPipeline  # noqa: E402
from rag.settings import GENERATOR_CHOICES, Settings, SettingsError  # noqa: E402
from rag.types import Answer, Hit  # noqa: E402
from rag.uploads import UPLOAD_EXTENSIONS, add_upload, remove_document  # noqa: E402
from ui.render import answer_html, draft_html, error_html, esc, sources_html  # noqa: E402

log = logging.getLogger(__name__)

EXAMPLES = (
    "How many cases did Sheffield council examine after the Baby P case?",
    "Who was sacked in Haringey after the Baby P case?",
    "Which councils did Ofsted find serious failings at in surprise inspections?",
    "Who is the interim director of children's services in Sefton?",
)
MODEL_HELP = ("llama_cpp: a GGUF file (blank: the bundled Qwen2.5-Coder-1.5B) · openai: the model name at the "
              "endpoint · transformers: a local model folder")
# Problems a visitor can cause or fix (RagError) are shown in the page as one clear line; anything else is a bug:
# its traceback goes to the log and the page says so.
INTERNAL_ERROR = "Something went wrong inside the tool (not your input); the server log has the details."
MODELS = "models"  # the one queue every model-running event shares (concurrency limit 1)

CSS = """
.rag-answer { line-height: 1.6; }
a.rag-cite { font-weight: 600; text-decoration: none; padding: 0 2px; border-radius: 4px;
             background: var(--color-accent-soft); cursor: pointer; }
details.rag-source { margin: 6px 0; padding: 4px 8px; border: 1px solid var(--border-color-primary);
                     border-radius: 6px; }
details.rag-source summary { cursor: pointer; }
details.rag-flash { outline: 2px solid var(--color-accent); }
.rag-passage { white-space: normal; font-size: 0.92em; margin-top: 4px; }
.rag-passage mark { background: #fde68a; color: #111; padding: 0 1px; }
.rag-doc { font-family: var(--font-mono); font-size: 0.85em; opacity: 0.75; }
.rag-abstain { padding: 6px 10px; border-left: 4px solid #d97706; background: rgba(217, 119, 6, 0.1); }
.rag-reason, .rag-timings, .rag-rewrite, .rag-scores { font-size: 0.85em; opacity: 0.8; }
.rag-error { color: #b91c1c; }
.rag-draft { opacity: 0.85; font-style: italic; }
.rag-evidence { border-left: 3px solid #9ca3af; padding: 2px 8px; margin-bottom: 6px; font-size: 0.93em; }
.rag-evidence-quote { margin: 4px 0; }
.rag-evidence-source { opacity: 0.7; font-size: 0.9em; }
.rag-card { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 6px 8px; margin-bottom: 8px; }
.rag-card-cited { border-color: #d97706; }
.rag-badge { font-size: 0.8em; padding: 0 6px; border-radius: 8px; background: var(--background-fill-secondary); }
.rag-cited { background: #fde68a; color: #111; }
#rag-sources { max-height: 640px; overflow-y: auto; }
"""

# Clicking a citation marker opens (and scrolls to) its source block under the answer. Without this script the
# marker still shows its source on hover (title attribute) and the block opens from its own summary.
JS = """
() => {
  document.addEventListener("click", (event) => {
    const link = event.target.closest ? event.target.closest("a.rag-cite") : null;
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const block = document.getElementById((link.getAttribute("href") || "").slice(1));
    if (!block) return;
    block.open = true;
    block.classList.add("rag-flash");
    setTimeout(() => block.classList.remove("rag-flash"), 1500);
    block.scrollIntoView({block: "nearest"});
  }, true);
}
"""


class PipelinePool:
    """The shared pipeline, plus variants for page settings that differ from it (sharing its components)."""

    def __init__(self, pipeline: RagPipeline, *, max_variants: int = 4):
        self.base = pipeline
        self._lock = threading.Lock()
        self._variants: OrderedDict[Settings, RagPipeline] = OrderedDict()
        self._max_variants = max_variants

    def settings_for(self, top_k: int | None, generator: str | None, model: str | None) -> Settings:
        base = self.base.settings
        changes: dict[str, Any] = {"top_k": int(top_k) if top_k else None, "generator": generator or None}
        model = (model or "").strip()
        backend = generator or base.generator
        if backend not in GENERATOR_CHOICES:
            raise SettingsError(f"generator must be one of {', '.join(GENERATOR_CHOICES)}, not {backend!r}")
        if model:
            field = {"llama_cpp": "gguf_path", "openai": "openai_model", "transformers": "hf_model_dir"}[backend]
            changes[field] = Path(model).expanduser() if field != "openai_model" else model
        return base.replace(**changes)

    def get(self, top_k: int | None = None, generator: str | None = None, model: str | None = None) -> RagPipeline:
        wanted = self.settings_for(top_k, generator, model)
        if wanted == self.base.settings:
            return self.base
        with self._lock:
            pipeline = self._variants.get(wanted)
            if pipeline is None:
                pipeline = self.base.variant(wanted, progress=False)
                self._variants[wanted] = pipeline
                while len(self._variants) > self._max_variants:
                    self._variants.popitem(last=False)
            self._variants.move_to_end(wanted)
            return pipeline


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``user:password`` -> (user, password); the password may itself contain colons."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise SettingsError("--auth needs USER:PASSWORD, both non-empty")
    return user, password


def _documents_table(pool: PipelinePool) -> list[list[Any]]:
    try:
        docs = pool.base.index.documents
    except IndexError_ as exc:
        log.warning("cannot list documents: %s", exc)
        return []
    return [[d.doc_id, d.title, d.chunk_count] for d in sorted(docs.values(), key=lambda d: d.doc_id)]


class Handlers:
    """What the page's events do, over one pool of pipelines (one index and one set of models in memory)."""

    def __init__(self, pool: PipelinePool):
        self.pool = pool
        self.max_bytes = int(pool.base.settings.upload_max_mb * 1_000_000)

    def respond(self, message: str, chat: list[dict[str, Any]], turns: list[tuple[str, str]], top_k: int,
                backend: str, model: str, show_rewrite: bool, show_timings: bool,
                documents: list[str] | None = None) -> Iterator[tuple[Any, ...]]:
        message = (message or "").strip()
        if not message:
            yield chat, gr.skip(), "", turns
            return
        turn = len(turns)
        chat = [*(chat or []), {"role": "user", "content": esc(message)}]
        yield [*chat, {"role": "assistant", "content": draft_html("")}], sources_html(None), "", turns
        answer: Answer | None = None
        standalone: str | None = None
        evidence: tuple[Hit, ...] = ()
        parts: list[str] = []
        try:
            active = self.pool.get(top_k, backend, model)
            for event in active.ask_stream(message, list(turns), documents=tuple(documents or ())):
                if event.kind == "rewrite":
                    standalone = event.text
                elif event.kind == "passages":
                    yield ([*chat, {"role": "assistant", "content": draft_html("", standalone if show_rewrite
                                                                              else None)}],
                           sources_html(None, event.passages), "", turns)
                elif event.kind == "evidence":
                    evidence = event.passages
                    draft = draft_html("", standalone if show_rewrite else None, evidence)
                    yield [*chat, {"role": "assistant", "content": draft}], gr.skip(), "", turns
                elif event.kind == "retry":
                    parts = []  # the draft did not fit the question; a new one follows
                elif event.kind == "token":
                    parts.append(event.text)
                    draft = draft_html("".join(parts), standalone if show_rewrite else None, evidence)
                    yield [*chat, {"role": "assistant", "content": draft}], gr.skip(), "", turns
                elif event.kind == "answer":
                    answer = event.answer
        except RagError as exc:
            log.warning("answering %r failed: %s", message, exc)
            yield [*chat, {"role": "assistant", "content": error_html(user_message(exc))}], gr.skip(), "", turns
            return
        except Exception:
            log.exception("answering %r failed", message)
            yield [*chat, {"role": "assistant", "content": error_html(INTERNAL_ERROR)}], gr.skip(), "", turns
            return
        if answer is None:  # pragma: no cover - ask_stream always ends with an answer
            return
        turns = [*turns, (answer.standalone_question or message, answer.text)]
        html = answer_html(answer, turn, show_rewrite=show_rewrite, show_timings=show_timings)
        yield [*chat, {"role": "assistant", "content": html}], sources_html(answer), "", turns

    def documents_outputs(self, status: str, chosen: list[str] | None = None) -> tuple[Any, ...]:
        """The documents tab's status, table and removal choice, and the chat's document picker (keeping the
        documents still chosen there)."""
        rows = _documents_table(self.pool)
        choices = [r[0] for r in rows]
        kept = [d for d in (chosen or []) if d in choices]
        return status, rows, gr.update(choices=choices, value=None), gr.update(choices=choices, value=kept)

    def on_upload(self, files: list[str] | None, chosen: list[str] | None = None,
                  progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        lines: list[str] = []
        for file in progress.tqdm(files or [], desc="Indexing"):
            path = Path(file)
            try:
                result = add_upload(self.pool.base.indexer, path, path.name, max_bytes=self.max_bytes)
            except RagError as exc:
                log.warning("upload %s refused: %s", path.name, exc)
                lines.append(f'<div class="rag-error"><b>Not added:</b> {esc(user_message(exc))}</div>')
            except Exception:
                log.exception("upload %s failed", path.name)
                lines.append(f'<div class="rag-error"><b>Not added:</b> {esc(path.name)}: {esc(INTERNAL_ERROR)}</div>')
            else:
                what = "updated" if result.report.updated else ("unchanged" if result.report.unchanged else "added")
                chunks = f'{result.chunks} chunk{"" if result.chunks == 1 else "s"} embedded'
                lines.append(f'<div class="rag-ok"><b>{esc(what.capitalize())}:</b> {esc(result.name)} — '
                             f'{esc(result.title)} ({chunks})</div>')
        return (None, *self.documents_outputs("".join(lines), chosen))

    def on_remove(self, doc_id: str | None, chosen: list[str] | None = None) -> tuple[Any, ...]:
        if not doc_id:
            return self.documents_outputs('<div class="rag-error">Choose a document to remove.</div>', chosen)
        try:
            remove_document(self.pool.base.indexer, doc_id)
        except RagError as exc:
            return self.documents_outputs(f'<div class="rag-error"><b>Not removed:</b> {esc(user_message(exc))}</div>',
                                          chosen)
        return self.documents_outputs(f'<div class="rag-ok"><b>Removed:</b> {esc(doc_id)}</div>', chosen)


def _chat_tab(s: Settings) -> dict[str, Any]:
    """The chat tab's components, by name."""
    with gr.Tab("Chat", id="chat"):
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Chat", elem_id="rag-chat", height=520, latex_delimiters=[],
                                     feedback_options=None, buttons=["copy"],
                                     placeholder="Ask a question about your documents.")
                with gr.Row():
                    question = gr.Textbox(label="Question", elem_id="rag-question", scale=5, lines=1,
                                          placeholder="e.g. " + EXAMPLES[0], autofocus=True)
                    send = gr.Button("Ask", variant="primary", elem_id="rag-ask", scale=1)
                gr.Examples([[q] for q in EXAMPLES], inputs=[question], label="Example questions about the seeds")
                clear = gr.Button("New chat", size="sm", elem_id="rag-clear")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(sources_html(None), elem_id="rag-sources", js_on_load=None, max_height=640)
        with gr.Accordion("Settings", open=False, elem_id="rag-settings"):
            with gr.Row():
                top_k = gr.Slider(1, 10, value=s.top_k, step=1, label="Passages to retrieve")
                backend = gr.Dropdown(list(GENERATOR_CHOICES), value=s.generator, label="Generator backend")
                model = gr.Textbox(label="Model", placeholder="default", info=MODEL_HELP)
            with gr.Row():
                documents = gr.Dropdown([], value=[], multiselect=True, elem_id="rag-doc-filter",
                                        label="Only these documents (none chosen: all)")
            with gr.Row():
                show_rewrite = gr.Checkbox(label="Show the standalone rewrite of follow-up questions",
                                           value=False, elem_id="rag-show-rewrite")
                show_timings = gr.Checkbox(label="Show timings", value=False, elem_id="rag-show-timings")
    return {"question": question, "chatbot": chatbot, "send": send, "clear": clear, "sources": sources,
            "top_k": top_k, "backend": backend, "model": model, "show_rewrite": show_rewrite,
            "show_timings": show_timings, "documents": documents}


def _documents_tab(s: Settings) -> dict[str, Any]:
    """The documents tab's components, by name."""
    with gr.Tab("Documents", id="documents"):
        upload = gr.File(label=f"Add documents ({', '.join(e.lstrip('.') for e in UPLOAD_EXTENSIONS)}; "
                               f"up to {s.upload_max_mb:g} MB each)", file_count="multiple",
                         file_types=list(UPLOAD_EXTENSIONS), type="filepath", elem_id="rag-upload")
        upload_status = gr.HTML(elem_id="rag-upload-status", js_on_load=None)
        docs = gr.Dataframe(headers=["document", "title", "chunks"], datatype=["str", "str", "number"],
                            interactive=False, label="Indexed documents", elem_id="rag-docs", wrap=True)
        with gr.Row():
            to_remove = gr.Dropdown([], label="Document to remove", elem_id="rag-remove-choice", scale=3)
            remove = gr.Button("Remove from the index", variant="stop", elem_id="rag-remove", scale=1)
    return {"upload": upload, "upload_status": upload_status, "docs": docs, "to_remove": to_remove,
            "remove": remove}


def build_app(settings: Settings | None = None, *, pipeline: RagPipeline | None = None) -> gr.Blocks:
    """The Gradio app over one shared pipeline (built from ``settings`` unless given)."""
    if pipeline is None:
        if settings is None:
            raise ValueError("build_app needs settings or a pipeline")
        pipeline = RagPipeline(settings, progress=False)
    on = Handlers(PipelinePool(pipeline))
    s = pipeline.settings
    with gr.Blocks(title="rag-seeds — ask your documents") as demo:
        gr.Markdown("## rag-seeds — ask your documents\nAnswers come only from the indexed documents, with every "
                    "sentence cited to the passage that supports it; when they don't hold the answer, it says so.")
        turns = gr.State([])
        c = _chat_tab(s)
        d = _documents_tab(s)
        chat_inputs = [c["question"], c["chatbot"], turns, c["top_k"], c["backend"], c["model"], c["show_rewrite"],
                       c["show_timings"], c["documents"]]
        chat_outputs = [c["chatbot"], c["sources"], c["question"], turns]
        doc_outputs = [d["upload_status"], d["docs"], d["to_remove"], c["documents"]]
        for trigger in (c["question"].submit, c["send"].click):
            trigger(on.respond, chat_inputs, chat_outputs, concurrency_limit=1, concurrency_id=MODELS,
                    api_visibility="private")
        c["clear"].click(lambda: ([], sources_html(None), "", []), None, chat_outputs, queue=False,
                         api_visibility="private")
        d["upload"].upload(on.on_upload, [d["upload"], c["documents"]], [d["upload"], *doc_outputs],
                           concurrency_limit=1, concurrency_id=MODELS, api_visibility="private")
        d["remove"].click(on.on_remove, [d["to_remove"], c["documents"]], doc_outputs, concurrency_limit=1,
                          concurrency_id=MODELS, api_visibility="private")
        demo.load(lambda: on.documents_outputs(""), None, doc_outputs, api_visibility="private")
    return demo
