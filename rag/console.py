"""How the CLI shows answers in a terminal: evidence first, the streamed draft, then the checked, cited answer."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from rag.pipeline import RagPipeline
from rag.types import Answer

# soft_wrap: rich would otherwise break long lines (index paths) at 80 columns when output is piped, so a
# path could not be copied and scripts could not match the summary line.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def print_answer(answer: Answer, *, streamed: bool = False) -> None:
    if answer.abstained:
        console.print(f"[bold yellow]{escape(answer.text)}[/] [dim]({escape(answer.abstain_reason or '')})[/]")
        return
    if not streamed:
        console.print(escape(answer.text))
    else:
        console.print("\n[bold]Cited answer:[/] " + escape(answer.text))
    console.print()
    for c in answer.citations:
        console.print(f"[bold cyan][{c.n}][/] {escape(c.doc_id)} — {escape(c.title)} "
                      f"[dim](chars {c.start}-{c.end})[/]")
        console.print(f"    [italic]\"{escape(c.quote)}\"[/]")
    if answer.unsupported:
        console.print(f"[dim]Dropped {len(answer.unsupported)} unsupported sentence(s).[/]")


def stream_to_console(pipeline: RagPipeline, question: str, history: list[tuple[str, str]],
                      documents: tuple[str, ...] = ()) -> Answer | None:
    answer = None
    streamed = False
    for event in pipeline.ask_stream(question, history, documents=documents):
        if event.kind == "rewrite":
            console.print(f"[dim]Read as: {escape(event.text)}[/]")
        elif event.kind == "evidence" and event.passages:
            console.print("[dim]Evidence (the answer follows):[/]")
            for hit in event.passages:
                console.print(f"  [cyan]{escape(hit.chunk.doc_id)}[/] [dim](chars {hit.chunk.start}-"
                              f"{hit.chunk.end})[/] [italic]\"{escape(' '.join(hit.chunk.text.split()))}\"[/]")
        elif event.kind == "retry":
            if streamed:
                console.print()
            console.print(f"[dim]Draft set aside: {escape(event.text)}. Asking again on the sentences that fit.[/]")
            streamed = False
        elif event.kind == "token":
            if not streamed:
                console.print("[dim]Draft:[/] ", end="")
            streamed = True
            console.print(escape(event.text), end="", soft_wrap=True, highlight=False)
        elif event.kind == "answer":
            answer = event.answer
    if streamed:
        console.print()
    if answer is not None:
        print_answer(answer, streamed=streamed)
    return answer
