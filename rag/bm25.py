"""Lexical retrieval: BM25 over chunk texts, persisted in a snapshot as immutable, memory-mapped segments.

Scores are bm25s' "lucene" BM25 (k1 1.5, b 0.75, the parameters retrieval was tuned with), computed over the
live chunks of every segment, so they equal a fresh bm25s index over the same chunks. An update writes one new
segment for the added chunks and records removed chunk ids as deleted; the segments of the snapshot before are
shared with it as hard links. Small segments are merged, and a segment mostly deleted is compacted, so a
query touches a bounded number of segments (docs/decisions.md, "Lexical index on disk").
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.bm25_segment import Segment, SegmentError, term_hash
from rag.text import content_tokens, stem

if TYPE_CHECKING:
    from rag.index.tables import ChunkDocuments

log = logging.getLogger(__name__)

K1, B = 1.5, 0.75
KIND = "bm25"
DELETED_FILE = "bm25-deleted.npy"
MAX_SEGMENTS = 8  # past this many, every segment but the largest is merged into one
COMPACT_SHARE = 0.3  # a segment with this share of its rows deleted is rewritten without them
BUILD_PIECE = 100_000  # chunks tokenised into one piece before pieces are merged: bounds the build's memory


def bm25_tokens(text: str) -> list[str]:
    return [stem(t) for t in content_tokens(text)]


def segment_name(number: int) -> str:
    return f"bm25-{number:06d}.seg"


class BM25Index:
    """BM25 over segments. Loaded segments are memory-mapped; segments added since loading stay in memory until
    ``save`` writes them into a snapshot folder."""

    kind = KIND

    def __init__(self, segments: Sequence[tuple[str, Segment]] = (), deleted: np.ndarray | None = None,
                 next_segment: int = 1, source: Path | None = None):
        self._segments = list(segments)  # (file name, segment), oldest first
        self._deleted = np.unique(np.asarray(deleted if deleted is not None else [], dtype=np.int64))
        self._next = next_segment
        self._new: set[str] = set()  # names of segments not yet written
        self._source = source  # the folder the loaded segments are in
        self._stats: tuple[list[np.ndarray | None], int, float] | None = None

    @classmethod
    def from_texts(cls, ids: Sequence[int], texts: Sequence[str]) -> BM25Index:
        index = cls()
        index.add(np.asarray(ids, dtype=np.int64), texts)
        return index

    @classmethod
    def load(cls, directory: Path, info: dict) -> BM25Index:
        """The lexical index a manifest entry describes, its segments mapped from ``directory``."""
        try:
            names = [str(n) for n in info["segments"]]
            next_segment = int(info["next_segment"])
            deleted = np.load(directory / DELETED_FILE) if info.get("deleted") else None
            segments = [(name, Segment.read(directory / name)) for name in names]
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise SegmentError(f"lexical index in {directory} is damaged ({exc})") from None
        return cls(segments, deleted, next_segment, source=directory)

    # -- reading ------------------------------------------------------------------------------------

    def _live(self) -> tuple[list[np.ndarray | None], int, list[np.ndarray]]:
        """Per segment the live-row mask (None when nothing in it is deleted), the live chunk count, and per
        segment each row's length normaliser k1 * (1 - b + b * length / average live length)."""
        if self._stats is None:
            masks, count, tokens = [], 0, 0
            for _, seg in self._segments:
                mask = None
                if len(self._deleted) and len(seg):
                    dead = np.isin(seg.ids, self._deleted, assume_unique=True)
                    mask = ~dead if dead.any() else None
                masks.append(mask)
                count += len(seg) if mask is None else int(mask.sum())
                tokens += int(seg.lengths.sum(dtype=np.int64) if mask is None
                              else seg.lengths[mask].sum(dtype=np.int64))
            avg_len = tokens / count if count else 1.0
            # The same expression, element by element, as bm25s evaluates it: the scores stay equal to the bit.
            norms = [K1 * ((1 - B) + B * seg.lengths / avg_len) for _, seg in self._segments]
            self._stats = (masks, count, norms)
        return self._stats

    def __len__(self) -> int:
        return self._live()[1]

    @property
    def segments(self) -> list[Segment]:
        """The segments, oldest first (loaded ones memory-mapped)."""
        return [seg for _, seg in self._segments]

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k best chunk ids for the query, best first (ties by chunk id); with ``allowed`` (chunk ids), only
        those are ranked."""
        masks, count, norms = self._live()
        hashes = [term_hash(t) for t in bm25_tokens(query)]
        if not hashes or count == 0 or k <= 0:
            return []
        postings = {h: [seg.postings(h) for _, seg in self._segments] for h in set(hashes)}
        idf = {}
        for h, per_segment in postings.items():
            df = sum(len(rows) if mask is None else int(mask[rows].sum())
                     for (rows, _), mask in zip(per_segment, masks, strict=True))
            if df:
                # float32, as bm25s stores it, so that scores match a fresh bm25s index to the bit
                idf[h] = np.float32(math.log(1 + (count - df + 0.5) / (df + 0.5)))
        if not idf:
            return []
        found: list[tuple[np.ndarray, np.ndarray]] = []
        for s, (_, seg) in enumerate(self._segments):
            scores = np.zeros(len(seg), dtype=np.float32)
            for h in hashes:  # repeated query terms count again, as in bm25s
                if h not in idf:
                    continue
                rows, tf = postings[h][s]
                if len(rows):
                    scores[rows] += (idf[h] * (tf / (norms[s][rows] + tf))).astype(np.float32)
            if masks[s] is not None:
                scores[~masks[s]] = 0
            if allowed is not None:
                scores[~np.isin(seg.ids, allowed)] = 0
            found.append(_top(seg.ids, scores, k))
        ids = np.concatenate([f[0] for f in found])
        scores = np.concatenate([f[1] for f in found])
        order = np.lexsort((ids, -scores))[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]

    def search_documents(self, query: str, k: int, documents: ChunkDocuments,
                         allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k best documents (their numbers in ``documents``) for the query, best first, scored by BM25 over
        each document's whole text: a document's term frequencies and length are its chunks' summed (the one
        sentence that neighbouring chunks share counts twice). A question that gathers facts from several
        sentences matches its document better than any one chunk (docs/decisions.md, "A document-level BM25
        vote"). With ``allowed`` (document numbers), only those are ranked."""
        masks, _, _ = self._live()
        hashes = [term_hash(t) for t in bm25_tokens(query)]
        n_docs = len(documents.names)
        if not hashes or n_docs == 0 or k <= 0:
            return []
        lengths = np.zeros(n_docs, dtype=np.float64)
        for (_, seg), mask in zip(self._segments, masks, strict=True):
            rows = np.arange(len(seg)) if mask is None else np.flatnonzero(mask)
            lengths += np.bincount(documents.doc_of[seg.ids[rows]], weights=seg.lengths[rows], minlength=n_docs)
        live = lengths > 0
        count = int(live.sum())
        if count == 0:
            return []
        norms = K1 * ((1 - B) + B * lengths / (lengths[live].sum() / count))
        tf_of: dict[int, np.ndarray] = {}
        for h in set(hashes):
            tf = np.zeros(n_docs, dtype=np.float64)
            for (_, seg), mask in zip(self._segments, masks, strict=True):
                rows, freq = seg.postings(h)
                if mask is not None and len(rows):
                    keep = mask[rows]
                    rows, freq = rows[keep], freq[keep]
                if len(rows):
                    tf += np.bincount(documents.doc_of[seg.ids[rows]], weights=freq, minlength=n_docs)
            tf_of[h] = tf
        scores = np.zeros(n_docs, dtype=np.float64)
        for h in hashes:  # a repeated query term counts again, as in ``search``
            tf = tf_of[h]
            df = int((tf > 0).sum())
            if df:
                scores += math.log(1 + (count - df + 0.5) / (df + 0.5)) * tf / (norms + tf)
        if allowed is not None:
            keep = np.zeros(n_docs, dtype=bool)
            keep[np.asarray(allowed, dtype=np.int64)] = True
            scores[~keep] = 0
        found = np.flatnonzero(scores > 0)
        order = found[np.lexsort((found, -scores[found]))][:k]
        return [(int(d), float(scores[d])) for d in order]

    # -- writing ------------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, texts: Sequence[str]) -> None:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        if len(ids) == 0:
            return
        pieces = [Segment.build(ids[i:i + BUILD_PIECE], [bm25_tokens(t) for t in texts[i:i + BUILD_PIECE]])
                  for i in range(0, len(ids), BUILD_PIECE)]
        segment = pieces[0] if len(pieces) == 1 else Segment.merge(pieces, [np.ones(len(p), bool) for p in pieces])
        name = segment_name(self._next)
        self._next += 1
        self._segments.append((name, segment))
        self._new.add(name)
        self._stats = None

    def remove(self, ids: np.ndarray) -> int:
        """Mark chunks deleted; returns how many were present and live."""
        ids = np.setdiff1d(np.asarray(ids, dtype=np.int64), self._deleted)
        present = np.zeros(len(ids), dtype=bool)
        for _, seg in self._segments:
            present |= seg.contains(ids)
        if present.any():
            self._deleted = np.union1d(self._deleted, ids[present])
            self._stats = None
        return int(present.sum())

    def save(self, directory: Path) -> dict[str, object]:
        """Write into a snapshot folder: new segments as files, segments loaded from an earlier snapshot as hard
        links to its files (a copy where links are not possible), and the deleted ids. Returns the manifest
        entry."""
        self._compact()
        directory = Path(directory)
        for name, seg in self._segments:
            if name in self._new:
                seg.write(directory / name)
            else:
                _share(self._source / name, directory / name)
        self._new.clear()
        self._source = directory
        if len(self._deleted):
            np.save(directory / DELETED_FILE, self._deleted)
        return {"kind": KIND, "k1": K1, "b": B, "segments": [name for name, _ in self._segments],
                "deleted": len(self._deleted), "next_segment": self._next, "chunks": len(self)}

    def _compact(self) -> None:
        """Bound the work of a query: rewrite mostly-deleted segments and merge small ones (their costs follow
        the size of what is rewritten, so a large segment is only rewritten when most of it is gone)."""
        masks = self._live()[0]
        keep: list[tuple[str, Segment, np.ndarray | None]] = []
        for (name, seg), mask in zip(self._segments, masks, strict=True):
            if mask is not None and (~mask).sum() >= COMPACT_SHARE * len(seg):
                keep.append(self._merged([(seg, mask)]))
            else:
                keep.append((name, seg, mask))
        keep = [(n, s, m) for n, s, m in keep if len(s) and (m is None or m.any())]
        if len(keep) > MAX_SEGMENTS:
            largest = max(range(len(keep)), key=lambda i: len(keep[i][1]))
            rest = [(s, m if m is not None else np.ones(len(s), dtype=bool))
                    for i, (_, s, m) in enumerate(keep) if i != largest]
            keep = [keep[largest], self._merged(rest)]
        self._segments = [(n, s) for n, s, _ in keep]
        held = [seg.ids for _, seg in self._segments]
        if len(self._deleted):
            self._deleted = self._deleted[np.isin(self._deleted, np.concatenate(held))] if held else self._deleted[:0]
        self._stats = None

    def _merged(self, parts: list[tuple[Segment, np.ndarray]]) -> tuple[str, Segment, None]:
        name = segment_name(self._next)
        self._next += 1
        self._new.add(name)
        merged = Segment.merge([s for s, _ in parts], [m if m is not None else np.ones(len(s), dtype=bool)
                                                       for s, m in parts])
        log.info("lexical index: merged %d segment(s) into %s (%d chunks)", len(parts), name, len(merged))
        return name, merged, None


def _top(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The positive-scored ids among the k best, and every id tied with the k-th (so that ties are then broken
    by chunk id, not by where a partition happened to cut), unordered."""
    # The k-th best score of a strided sample is a floor for the k-th best of all (the sample is a subset), so
    # the rows at or above it hold the top k. It leaves ~64k candidates instead of every nonzero row, which for
    # a common term is 400 k of 1 M and took 15 ms to list (1 ms this way; docs/decisions.md).
    sample = scores[::64]
    floor = np.partition(sample, len(sample) - k)[len(sample) - k] if len(sample) > k else 0
    rows = np.flatnonzero(scores >= floor) if floor > 0 else np.flatnonzero(scores)
    found = scores[rows]
    if len(rows) > k:
        kth = np.partition(found, len(found) - k)[len(found) - k]
        keep = found >= kth
        rows, found = rows[keep], found[keep]
    return ids[rows], found


def _share(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
