"""The whole tool at a million chunks (issue 18): build an index of N chunks through the public API and measure
cold open, the first query, resident memory, hybrid query latency, agreement with an exact path, and the cost
of adding and of removing 1,000 documents. Run at 100 k and 1 M for the growth curve.

Texts are real sentences: Quoref passages (``../shared/datasets/quoref/corpus.jsonl``) and the Python
documentation as this machine has it (``pydoc_data.topics`` and the prose paragraphs of the stdlib's
docstrings), split with the tool's own sentence splitter, then shuffled with a fixed seed into synthetic
documents of 500-1,300 words (~10 chunks each under the default chunker), half from each source, until the
index holds N chunks. Vectors come from ``FittedEmbedder``: a Gaussian with the mean and covariance of real
MiniLM chunk vectors (fitted once on 3,000 Quoref chunks with the bundled embedder, cached), drawn with a seed
taken from each text's hash, so the same text always gets the same vector and embedding costs ~30 us a text
instead of ~13 ms (as ``bench/store_real.py`` does for the store alone). Queries go through the same embedder.

Phases, each measurement in a fresh Python process (cold process; the page cache is warm unless said):
  fit      mean and covariance of real MiniLM vectors -> <cache>/scale-fit.npz (once)
  build    the documents through ``Indexer.add_documents`` in one call, as ``rag index`` of a whole folder
           does -> <cache>/scale-N/index (kept; reused unless --rebuild)
  exact    the exact path, without the tool's index objects: brute-force dense over every chunk vector
           (regenerated) and bm25s over the same chunk texts tokenised with ``rag.bm25.bm25_tokens``,
           fused as the retriever fuses (weighted RRF, depth 30) -> <cache>/scale-N/exact.json (cached)
  open     ``DocumentIndex.open`` + ``HybridRetriever``, the first ``search``, VmRSS/VmHWM: once with the index's
           files evicted from the page cache (posix_fadvise DONTNEED on those files only), then --repeats times
           warm; the first warm process also times ``search(q, 10)`` over the queries and records rankings
  update   ``Indexer.add_documents`` of 1,000 new documents, then ``remove_documents`` of the same 1,000 (which
           restores the index's contents), each in a fresh process; embedding time measured inside and
           subtracted
  embedder the real bundled embedder's resident memory and single-query encode time (the fitted one is free)
Results: bench/results/<out>.json (merged by size) and a section of docs/benchmarks.md.

Usage: .venv/bin/python bench/scale.py --chunks 100000,1000000       (the record: both sizes)
       .venv/bin/python bench/scale.py --chunks 20000 --out scale_dev --docs /tmp/benchmarks.md   (a try-out)
       [--cache /tmp/rag-bench] [--rebuild] [--phases build,exact,open,update,embedder] [--repeats 3]
       [--queries 200] [--profile] [--no-docs] [--quoref ../shared/datasets/quoref]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUOREF, RESULTS, TimingEmbedder, load_average, percentiles, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
HEADING = "## The whole tool at 100 k and 1 M chunks (issue 18)"
SEED = 18
GENERATOR_VERSION = 1  # bump when the documents change: cached indexes are then rebuilt
SOURCES = ("quoref", "pydocs")
DOC_WORDS = (500, 1300)  # words per synthetic document, uniform: ~10 chunks of <=120 words with overlap
SENTENCE_WORDS = (4, 60)  # sentences kept; none needs cutting by the chunker (max 120 words)
FRAGMENT_DOCS = 2000  # fragment queries come from the first documents, which every size holds
FIT_CHUNKS = 3000
EXTRA_DOCS = 1000
MARKER_FIRST = "FIRST-QUERY-DONE"

TARGETS = {
    "open_first_s": 5.0,  # open + first hybrid query, cold process, 1 M
    "rss_open_mib": 1.5 * 1024,  # resident memory after open, no generator
    "p50_ms": 30.0,  # hybrid query p50
    "recall10": 0.95,  # against exact dense + BM25 fusion
    "update_s": 10.0,  # add or remove 1,000 documents, beyond embedding
    "open_growth": 2.0,  # cold open 1 M / 100 k
}


# -- texts -----------------------------------------------------------------------------------------------


def quoref_dir() -> Path:
    """The Quoref BEIR folder: bench/common.py's, or --quoref (passed to the phases' processes by environment)."""
    return Path(os.environ.get("SCALE_BENCH_QUOREF") or QUOREF)


def _keep(sentence: str) -> bool:
    words = len(sentence.split())
    return (SENTENCE_WORDS[0] <= words <= SENTENCE_WORDS[1] and re.search(r"[.!?][\"')\]]*$", sentence) is not None
            and "|" not in sentence and sum(ch.isalpha() for ch in sentence) > len(sentence) / 2)


def quoref_sentences() -> list[str]:
    from rag.text import normalize_text, split_sentences

    out = []
    with open(quoref_dir() / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out += [s.text for s in split_sentences(normalize_text(json.loads(line)["text"]))]
    return list(dict.fromkeys(s for s in out if _keep(s)))


def pydocs_sentences() -> list[str]:
    """Prose sentences of the Python docs installed here: the pydoc topics (the language reference) and the
    docstrings of the standard library (hard-wrapped lines joined; code and doctest paragraphs skipped)."""
    import sysconfig
    from pydoc_data.topics import topics

    from rag.text import normalize_text, split_sentences

    texts = [topics[k] for k in sorted(topics)]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "test", "tests", "idlelib"}
    for path in sorted(stdlib.rglob("*.py")):
        if skip & set(path.relative_to(stdlib).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    texts.append(doc)
    out = []
    for text in texts:
        for para in re.split(r"\n\s*\n", text):
            lines = para.split("\n")
            if lines[0].startswith((" ", "\t", ">>>")) or any(
                    ln.startswith(("    ", "\t", ">>>", "...")) for ln in lines[1:]):
                continue  # code, doctests, indented tables
            out += [s.text for s in split_sentences(normalize_text(" ".join(ln.strip() for ln in lines)))]
    return list(dict.fromkeys(s for s in out if _keep(s)))


def sentence_pools(cache: Path) -> dict[str, list[str]]:
    path = cache / "scale-sentences.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    started = time.perf_counter()
    pools = {"quoref": quoref_sentences(), "pydocs": pydocs_sentences()}
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(pools), encoding="utf-8")
    tmp.replace(path)
    print(f"sentence pools: {', '.join(f'{k} {len(v):,}' for k, v in pools.items())} "
          f"({time.perf_counter() - started:.1f} s)", flush=True)
    return pools


def pools_digest(pools: dict[str, list[str]]) -> str:
    return hashlib.sha256(json.dumps(pools, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Corpus:
    """Synthetic documents from shuffled real sentences; document i is the same in every process and run."""

    pools: dict[str, list[str]]

    def __post_init__(self) -> None:
        self.words = {k: np.array([len(s.split()) for s in v]) for k, v in self.pools.items()}
        self.placed = 0  # sentences placed in the documents made so far
        self.chunker = tool_chunker()

    def document(self, i: int, *, extra: bool = False):
        """Document i (of the base set, or of the 1,000 extra ones) and its estimated chunk count."""
        from rag.types import Document

        rng = np.random.default_rng([SEED, int(extra), i])
        source = SOURCES[int(rng.integers(len(SOURCES)))]
        pool, words = self.pools[source], self.words[source]
        target = int(rng.integers(DOC_WORDS[0], DOC_WORDS[1] + 1))
        picks = rng.integers(len(pool), size=DOC_WORDS[1] // SENTENCE_WORDS[0] + 1)
        picks = picks[: int(np.searchsorted(np.cumsum(words[picks]), target)) + 1]
        sizes = rng.integers(3, 8, size=len(picks))  # sentences per paragraph
        paragraphs, k = [], 0
        for size in sizes:
            if k >= len(picks):
                break
            paragraphs.append(" ".join(pool[j] for j in picks[k : k + size]))
            k += int(size)
        text = "\n\n".join(paragraphs)
        doc_id = f"{'scale-extra' if extra else 'scale'}/{source}-{i:07d}.txt"
        doc = Document(doc_id=doc_id, title=f"{source} sentences, document {i}", text=text,
                       source_path=f"synthetic:{doc_id}", content_hash=hashlib.sha256(text.encode()).hexdigest())
        self.placed += len(picks)
        return doc, self.estimated_chunks(words[picks])

    def estimated_chunks(self, counts) -> int:
        """The chunker's greedy packing on the sentences' word counts (the real count is recorded after)."""
        n, i, limit, overlap = 0, 0, self.chunker.max_words, self.chunker.overlap_sentences
        while i < len(counts):
            j, words = i, 0
            while j < len(counts) and (j == i or words + counts[j] <= limit):
                words += counts[j]
                j += 1
            n += 1
            if j >= len(counts):
                break
            i = max(i + 1, j - overlap)
        return n

    def documents_for(self, chunks: int) -> tuple[list, int]:
        """Documents 0, 1, ... until they make ``chunks`` chunks (estimated), and the estimate."""
        docs, total = [], 0
        while total < chunks:
            doc, n = self.document(len(docs))
            docs.append(doc)
            total += n
        return docs, total


# -- the fitted embedder ---------------------------------------------------------------------------------


class FittedEmbedder:
    """The Embedder protocol with vectors drawn from a Gaussian fitted to real MiniLM chunk vectors, seeded by
    each text's hash: deterministic, the real distribution's anisotropy, no model."""

    def __init__(self, mean: np.ndarray, cov: np.ndarray, source: str = "MiniLM"):
        self.mean = np.asarray(mean, dtype=np.float64)
        cov = np.asarray(cov, dtype=np.float64)
        self.chol = np.linalg.cholesky(cov + 1e-6 * np.eye(len(cov)))
        digest = hashlib.sha256(self.mean.tobytes() + cov.tobytes()).hexdigest()[:16]
        self.name = f"fitted-gaussian({source}):{digest}"

    @classmethod
    def load(cls, path: Path) -> FittedEmbedder:
        with np.load(path) as data:
            return cls(data["mean"], data["cov"], str(data["source"]))

    @property
    def dimension(self) -> int:
        return len(self.mean)

    @property
    def fingerprint(self) -> str:
        return self.name

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        z = np.empty((len(texts), self.dimension))
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest(), "little")
            z[row] = np.random.default_rng(seed).standard_normal(self.dimension)
        vectors = self.mean + z @ self.chol.T
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def tool_chunker():
    """The chunker the tool builds from its default settings (rag/pipeline.py)."""
    from rag.chunker import SentenceChunker
    from rag.settings import Settings

    s = Settings()
    return SentenceChunker(s.chunk_words, s.chunk_overlap_sentences)


def tool_settings():
    """The retriever and store settings the tool runs with by default."""
    from rag.settings import Settings
    from rag.stores.factory import StoreConfig

    s = Settings()
    return s, StoreConfig.from_settings(s)


# -- measurements in child processes ---------------------------------------------------------------------


def memory() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process, MiB."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key.lower() + "_mib"] = round(int(value.split()[0]) / 1024, 1)
    return out


def child_fit(p: dict) -> dict:
    """Mean and covariance of real MiniLM vectors of Quoref chunks (the bundled embedder, ONNX)."""
    from embeddings.encoder import SentenceTransformerEmbedder
    from eval.beir import load_corpus

    chunker = tool_chunker()
    texts = [c.text for doc in load_corpus(quoref_dir()) for c in chunker.chunk(doc)]
    rng = np.random.default_rng(SEED)
    texts = [texts[i] for i in sorted(rng.choice(len(texts), min(FIT_CHUNKS, len(texts)), replace=False))]
    embedder = SentenceTransformerEmbedder()
    started = time.perf_counter()
    vectors = embedder.encode(texts).astype(np.float64)
    seconds = time.perf_counter() - started
    out = Path(p["path"])
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez(tmp, mean=vectors.mean(axis=0), cov=np.cov(vectors, rowvar=False),
             source=np.array(embedder.fingerprint), count=np.array(len(texts)))
    tmp.replace(out)
    return {"chunks": len(texts), "embed_s": round(seconds, 1), "embedder": embedder.fingerprint}


def child_build(p: dict) -> dict:
    from rag.index import Indexer, current_snapshot, read_manifest

    started = time.perf_counter()
    corpus = Corpus(sentence_pools(Path(p["cache"])))
    docs, estimated = corpus.documents_for(int(p["chunks"]))
    generate_s = time.perf_counter() - started
    text_mib = sum(len(d.text) for d in docs) / 2**20
    print(f"  {len(docs):,} documents generated ({text_mib:,.0f} MiB of text, {generate_s:.1f} s); indexing",
          flush=True)
    embedder = TimingEmbedder(FittedEmbedder.load(Path(p["fit"])))
    _, store_config = tool_settings()
    indexer = Indexer(Path(p["index"]), embedder, tool_chunker(), progress=sys.stderr.isatty(),
                      store_config=store_config)
    started = time.perf_counter()
    report = indexer.add_documents(docs)
    seconds = time.perf_counter() - started
    manifest = read_manifest(current_snapshot(Path(p["index"])))
    return {"documents": int(manifest["documents"]), "chunks": int(manifest["chunks"]),
            "index_mib": folder_mib(Path(p["index"])),
            "estimated_chunks": estimated,
            "text_mib": round(text_mib, 1), "generate_s": round(generate_s, 1),
            "sentence_repeats": round(corpus.placed / sum(len(v) for v in corpus.pools.values()), 1),
            "index_s": round(seconds, 1), "embed_s": round(embedder.seconds, 1),
            "store": manifest["store"], "snapshot": report.snapshot, **memory()}


def tool_key(hit) -> str:
    return f"{hit.chunk.doc_id}#{hit.chunk.ordinal}"


def child_open(p: dict) -> dict:
    """A cold process: imports, open + retriever, first query, memory; optionally latency and rankings."""
    started = time.perf_counter()
    from rag.index import DocumentIndex
    from rag.retriever import HybridRetriever

    settings, store_config = tool_settings()
    imports_s = time.perf_counter() - started
    embedder = FittedEmbedder.load(Path(p["fit"]))
    queries = json.loads(Path(p["queries"]).read_text(encoding="utf-8"))
    before = memory()
    profiler = None
    if p.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    index = DocumentIndex.open(Path(p["index"]), store_config)
    retriever = HybridRetriever(index, embedder, candidates=settings.candidates, rrf_k=settings.rrf_k,
                                bm25_weight=settings.bm25_weight)
    open_s = time.perf_counter() - started
    after_open = memory()
    started = time.perf_counter()
    first = retriever.search(queries[0]["text"], 10)
    first_s = time.perf_counter() - started
    print(MARKER_FIRST, flush=True)
    profile = None
    if profiler is not None:
        import io
        import pstats

        profiler.disable()
        profiler.dump_stats(p["profile"])
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
        profile = text.getvalue()
    index.check_embedder(embedder)
    out = {"imports_s": round(imports_s, 3), "open_s": round(open_s, 3), "first_query_s": round(first_s, 4),
           "open_first_s": round(open_s + first_s, 3), "first_hits": len(first),
           "rss_before_open_mib": before["vmrss_mib"], "rss_open_mib": after_open["vmrss_mib"],
           "rss_first_mib": memory()["vmrss_mib"], "snapshot": index.snapshot,
           "store": index.manifest.get("store")}
    if profile:
        out["profile"] = {"file": p["profile"], "top_cumulative": profile}
    if p.get("latency"):
        seconds, rankings = [], []
        for q in queries:
            t = time.perf_counter()
            hits = retriever.search(q["text"], 10)
            seconds.append(time.perf_counter() - t)
            rankings.append({"fused10": [tool_key(h) for h in hits]})
        by_kind = {kind: percentiles([s for s, q in zip(seconds, queries, strict=True) if q["kind"] == kind])
                   for kind in sorted({q["kind"] for q in queries})}
        out["latency"] = {**percentiles(seconds), "mean_ms": round(float(np.mean(seconds)) * 1000, 3),
                          "max_ms": round(float(np.max(seconds)) * 1000, 3), "queries": len(seconds),
                          "by_kind": by_kind}
        out["rss_after_queries_mib"] = memory()["vmrss_mib"]
        depth = settings.candidates
        for fusion in ("dense", "bm25"):  # each retriever's candidates, to tell where disagreement comes from
            alone = HybridRetriever(index, embedder, candidates=depth, rrf_k=settings.rrf_k,
                                    bm25_weight=settings.bm25_weight, fusion=fusion)
            for row, q in zip(rankings, queries, strict=True):
                row[f"{fusion}{depth}"] = [tool_key(h) for h in alone.search(q["text"], depth)]
        out["rankings"] = rankings
    out.update(memory())
    return out


def child_exact(p: dict) -> dict:
    """Exact dense (every vector, brute force, in blocks) and exact BM25 (bm25s over token ids, its defaults as
    rag/bm25.py uses them), fused like ``HybridRetriever``; nothing of the tool's index is read."""
    import bm25s

    from rag.bm25 import bm25_tokens

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    settings, _ = tool_settings()
    depth, band_depth = settings.candidates, settings.candidates + 10
    corpus = Corpus(sentence_pools(Path(p["cache"])))
    embedder = FittedEmbedder.load(Path(p["fit"]))
    queries = json.loads(Path(p["queries"]).read_text(encoding="utf-8"))
    qvecs = embedder.encode([q["text"] for q in queries])
    nq = len(queries)
    best_s = np.full((nq, band_depth), -np.inf, dtype=np.float32)
    best_p = np.full((nq, band_depth), -1, dtype=np.int64)
    vocab: dict[str, int] = {}
    token_ids: list[tuple[int, ...]] = []
    doc_ids: list[str] = []
    key_doc: list[int] = []
    key_ord: list[int] = []
    pending: list[str] = []
    timings = {"chunk_tokenise_s": 0.0, "dense_s": 0.0}

    def flush() -> None:
        started = time.perf_counter()
        first = len(key_doc) - len(pending)
        scores = qvecs @ embedder.encode(pending).T
        pos = np.broadcast_to(np.arange(first, first + len(pending)), scores.shape)
        cand_s, cand_p = np.concatenate([best_s, scores], axis=1), np.concatenate([best_p, pos], axis=1)
        top = np.argpartition(-cand_s, band_depth - 1, axis=1)[:, :band_depth]
        best_s[:], best_p[:] = np.take_along_axis(cand_s, top, 1), np.take_along_axis(cand_p, top, 1)
        pending.clear()
        timings["dense_s"] += time.perf_counter() - started

    started = time.perf_counter()
    for i in range(int(p["documents"])):
        doc, _ = corpus.document(i)
        doc_ids.append(doc.doc_id)
        for chunk in corpus.chunker.chunk(doc):
            key_doc.append(i)
            key_ord.append(chunk.ordinal)
            tokens = bm25_tokens(chunk.text) or ["<empty>"]
            token_ids.append(tuple(vocab.setdefault(t, len(vocab)) for t in tokens))
            pending.append(chunk.text)
        if len(pending) >= 10_000:
            flush()
    if pending:
        flush()
    timings["chunk_tokenise_s"] = time.perf_counter() - started - timings["dense_s"]
    n = len(key_doc)
    key_doc_arr, key_ord_arr = np.asarray(key_doc, dtype=np.int64), np.asarray(key_ord, dtype=np.int64)

    def key(position: int) -> str:
        return f"{doc_ids[key_doc_arr[position]]}#{key_ord_arr[position]}"

    started = time.perf_counter()
    model = bm25s.BM25()  # rag/bm25.py builds bm25s.BM25() with its defaults (k1 1.5, b 0.75, lucene)
    model.index((token_ids, dict(vocab)), show_progress=False)
    del token_ids
    timings["bm25_index_s"] = time.perf_counter() - started
    started = time.perf_counter()
    rows = []
    for qi, q in enumerate(queries):
        order = np.lexsort((best_p[qi], -best_s[qi]))
        d_s, d_p = best_s[qi][order], best_p[qi][order]
        dense = [int(x) for x in d_p[:depth]]
        dense_band = [int(x) for x, s in zip(d_p, d_s, strict=True) if s >= d_s[depth - 1] - 1e-6]
        ids = [vocab[t] for t in bm25_tokens(q["text"]) if t in vocab]
        lexical, lexical_band = [], []
        if ids:
            scores = model.get_scores_from_ids(ids)
            k = min(depth, len(scores))
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
            lexical = [int(x) for x in top if scores[x] > 0]
            if lexical:
                floor = float(scores[lexical[-1]]) * (1 - 1e-5)
                lexical_band = [int(x) for x in np.flatnonzero(scores >= floor)[:2000]]
        fused: dict[int, float] = {}
        for ranking, weight in ((dense, 1.0), (lexical, settings.bm25_weight)):
            for rank, item in enumerate(ranking, start=1):
                fused[item] = fused.get(item, 0.0) + weight / (settings.rrf_k + rank)
        fused10 = [c for c, _ in sorted(fused.items(), key=lambda kv: -kv[1])[:10]]
        rows.append({"fused10": [key(x) for x in fused10], f"dense{depth}": [key(x) for x in dense],
                     f"bm25{depth}": [key(x) for x in lexical], "dense_band": [key(x) for x in dense_band],
                     "bm25_band": [key(x) for x in lexical_band]})
    timings["queries_s"] = time.perf_counter() - started
    return {"chunks": n, "vocabulary": len(vocab), "rows": rows, "queries_digest": p["queries_digest"],
            **{k: round(v, 1) for k, v in timings.items()}, **memory()}


def child_update(p: dict) -> dict:
    """Add the 1,000 extra documents, or remove them; the embedding share is timed inside the call."""
    import_started = time.perf_counter()
    from rag.index import Indexer, current_snapshot, read_manifest

    _, store_config = tool_settings()
    imports_s = time.perf_counter() - import_started
    corpus = Corpus(sentence_pools(Path(p["cache"])))
    docs = [corpus.document(i, extra=True)[0] for i in range(EXTRA_DOCS)]
    embedder = TimingEmbedder(FittedEmbedder.load(Path(p["fit"])))
    indexer = Indexer(Path(p["index"]), embedder, tool_chunker(), progress=False, store_config=store_config)
    started = time.perf_counter()
    if p["action"] == "add":
        report = indexer.add_documents(docs)
        done = len(report.added)
    else:
        report = indexer.remove_documents([d.doc_id for d in docs])
        done = len(report.removed)
    seconds = time.perf_counter() - started
    manifest = read_manifest(current_snapshot(Path(p["index"])))
    return {"action": p["action"], "documents": done, "chunks_embedded": report.chunks_embedded,
            "rebuilt_reason": report.rebuilt_reason,  # set if the writer had to re-embed everything
            "seconds": round(seconds, 3), "embed_s": round(embedder.seconds, 3),
            "beyond_embed_s": round(seconds - embedder.seconds, 3), "imports_s": round(imports_s, 3),
            "index_documents": int(manifest["documents"]), "index_chunks": int(manifest["chunks"]),
            "store": manifest["store"], **memory()}


def child_embedder(p: dict) -> dict:
    """What the real bundled embedder adds to a query and to memory (the fitted one costs ~20 us, no memory)."""
    from embeddings.encoder import SentenceTransformerEmbedder

    queries = [q["text"] for q in json.loads(Path(p["queries"]).read_text(encoding="utf-8"))]
    before = memory()["vmrss_mib"]
    embedder = SentenceTransformerEmbedder()
    started = time.perf_counter()
    embedder.encode([queries[0]])
    load_s = time.perf_counter() - started
    seconds = []
    for q in queries[:100]:
        t = time.perf_counter()
        embedder.encode([q])
        seconds.append(time.perf_counter() - t)
    return {"embedder": embedder.fingerprint, "load_and_first_s": round(load_s, 2),
            "rss_added_mib": round(memory()["vmrss_mib"] - before, 1), "encode": percentiles(seconds)}


CHILDREN = {"fit": child_fit, "build": child_build, "open": child_open, "exact": child_exact,
            "update": child_update, "embedder": child_embedder}


def run_child(name: str, params: dict, cache: Path) -> dict:
    """Run a phase in a fresh Python process; its result comes back through a JSON file."""
    out = cache / f"scale-child-{os.getpid()}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--params",
           json.dumps({**params, "result": str(out)})]
    started = time.perf_counter()
    marker_s = None
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT) as proc:
        for line in proc.stdout:
            if line.strip() == MARKER_FIRST and marker_s is None:
                marker_s = time.perf_counter() - started
            else:
                print(line, end="", flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"phase {name} failed (exit status {proc.returncode})")
    result = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    result["process_s"] = round(time.perf_counter() - started, 2)
    if marker_s is not None:
        result["spawn_to_first_query_s"] = round(marker_s, 3)  # with interpreter start and imports
    return result


# -- orchestration ---------------------------------------------------------------------------------------


def evict(folder: Path) -> dict:
    """Drop the folder's files (only those) from the page cache: a cold open without touching anyone else's
    cached files. Returns what stayed resident, per fincore when available."""
    files = [f for f in folder.rglob("*") if f.is_file()]
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    out = {"files": len(files), "bytes": sum(f.stat().st_size for f in files)}
    if shutil.which("fincore") and files:
        res = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES",
                              *map(str, files)], capture_output=True, text=True)
        if res.returncode == 0:
            out["resident_after_bytes"] = sum(int(x) for x in res.stdout.split())
    return out


def folder_mib(folder: Path) -> float:
    return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20, 1)


def make_queries(corpus: Corpus, documents: int, count: int) -> list[dict]:
    """Half real Quoref questions, half fragments (4-8 words) of sentences of the first documents."""
    from rag.text import split_sentences

    with open(quoref_dir() / "queries.jsonl", encoding="utf-8") as fh:
        questions = [json.loads(line)["text"] for line in fh if line.strip()]
    rng = np.random.default_rng([SEED, 2])
    n_questions = count // 2
    out = [{"kind": "question", "text": questions[int(i)]}
           for i in rng.choice(len(questions), n_questions, replace=False)]
    while len(out) < count:
        doc, _ = corpus.document(int(rng.integers(min(documents, FRAGMENT_DOCS))))
        words = rng.choice(split_sentences(doc.text)).text.split()
        size = int(rng.integers(4, 9))
        start = int(rng.integers(max(1, len(words) - size + 1)))
        out.append({"kind": "fragment", "text": " ".join(words[start : start + size])})
    return out


def recall(tool: list[str], exact: list[str], band: list[str] | None = None) -> float | None:
    if not exact:
        return None
    good = set(exact) | set(band or ())
    return min(1.0, sum(1 for t in tool if t in good) / len(exact))


def agreement(rankings: list[dict], exact: list[dict], queries: list[dict], depth: int) -> dict:
    def mean(values):
        values = [v for v in values if v is not None]
        return round(float(np.mean(values)), 4) if values else None

    out: dict = {}
    for kind in ("all", "question", "fragment"):
        pick = [i for i, q in enumerate(queries) if kind == "all" or q["kind"] == kind]
        f10 = [recall(rankings[i]["fused10"], exact[i]["fused10"]) for i in pick]
        out[kind] = {
            "queries": len(pick),
            "recall@10": mean(f10),
            "queries_below_1": sum(1 for v in f10 if v is not None and v < 1),
            f"dense_recall@{depth}": mean(recall(rankings[i][f"dense{depth}"], exact[i][f"dense{depth}"])
                                          for i in pick),
            f"bm25_recall@{depth}": mean(recall(rankings[i][f"bm25{depth}"], exact[i][f"bm25{depth}"]) for i in pick),
            f"bm25_recall@{depth}_ties_equal": mean(recall(rankings[i][f"bm25{depth}"], exact[i][f"bm25{depth}"],
                                                           exact[i]["bm25_band"]) for i in pick),
            "no_bm25_candidates": sum(1 for i in pick if not exact[i][f"bm25{depth}"]),
        }
    return out


def ensure_fit(cache: Path) -> Path:
    path = cache / "scale-fit.npz"
    if not path.is_file():
        print("fitting the vector distribution to real MiniLM chunk vectors (once)", flush=True)
        print("  ", run_child("fit", {"path": str(path)}, cache), flush=True)
    return path


def run_size(target: int, args, pools: dict, fit: Path, phases: set[str]) -> dict:
    cache: Path = args.cache
    folder = cache / f"scale-{target}"
    index = folder / "index"
    meta_file = folder / "meta.json"
    embedder = FittedEmbedder.load(fit)
    want = {"target_chunks": target, "generator_version": GENERATOR_VERSION, "pools": pools_digest(pools),
            "embedder": embedder.fingerprint, "chunker": tool_chunker().settings(), "store": tool_settings()[1].kind}
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
    reuse = not args.rebuild and all(meta.get(k) == v for k, v in want.items()) and (index / "CURRENT").is_file()
    result: dict = {"target_chunks": target, "phase_seconds": {}}
    if not reuse:
        if "build" not in phases:
            raise SystemExit(f"no usable index at {index}; run with the build phase")
        print(f"[{target:,}] building the index in {index}", flush=True)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        build = run_child("build", {"cache": str(cache), "fit": str(fit), "index": str(index), "chunks": target},
                          cache)
        meta = {**want, "documents": build["documents"], "chunks": build["chunks"], "build": build,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_average": load_average()}
        meta_file.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        result["phase_seconds"]["build"] = build["process_s"]
        print(f"  built: {build['documents']:,} documents, {build['chunks']:,} chunks, {build['process_s']:.1f} s "
              f"(index {build['index_s']} s, embedding {build['embed_s']} s), peak RSS {build['vmhwm_mib']:,} MiB",
              flush=True)
    else:
        print(f"[{target:,}] reusing the index in {index} (built {meta.get('built_at')})", flush=True)
    result.update(documents=meta["documents"], chunks=meta["chunks"], build=meta["build"],
                  build_reused=reuse, index_mib=folder_mib(index))
    corpus = Corpus(pools)
    queries = make_queries(corpus, meta["documents"], args.queries)
    queries_file = folder / "queries.json"
    queries_file.write_text(json.dumps(queries), encoding="utf-8")
    digest = hashlib.sha256(queries_file.read_bytes()).hexdigest()[:16]
    common = {"cache": str(cache), "fit": str(fit), "index": str(index), "queries": str(queries_file)}
    check_clean(meta, index, common, cache)

    exact_file = folder / "exact.json"
    if "exact" in phases or "open" in phases:
        exact = json.loads(exact_file.read_text(encoding="utf-8")) if exact_file.is_file() else {}
        if exact.get("queries_digest") != digest:
            print(f"[{target:,}] exact path", flush=True)
            exact = run_child("exact", {**common, "documents": meta["documents"], "queries_digest": digest}, cache)
            exact_file.write_text(json.dumps(exact), encoding="utf-8")
            result["phase_seconds"]["exact"] = exact["process_s"]
        result["exact"] = {k: v for k, v in exact.items() if k != "rows"}
        if exact["chunks"] != meta["chunks"]:
            raise SystemExit(f"the exact path regenerated {exact['chunks']:,} chunks, the index holds "
                             f"{meta['chunks']:,}: the documents differ from the build's")

    if "open" in phases:
        started = time.perf_counter()
        print(f"[{target:,}] cold opens", flush=True)
        evicted = evict(index)
        cold = run_child("open", common, cache)
        cold["eviction"] = evicted
        warm = []
        for n in range(args.repeats):
            warm.append(run_child("open", {**common, "latency": n == 0}, cache))
        if args.profile:  # an extra warm open under cProfile (slower; not in the medians)
            profiled = run_child("open", {**common, "profile": str(folder / "open.prof")}, cache)
            print(profiled["profile"]["top_cumulative"], flush=True)
        rankings = warm[0].pop("rankings")
        settings, _ = tool_settings()
        result["open"] = {"evicted": cold, "warm": warm, **({"profiled": profiled} if args.profile else {}),
                          "warm_median": {k: round(float(np.median([w[k] for w in warm])), 3)
                                          for k in ("imports_s", "open_s", "first_query_s", "open_first_s",
                                                    "spawn_to_first_query_s", "rss_open_mib")}}
        result["latency"] = warm[0]["latency"]
        result["memory"] = {"rss_open_mib": warm[0]["rss_open_mib"], "rss_first_mib": warm[0]["rss_first_mib"],
                            "rss_after_queries_mib": warm[0]["rss_after_queries_mib"],
                            "vmhwm_mib": warm[0]["vmhwm_mib"], "rss_before_open_mib": warm[0]["rss_before_open_mib"]}
        result["agreement"] = agreement(rankings, exact["rows"], queries, settings.candidates)
        result["phase_seconds"]["open"] = round(time.perf_counter() - started, 1)
        w = result["open"]["warm_median"]
        print(f"  open+first {w['open_first_s']} s warm (evicted {cold['open_first_s']} s), RSS after open "
              f"{w['rss_open_mib']:,} MiB, p50 {result['latency']['p50_ms']} ms, p95 {result['latency']['p95_ms']} ms,"
              f" recall@10 {result['agreement']['all']['recall@10']}", flush=True)

    if "update" in phases:
        started = time.perf_counter()
        print(f"[{target:,}] add and remove {EXTRA_DOCS:,} documents", flush=True)
        add = run_child("update", {**common, "action": "add"}, cache)
        remove = run_child("update", {**common, "action": "remove"}, cache)  # check_clean covers a crash between
        result["update"] = {"add": add, "remove": remove}
        for step in (add, remove):
            if step["rebuilt_reason"]:
                print(f"  WARNING: the {step['action']} rebuilt the whole index: {step['rebuilt_reason']}", flush=True)
        result["phase_seconds"]["update"] = round(time.perf_counter() - started, 1)
        print(f"  add: {add['seconds']} s ({add['chunks_embedded']:,} chunks, embedding {add['embed_s']} s); "
              f"remove: {remove['seconds']} s", flush=True)
    result["load_average_at_end"] = load_average()
    return result


def check_clean(meta: dict, index: Path, common: dict, cache: Path) -> None:
    """An interrupted update run may have left the extra documents in: remove them, so runs are comparable."""
    from rag.index import current_snapshot, read_manifest

    documents = int(read_manifest(current_snapshot(index))["documents"])
    if documents == meta["documents"]:
        return
    if documents == meta["documents"] + EXTRA_DOCS:
        print("  removing the extra documents an interrupted run left in the index", flush=True)
        run_child("update", {**common, "action": "remove"}, cache)
        return
    raise SystemExit(f"{index} holds {documents:,} documents, the build made {meta['documents']:,}; run with "
                     "--rebuild")


# -- docs/benchmarks.md ----------------------------------------------------------------------------------


def _size(n: int) -> str:
    return f"{n // 1_000_000} M" if n % 1_000_000 == 0 else f"{n // 1000} k" if n % 1000 == 0 else f"{n:,}"


def _verdict(value, limit, *, at_most: bool = True) -> str:
    if value is None:
        return ""
    ok = value <= limit if at_most else value >= limit
    return " (**met**)" if ok else " (**missed**)"


def _get(record, *path):
    for key in path:
        if not isinstance(record, dict) or key not in record:
            return None
        record = record[key]
    return record


def docs_section(data: dict) -> str:
    """The section of docs/benchmarks.md: the method, then one column per size; targets are judged at 1 M."""
    sizes = sorted(data["sizes"].values(), key=lambda r: r["target_chunks"])
    m, versions, depth = data["machine"], data.get("versions", {}), 30
    emb = data.get("embedder") or {}
    enc = _get(emb, "encode", "p50_ms")
    lines = ["| | target (at 1 M) | " + " | ".join(f"{_size(r['target_chunks'])} ({r['chunks']:,} chunks)"
                                                   for r in sizes) + " |", "|---" * (len(sizes) + 2) + "|"]

    def row(label: str, target: str, fmt, *path, limit=None, at_most=True, extra=None) -> None:
        cells = []
        for r in sizes:
            v = _get(r, *path)
            text = "-" if v is None else fmt.format(v)
            if v is not None and limit is not None and r["target_chunks"] >= 1_000_000:
                text += _verdict(v, limit, at_most=at_most)
            if extra:
                text += extra(r)
            cells.append(text)
        lines.append(f"| {label} | {target} | " + " | ".join(cells) + " |")

    def also(fmt, *path):
        return lambda r: "; " + ("-" if _get(r, *path) is None else fmt.format(_get(r, *path)))

    def store(r) -> str:
        info = _get(r, "open", "evicted", "store") or _get(r, "build", "store") or {}
        params = info.get("params") or {}
        return (info.get("index_type", "-") + (f", {params['nlist']:,} lists, nprobe {params['nprobe']}"
                                                  if params else "")).replace("|", "/")

    t = TARGETS
    lines.append("| documents; index on disk after the build | | " + " | ".join(
        f"{r['documents']:,}; {_get(r, 'build', 'index_mib') or r.get('index_mib', 0):,.0f} MiB" for r in sizes) + " |")
    lines.append("| vector store (the tool's choice) | | " + " | ".join(store(r) for r in sizes) + " |")
    row("build: one `add_documents` (fitted embedding in it); peak RSS", "", "{} s", "build", "index_s",
        extra=lambda r: f" ({_get(r, 'build', 'embed_s')} s); {_get(r, 'build', 'vmhwm_mib'):,} MiB")
    row("imports of rag.index, rag.retriever", "", "{} s", "open", "warm_median", "imports_s")
    row("`DocumentIndex.open` + `HybridRetriever`", "", "{} s", "open", "warm_median", "open_s")
    row("first `search`", "", "{} s", "open", "warm_median", "first_query_s")
    row("**open + first query**, page cache warm", f"<= {t['open_first_s']:g} s", "{} s",
        "open", "warm_median", "open_first_s", limit=t["open_first_s"])
    row("open + first query, index evicted from the page cache", f"<= {t['open_first_s']:g} s", "{} s",
        "open", "evicted", "open_first_s", limit=t["open_first_s"])
    row("process start to first query done (interpreter, imports, open, query), warm", "", "{} s",
        "open", "warm_median", "spawn_to_first_query_s")
    row("**RSS after open** (no generator, no embedder model)", f"<= {t['rss_open_mib']:,.0f} MiB", "{:,} MiB",
        "memory", "rss_open_mib", limit=t["rss_open_mib"])
    row("RSS after the queries; peak (VmHWM)", "", "{:,} MiB", "memory", "rss_after_queries_mib",
        extra=also("{:,} MiB", "memory", "vmhwm_mib"))
    row("**hybrid `search(q, 10)` p50**; p95", f"p50 <= {t['p50_ms']:g} ms", "{} ms", "latency", "p50_ms",
        limit=t["p50_ms"], extra=also("{} ms", "latency", "p95_ms"))
    if enc is not None:
        for r in sizes:
            if _get(r, "latency", "p50_ms") is not None:
                r.setdefault("latency", {})["p50_real_embedder_ms"] = round(r["latency"]["p50_ms"] + enc, 1)
        row("p50 with the real embedder's query encoding added", f"<= {t['p50_ms']:g} ms", "{} ms",
            "latency", "p50_real_embedder_ms", limit=t["p50_ms"])
    row("**recall@10** against the exact dense + BM25 fusion", f">= {t['recall10']:g}", "{}",
        "agreement", "all", "recall@10", limit=t["recall10"], at_most=False)
    row("recall@10: questions; fragments", "", "{}", "agreement", "question", "recall@10",
        extra=also("{}", "agreement", "fragment", "recall@10"))
    row(f"dense candidates recall@{depth}; BM25 recall@{depth} (ties counted equal)", "", "{}",
        "agreement", "all", f"dense_recall@{depth}", extra=lambda r: (
            f"; {_get(r, 'agreement', 'all', f'bm25_recall@{depth}')} "
            f"({_get(r, 'agreement', 'all', f'bm25_recall@{depth}_ties_equal')})"))
    row(f"**add {EXTRA_DOCS:,} documents**, beyond embedding (whole call; chunks; fitted embedding)",
        f"<= {t['update_s']:g} s", "{} s", "update", "add", "beyond_embed_s", limit=t["update_s"],
        extra=lambda r: (f" ({_get(r, 'update', 'add', 'seconds')} s; {_get(r, 'update', 'add', 'chunks_embedded'):,}"
                         f" chunks; {_get(r, 'update', 'add', 'embed_s')} s)" if _get(r, "update") else ""))
    row(f"**remove {EXTRA_DOCS:,} documents**", f"<= {t['update_s']:g} s", "{} s", "update", "remove", "seconds",
        limit=t["update_s"])
    by_size = {r["target_chunks"]: r for r in sizes}
    growth = ""
    small, big = by_size.get(100_000), by_size.get(1_000_000)
    opens = [_get(r, "open", "warm_median", "open_s") if r else None for r in (small, big)]
    if all(opens):
        ratio = opens[1] / opens[0]
        evicted = [_get(r, "open", "evicted", "open_s") for r in (small, big)]
        growth = (f"\nCold open (`DocumentIndex.open` + retriever, page cache warm) at 1 M against 100 k: "
                  f"**{ratio:.2f}x** (target within {t['open_growth']:g}x{_verdict(ratio, t['open_growth'])}); "
                  f"with the index evicted: {evicted[1] / evicted[0]:.2f}x.\n")
    pools = data.get("pools") or {}
    repeats = ", ".join(f"{_get(r, 'build', 'sentence_repeats')} times at {_size(r['target_chunks'])}" for r in sizes
                        if _get(r, "build", "sentence_repeats") is not None) or "several times"
    notes = f"""
`{data.get("command", "bench/scale.py")}`, finished {data.get("finished_at", "")}, load average at the end
{data.get("load_average_at_end")} (`bench/results/{data.get("out", "scale")}.json`). {m.get("cpu")},
{m.get("cores")} cores, {"/".join(m.get("flags", []))}, {m.get("memory_gib")} GiB; Python {m.get("python")},
faiss {versions.get("faiss")}, bm25s {versions.get("bm25s")}, numpy {versions.get("numpy")}.

- Texts: {pools.get("quoref", 0):,} Quoref and {pools.get("pydocs", 0):,} Python-docs sentences (`pydoc_data.topics`
  and the stdlib's docstrings as installed here), split by the tool's sentence splitter, shuffled with a fixed
  seed into documents of {DOC_WORDS[0]:,}-{DOC_WORDS[1]:,} words (~10 chunks each), half from each source. A
  sentence appears on average {repeats}, so BM25 has more near-ties than a real corpus would.
- Vectors: `FittedEmbedder` draws each text's vector from a Gaussian with the mean and covariance of
  {FIT_CHUNKS:,} real MiniLM chunk vectors, seeded by the text's hash (as `bench/store_real.py`): ~30 us a
  text. Queries use it too. The real bundled embedder adds {enc} ms p50 to encoding a query and
  {emb.get("rss_added_mib")} MiB of memory once loaded (torch, sentence-transformers, ONNX Runtime; measured
  in its own process, not in the table).
- Each size is built once with one `Indexer.add_documents` call and the tool's default settings (the store
  picks exact or IVF-SQ8 by size; chunks of <=120 words, 1-sentence overlap) and reused by later runs.
- Every measurement is a fresh Python process. "Page cache warm": the index's files were read recently (median
  of {len(_get(sizes[-1], "open", "warm") or [])} processes); "evicted": only the index's own files were dropped
  from the page cache first (`posix_fadvise` DONTNEED, checked with fincore); Python and its libraries stay cached.
- Latency: `HybridRetriever.search(q, 10)` after the first query, {data.get("queries")} queries (half real Quoref
  questions, half 4-8-word fragments of the first documents' sentences), one pass, no generator.
- Exact path (`exact` phase): brute-force inner product over every chunk's vector, regenerated in blocks, and
  bm25s with its defaults (k1 1.5, b 0.75, Lucene idf, as `rag/bm25.py` builds it) over the same chunks tokenised
  by `rag.bm25.bm25_tokens`; top {depth} of each, fused by weighted RRF with the retriever's settings (k 10, BM25
  weight 3). Chunks are matched by document id and ordinal; nothing of the tool's index is read. "Ties counted
  equal": a BM25 candidate whose exact score equals the exact {depth}th's counts as agreeing.
- Updates: {EXTRA_DOCS:,} new documents in one `add_documents`, then the same {EXTRA_DOCS:,} removed with one
  `remove_documents` (which restores the index's contents for the next run), each in a fresh process; the fitted
  embedder's time inside the call is subtracted. The real embedder would add ~13 ms a chunk on this machine
  (75.8 chunks/s on Quoref, above), which the target leaves out.
"""
    return HEADING + "\n" + notes + growth + "\n" + "\n".join(lines) + "\n"


def write_docs(data: dict, path: Path) -> None:
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    section = docs_section(data)
    start = text.find(HEADING)
    if start >= 0:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + ("\n" + text[end + 1 :] if end >= 0 else "")
    else:
        targets = text.find("\n## Targets")
        text = (text[: targets + 1] + section + "\n" + text[targets + 1 :] if targets >= 0
                else text.rstrip("\n") + "\n\n" + section)
    path.write_text(text, encoding="utf-8")


# -- main ------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", default="100000,1000000", help="index sizes in chunks, comma-separated")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/rag-bench"))
    ap.add_argument("--quoref", type=Path, default=QUOREF, help="the Quoref BEIR folder (corpus.jsonl, queries.jsonl)")
    ap.add_argument("--rebuild", action="store_true", help="build the indexes again even if cached")
    ap.add_argument("--phases", default="build,exact,open,update,embedder")
    ap.add_argument("--repeats", type=int, default=3, help="warm cold-process opens per size")
    ap.add_argument("--profile", action="store_true",
                    help="one more warm open under cProfile: <cache>/scale-N/open.prof and the top entries")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", default="scale", help="bench/results/OUT.json (merged by size, and by phase while "
                                                  "the index is reused)")
    ap.add_argument("--docs", type=Path, default=DOCS, help="the benchmarks file to write the section into")
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.child:
        params = json.loads(args.params)
        result = CHILDREN[args.child](params)
        Path(params["result"]).write_text(json.dumps(result), encoding="utf-8")
        return

    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    os.environ["SCALE_BENCH_QUOREF"] = str(args.quoref.resolve())
    args.cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pools = sentence_pools(args.cache)
    fit = ensure_fit(args.cache)
    out_file = RESULTS / f"{args.out}.json"
    data = json.loads(out_file.read_text(encoding="utf-8")) if out_file.is_file() else {}
    data.setdefault("sizes", {})
    import bm25s
    import faiss

    data.update(versions={"faiss": faiss.__version__, "bm25s": bm25s.__version__, "numpy": np.__version__},
                pools={k: len(v) for k, v in pools.items()}, queries=args.queries, out=args.out,
                command="bench/scale.py " + " ".join(sys.argv[1:]), targets=TARGETS)
    if "embedder" in phases:
        corpus = Corpus(pools)
        qfile = args.cache / "scale-embedder-queries.json"
        qfile.write_text(json.dumps(make_queries(corpus, FRAGMENT_DOCS, min(args.queries, 100))), encoding="utf-8")
        print("real embedder: memory and query encoding", flush=True)
        data["embedder"] = run_child("embedder", {"queries": str(qfile)}, args.cache)
        print("  ", data["embedder"], flush=True)
    for target in sorted(int(c) for c in args.chunks.split(",")):
        result = run_size(target, args, pools, fit, phases)
        old = data["sizes"].get(str(target), {})
        if result["build_reused"]:  # phases not run this time keep their last figures on the same index
            result = {**old, **result, "phase_seconds": {**old.get("phase_seconds", {}), **result["phase_seconds"]}}
        data["sizes"][str(target)] = result
        data.pop("machine", None)
        data.pop("finished_at", None)
        data.pop("load_average_at_end", None)
        path = write_result(args.out, data)
        data = json.loads(path.read_text(encoding="utf-8"))
        if not args.no_docs:
            write_docs(data, args.docs)
    print(f"done in {time.perf_counter() - started:.0f} s: {RESULTS / (args.out + '.json')}"
          + ("" if args.no_docs else f", {args.docs}"), flush=True)


if __name__ == "__main__":
    main()
