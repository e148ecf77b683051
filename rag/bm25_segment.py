"""One immutable BM25 segment: the postings of a set of chunks, in one file that is memory-mapped when read.

A segment stores raw term frequencies and chunk lengths, not precomputed scores, so that BM25's collection
statistics (document count, average length, document frequencies) are computed over all live segments at query
time: adding or removing chunks never rewrites the segments that already exist. Terms are stored as 64-bit hashes
in sorted order, so a lookup is a binary search over a memory-mapped array and opening a segment reads no
vocabulary at all.

File layout (little-endian; every array starts on an 8-byte boundary)::

    magic "RAGBM25" + version byte, then rows, terms, postings as uint64
    ids      int64[rows]       chunk ids, ascending
    lengths  int32[rows]       tokens per chunk
    terms    uint64[terms]     term hashes, ascending
    starts   int64[terms + 1]  postings of term i are [starts[i], starts[i + 1])
    rows     int32[postings]   row of each posting (ascending within a term)
    tf       float32[postings] term frequency of each posting
"""

from __future__ import annotations

import hashlib
import os
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import IndexError_

MAGIC = b"RAGBM25\x01"
_HEADER = len(MAGIC) + 3 * 8
_LAYOUT = (("ids", np.int64), ("lengths", np.int32), ("terms", np.uint64), ("starts", np.int64),
           ("rows", np.int32), ("tf", np.float32))


class SegmentError(IndexError_):
    pass


def term_hash(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")


def _sizes(rows: int, terms: int, postings: int) -> tuple[int, ...]:
    return rows, rows, terms, terms + 1, postings, postings


def _aligned(n: int) -> int:
    return (n + 7) // 8 * 8


@dataclass(frozen=True)
class Segment:
    ids: np.ndarray
    lengths: np.ndarray
    terms: np.ndarray
    starts: np.ndarray
    rows: np.ndarray
    tf: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: Sequence[int], token_lists: Sequence[Sequence[str]]) -> Segment:
        """A segment from chunk ids and their tokens (an empty token list counts as one placeholder token,
        as bm25s does, so every chunk has a length)."""
        order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
        vocab: dict[str, int] = {}
        # Typed arrays, not lists: a million chunks make some 60 million postings.
        post_term, post_row, post_tf = array("q"), array("i"), array("f")
        lengths = np.empty(len(order), dtype=np.int32)
        for row, i in enumerate(order):
            tokens = token_lists[i] or ["<empty>"]
            lengths[row] = len(tokens)
            for term, tf in Counter(tokens).items():
                post_term.append(vocab.setdefault(term, len(vocab)))
                post_row.append(row)
                post_tf.append(tf)
        hashes = np.fromiter((term_hash(t) for t in vocab), dtype=np.uint64, count=len(vocab))
        return cls.from_postings(np.asarray(ids, dtype=np.int64)[order], lengths,
                                 hashes[np.frombuffer(post_term, dtype=np.int64)],
                                 np.frombuffer(post_row, dtype=np.int32), np.frombuffer(post_tf, dtype=np.float32))

    @classmethod
    def from_postings(cls, ids: np.ndarray, lengths: np.ndarray, post_hash: np.ndarray, post_row: np.ndarray,
                      post_tf: np.ndarray) -> Segment:
        """A segment from unordered postings (hash, row, tf) over rows whose ids are ascending."""
        order = np.lexsort((post_row, post_hash))
        post_hash = post_hash[order]
        terms, first = np.unique(post_hash, return_index=True)
        starts = np.append(first, len(post_hash)).astype(np.int64)
        return cls(ids, lengths.astype(np.int32), terms.astype(np.uint64), starts,
                   post_row[order].astype(np.int32), post_tf[order].astype(np.float32))

    @classmethod
    def merge(cls, segments: Sequence[Segment], live: Sequence[np.ndarray]) -> Segment:
        """One segment holding the live rows of several, without re-tokenising anything."""
        ids, lengths, hashes, rows, tfs = [], [], [], [], []
        offset = 0
        for seg, keep in zip(segments, live, strict=True):
            new_row = np.cumsum(keep, dtype=np.int64) - 1 + offset
            post_hash = np.repeat(seg.terms, np.diff(seg.starts))
            kept = keep[seg.rows]
            ids.append(seg.ids[keep])
            lengths.append(seg.lengths[keep])
            hashes.append(post_hash[kept])
            rows.append(new_row[seg.rows[kept]])
            tfs.append(seg.tf[kept])
            offset += int(keep.sum())
        all_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        order = np.argsort(all_ids, kind="stable")
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order))
        return cls.from_postings(all_ids[order], np.concatenate(lengths)[order] if lengths else np.zeros(0, np.int32),
                                 np.concatenate(hashes) if hashes else np.zeros(0, np.uint64),
                                 remap[np.concatenate(rows)] if rows else np.zeros(0, np.int32),
                                 np.concatenate(tfs) if tfs else np.zeros(0, np.float32))

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, tf) of one term hash; empty arrays when the segment does not hold it."""
        i = int(np.searchsorted(self.terms, np.uint64(term)))
        if i == len(self.terms) or int(self.terms[i]) != term:
            return self.rows[:0], self.tf[:0]
        start, end = int(self.starts[i]), int(self.starts[i + 1])
        return self.rows[start:end], self.tf[start:end]

    def contains(self, chunk_ids: np.ndarray) -> np.ndarray:
        """Which of the given ids this segment holds (a boolean per id)."""
        if len(self.ids) == 0:
            return np.zeros(len(chunk_ids), dtype=bool)
        pos = np.minimum(np.searchsorted(self.ids, chunk_ids), len(self.ids) - 1)
        return self.ids[pos] == chunk_ids

    def write(self, path: Path) -> None:
        arrays = [getattr(self, name).astype(dtype, copy=False) for name, dtype in _LAYOUT]
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(MAGIC + np.asarray([len(self.ids), len(self.terms), len(self.rows)], dtype="<u8").tobytes())
            for array in arrays:
                data = np.ascontiguousarray(array).tobytes()
                fh.write(data + b"\0" * (_aligned(len(data)) - len(data)))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> Segment:
        """Map a segment file (read-only); its pages load as queries touch them."""
        try:
            size = path.stat().st_size
            with open(path, "rb") as fh:
                header = fh.read(_HEADER)
        except OSError as exc:
            raise SegmentError(f"lexical segment {path} cannot be read ({exc})") from None
        if len(header) < _HEADER or header[: len(MAGIC)] != MAGIC:
            raise SegmentError(f"lexical segment {path} is not a segment file of this version")
        counts = np.frombuffer(header[len(MAGIC):], dtype="<u8")
        offset, arrays = _HEADER, {}
        for (name, dtype), n in zip(_LAYOUT, _sizes(*(int(c) for c in counts)), strict=True):
            nbytes = n * np.dtype(dtype).itemsize
            if offset + nbytes > size:
                raise SegmentError(f"lexical segment {path} is truncated")
            # A plain ndarray view of the mapping: np.memmap's Python-level __getitem__ cost ~90 us a slice.
            arrays[name] = (np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(n,)).view(np.ndarray) if n
                            else np.zeros(0, dtype=dtype))
            offset += _aligned(nbytes)
        return cls(**arrays)
