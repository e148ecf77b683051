"""Sentence-respecting chunker with sentence overlap; every chunk keeps its offsets into the document."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import Span, split_sentences
from rag.types import Chunk, Document


@dataclass(frozen=True)
class SentenceChunker:
    max_words: int = 120
    overlap_sentences: int = 1

    def settings(self) -> dict[str, object]:
        # "overlap": how the overlap is kept; an index chunked before "whole" re-chunks (it held repeat chunks).
        return {"kind": "sentence", "max_words": self.max_words, "overlap_sentences": self.overlap_sentences,
                "overlap": "whole"}

    def _pieces(self, text: str) -> list[Span]:
        """Sentences, with any sentence longer than max_words cut at word boundaries."""
        pieces: list[Span] = []
        for sent in split_sentences(text):
            words = list(re.finditer(r"\S+", sent.text))
            if len(words) <= self.max_words:
                pieces.append(sent)
                continue
            for i in range(0, len(words), self.max_words):
                group = words[i : i + self.max_words]
                start = sent.start + group[0].start()
                end = sent.start + group[-1].end()
                pieces.append(Span(start, end, text[start:end]))
        return pieces

    def chunk(self, document: Document, first_id: int = 0) -> list[Chunk]:
        text = document.text
        pieces = self._pieces(text)
        counts = [len(p.text.split()) for p in pieces]
        chunks: list[Chunk] = []
        i = 0
        while i < len(pieces):
            j, words = i, 0
            while j < len(pieces) and (j == i or words + counts[j] <= self.max_words):
                words += counts[j]
                j += 1
            start, end = pieces[i].start, pieces[j - 1].end
            chunks.append(
                Chunk(
                    chunk_id=first_id + len(chunks),
                    doc_id=document.doc_id,
                    ordinal=len(chunks),
                    start=start,
                    end=end,
                    text=text[start:end],
                )
            )
            if j >= len(pieces):
                break
            # Step back by the overlap, but always move forward by at least one sentence; and keep the overlap only
            # when the next new sentence fits beside it, else the next chunk would be the overlap alone, a repeat of
            # this chunk's end (82 of Quoref's 12,163 chunks were).
            back = max(i + 1, j - self.overlap_sentences)
            i = back if sum(counts[back : j + 1]) <= self.max_words else j
        return chunks
