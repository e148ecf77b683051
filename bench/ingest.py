"""Ingest throughput and where the time goes; re-index of an unchanged corpus and of one with 1% changed.

Corpora: the Python 3.11 documentation (Debian's python3.11-doc, 530 HTML pages; copied to a scratch folder
so 1% of it can be edited) or Quoref (BEIR corpus.jsonl, added as documents). Phases:
  load    read + parse every file, serially and in a process pool (``--workers``), no index
  full    the complete index through ``Indexer`` (embedding timed separately inside it)
  same    re-index of the unchanged corpus
  1pct    re-index after appending a paragraph to 1% of the documents
Usage: .venv/bin/python bench/ingest.py [--corpus pydocs|quoref] [--limit N] [--workers 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYDOCS, QUOREF, TimingEmbedder, load_average, write_result  # noqa: E402

from embeddings.encoder import SentenceTransformerEmbedder  # noqa: E402
from rag.chunker import SentenceChunker  # noqa: E402
from rag.index import Indexer  # noqa: E402
from rag.loaders import SkippedFile, discover_files  # noqa: E402
from rag.parallel import ProcessExecutor, load_documents  # noqa: E402


def phase(name: str, fn):
    load = load_average()
    t = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - t
    print(f"{name}: {seconds:.1f}s load {load}", flush=True)
    return value, seconds, load


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", choices=["pydocs", "quoref"], default="pydocs")
    ap.add_argument("--limit", type=int, default=0, help="only the first N documents")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rag-ingest-"))
    embedder = TimingEmbedder(SentenceTransformerEmbedder())
    embedder.inner.encode(["warm up"])  # loading the model (and the one-time ONNX export) is not ingest
    embedder.seconds = 0.0
    chunker = SentenceChunker()
    result: dict = {"corpus": args.corpus, "workers": args.workers}
    try:
        if args.corpus == "pydocs":
            src = work / "html"
            shutil.copytree(PYDOCS, src, symlinks=True)
            files = [f for f in discover_files([src]) if not isinstance(f, SkippedFile)]
            if args.limit:
                keep = {f for f, _ in files[: args.limit]}
                for f, _ in files[args.limit :]:
                    f.unlink()
                files = [f for f in files if f[0] in keep]
            docs, serial_s, load1 = phase("load serial", lambda: [d for d in load_documents(files)
                                                                  if not isinstance(d, Exception)])
            pool = ProcessExecutor(args.workers)
            try:
                _, pool_s, load2 = phase(f"load {args.workers} processes", lambda: list(load_documents(files, pool)))
            finally:
                pool.close()
            result["load"] = {"files": len(files), "documents": len(docs), "serial_s": round(serial_s, 2),
                              "processes_s": round(pool_s, 2), "load_avg": [load1, load2]}
        else:
            from eval.beir import load_corpus

            docs, serial_s, _ = phase("load", lambda: load_corpus(QUOREF))
            if args.limit:
                docs = docs[: args.limit]
            result["load"] = {"documents": len(docs), "serial_s": round(serial_s, 2)}
        words = sum(len(d.text.split()) for d in docs)
        chunks, chunk_s, _ = phase("chunk", lambda: [c for d in docs for c in chunker.chunk(d)])
        result["words"], result["chunk_s"], result["chunks"] = words, round(chunk_s, 2), len(chunks)

        indexer = Indexer(work / "index", embedder, chunker, progress=False)
        if args.corpus == "pydocs":
            run = lambda: indexer.index_paths([src])  # noqa: E731
        else:
            run = lambda: indexer.add_documents(docs, root="quoref")  # noqa: E731
        report, full_s, load_full = phase("full index", run)
        result["full"] = {"seconds": round(full_s, 1), "chunks_embedded": report.chunks_embedded,
                          "embed_s": round(embedder.seconds, 1), "load_avg": load_full,
                          "docs_per_s": round(len(docs) / full_s, 2),
                          "chunks_per_s": round(report.chunks_embedded / full_s, 1),
                          "embed_chunks_per_s": round(report.chunks_embedded / embedder.seconds, 1),
                          "other_s": round(full_s - embedder.seconds - (serial_s if args.corpus == "pydocs" else 0)
                                           - chunk_s, 1)}
        embedder.seconds = 0.0
        # An unchanged corpus, then 1% of documents changed.
        report, same_s, load_same = phase("re-index unchanged", run)
        result["unchanged"] = {"seconds": round(same_s, 2), "chunks_embedded": report.chunks_embedded,
                               "fraction_of_full": round(same_s / full_s, 4), "load_avg": load_same}
        n_change = max(1, len(docs) // 100)
        if args.corpus == "pydocs":
            time.sleep(2.1)  # beyond the racy-mtime margin of the first index
            for f, _ in files[:: max(1, len(files) // n_change)][:n_change]:
                html = f.read_text(encoding="utf-8")
                f.write_text(html.replace("</body>", "<p>An added paragraph for the benchmark.</p></body>", 1),
                             encoding="utf-8")
        else:
            from dataclasses import replace

            for i in range(0, len(docs), max(1, len(docs) // n_change))[:n_change]:
                d = docs[i]
                text = d.text + "\n\nAn added paragraph for the benchmark."
                docs[i] = replace(d, text=text, content_hash=f"changed-{d.content_hash}")
        report, one_s, load_one = phase("re-index 1% changed", run)
        result["one_percent"] = {"changed_documents": n_change, "updated": len(report.updated),
                                 "seconds": round(one_s, 2), "chunks_embedded": report.chunks_embedded,
                                 "embed_s": round(embedder.seconds, 2), "fraction_of_full": round(one_s / full_s, 4),
                                 "load_avg": load_one}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    path = write_result(args.out or f"ingest_{args.corpus}", result)
    print(path, result)


if __name__ == "__main__":
    main()
