"""Memory of settings variants (issue 16): the page's per-request settings (top-k, model) used to build a new
pipeline per variant, each loading its own copy of the index; ``RagPipeline.variant`` shares the loaded models
and the loaded index snapshot. This measures process RSS after one pipeline has searched, then after three
variants have searched too, both ways, each in its own fresh process, over the Quoref corpus (2,942 passages,
so the index is large enough to see). No generator is loaded (it was shared both ways already).
Usage: .venv/bin/python bench/variant_memory.py        (runs both modes; ~5 min the first time: indexing)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUOREF, rss_mib, write_result  # noqa: E402

TOP_KS = (3, 7, 10)  # three variants, as the page makes them
INDEX_DIR = Path(__file__).resolve().parent / "results" / ".variant-memory-index"


def measure(mode: str) -> dict:
    from eval.beir import load_corpus
    from rag.pipeline import RagPipeline
    from rag.settings import load_settings

    base = RagPipeline(load_settings({"index_dir": INDEX_DIR}), progress=False)
    if not (INDEX_DIR / "CURRENT").is_file():
        base.add_documents(load_corpus(QUOREF), root=str(QUOREF))
    query = "Who was the band's lead singer?"
    base.search(query)
    one = rss_mib()
    for k in TOP_KS:
        settings = base.settings.replace(top_k=k)
        # "separate" is what the page did before: a new pipeline sharing only the embedder.
        variant = base.variant(settings) if mode == "variant" else RagPipeline(settings, embedder=base.embedder,
                                                                                progress=False)
        variant.search(query)
        globals().setdefault("_keep", []).append(variant)  # the page keeps up to four variants alive
    return {"mode": mode, "chunks": len(base.index.chunks), "rss_one_mib": round(one, 1),
            "rss_four_mib": round(rss_mib(), 1), "ratio": round(rss_mib() / one, 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["variant", "separate"])
    args = ap.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode)))
        return
    rows = []
    for mode in ("separate", "variant", "separate", "variant"):  # the first run also builds the index
        out = subprocess.run([sys.executable, __file__, "--mode", mode], check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1])
    result = {"runs": rows[2:], "first_runs_discarded": rows[:2],
              "note": "RSS after one pipeline searched, then after three more settings variants searched (top_k "
                      f"{', '.join(map(str, TOP_KS))}); fresh process per mode; Quoref corpus"}
    print(write_result("variant_memory", result))


if __name__ == "__main__":
    main()
