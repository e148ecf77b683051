"""FAISS store, persisted with faiss' own format (no pickle). The index type follows the collection's size.

Up to ``flat_max`` vectors the store is exact (``IndexIDMap2(IndexFlatIP)``). Past it, ``save`` retrains the
vectors into an inverted-file index (inner product, ``nlist`` ~ 4 sqrt(n) lists) that keeps ids addressable,
so removal still works; ``nprobe`` lists are scanned per query. The lists hold 8-bit scalar-quantized
residuals by default (``IndexIVFScalarQuantizer``, a quarter of the memory and half the scan time of full
vectors) or full float vectors (``ivf_codec="flat"``). The thresholds come from ``bench/store_scaling.py``
and ``bench/store_real.py`` (docs/benchmarks.md); the chosen type and parameters go into the manifest.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from rag.stores.base import StoreError, checked_ids

log = logging.getLogger(__name__)

VECTORS_FILE = "vectors.faiss"
FLAT_TYPE = "IndexIDMap2(IndexFlatIP)"
IVF_TYPES = {"sq8": "IndexIVFScalarQuantizer(SQ8, IP)", "flat": "IndexIVFFlat(IP)"}
INDEX_TYPES = ("auto", "flat", "ivf")
# Scan 3/16 of the lists: with SQ8 codes, recall@10 0.962 at p50 7.6 ms on 1 M vectors drawn from the real
# MiniLM distribution, on one thread (1/8 gave 0.943); docs/decisions.md, "IVF lists hold SQ8 codes".
NPROBE_SHARE = 3 / 16


@dataclass(frozen=True)
class FaissPolicy:
    """How the store picks its index. ``index_type``: auto (by size), flat (always exact) or ivf."""

    index_type: str = "auto"
    flat_max: int = 50_000  # exact search p50 passes ~2 ms here on 2 cores (bench/store_scaling.py)
    nprobe: int = 0  # lists scanned per query; 0 = NPROBE_SHARE of the lists (see probes_for)
    nlist: int = 0  # 0 = 4 * sqrt(n), rounded to a power of two
    retrain_growth: float = 4.0  # retrain an IVF index once it holds this many times what it was trained on
    ivf_codec: str = "sq8"  # how IVF lists store vectors: sq8 (8-bit residuals) | flat (float32)

    def __post_init__(self) -> None:
        if self.index_type not in INDEX_TYPES:
            raise StoreError(f"faiss index type must be one of {', '.join(INDEX_TYPES)}, not {self.index_type!r}")
        if self.ivf_codec not in IVF_TYPES:
            raise StoreError(f"faiss IVF codec must be one of {', '.join(IVF_TYPES)}, not {self.ivf_codec!r}")

    def wants_ivf(self, count: int) -> bool:
        if self.index_type == "flat":
            return False
        if self.index_type == "ivf":
            return count >= 2  # k-means needs points; a tiny IVF is still correct
        return count > self.flat_max

    def probes_for(self, nlist: int) -> int:
        if self.nprobe:
            return max(1, min(self.nprobe, nlist))
        return max(1, min(nlist, max(16, round(nlist * NPROBE_SHARE))))

    def lists_for(self, count: int) -> int:
        if self.nlist:
            return max(1, min(self.nlist, count))
        target = 4 * math.sqrt(max(count, 1))
        return max(1, min(count, 2 ** round(math.log2(max(target, 1)))))


class FaissStore:
    kind = "faiss"

    def __init__(self, dimension: int, index: faiss.Index | None = None, policy: FaissPolicy | None = None,
                 trained_on: int = 0):
        self.dimension = dimension
        self.policy = policy or FaissPolicy()
        self._index = index if index is not None else _flat(dimension)
        self._trained_on = trained_on
        ivf = self.ivf()
        if ivf is not None:
            ivf.nprobe = self.policy.probes_for(ivf.nlist)
            self._trained_on = trained_on or len(self)

    @classmethod
    def load(cls, directory: Path, dimension: int, policy: FaissPolicy | None = None,
             info: dict | None = None, *, mmap: bool = False) -> FaissStore:
        """With ``mmap`` the file is mapped, not read: opening costs the same at any size and the pages load as
        searches touch them. Such a store is for searching only."""
        path = Path(directory) / VECTORS_FILE
        if not path.is_file():
            raise StoreError(f"vector file missing: {path}")
        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if mmap else 0)
        except RuntimeError as exc:
            raise StoreError(f"vector file {path} is truncated or not a FAISS index ({exc})") from None
        if index.d != dimension:
            raise StoreError(f"vector file {path} holds {index.d}-d vectors, the manifest says {dimension}")
        params = (info or {}).get("params") or {}
        return cls(dimension, index, policy, trained_on=int(params.get("trained_on", 0)))

    @property
    def index_type(self) -> str:
        ivf = self.ivf()
        if ivf is None:
            return FLAT_TYPE
        # An index keeps the codec it was built with until it is retrained, whatever the policy says now.
        return IVF_TYPES["sq8" if isinstance(faiss.downcast_index(self._index), faiss.IndexIVFScalarQuantizer)
                         else "flat"]

    def ivf(self) -> faiss.IndexIVF | None:
        return faiss.try_extract_index_ivf(self._index)

    def add(self, ids: np.ndarray, vectors: np.ndarray, texts: Sequence[str] | None = None) -> None:
        """Texts are not kept: the index keeps its own BM25 next to a FAISS store."""
        ids = checked_ids(ids, self.dimension, vectors)
        if len(ids) == 0:
            return
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def remove(self, ids: np.ndarray) -> int:
        ids = checked_ids(ids, self.dimension)
        if len(ids) == 0:
            return 0
        # One thread: the scan is memory-bound, and OpenMP's start-up costs 10x the work per call (7.9 vs
        # 0.73 ms for one id over 200 k IVF-SQ8 vectors, bench/scale.py notes).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))
        finally:
            faiss.omp_set_num_threads(threads)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        if len(self) == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        params = None
        if allowed is not None:
            allowed = checked_ids(allowed, self.dimension)
            if len(allowed) == 0:
                return []
            k = min(k, len(allowed))
            selector = faiss.IDSelectorBatch(allowed)
            ivf = self.ivf()
            # IVF search parameters replace the index's own, so its nprobe is carried over.
            params = (faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe) if ivf is not None
                      else faiss.SearchParameters(sel=selector))
        # One query runs on one thread: OpenMP's barrier across 2 threads costs more than the scan saves, and
        # on a busy machine it turns 0.3 ms into 50 ms (bench/store_scaling.py, docs/decisions.md).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(q, min(k, len(self)), params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def lexical(self) -> None:
        return None  # no texts here: the index keeps its BM25 in its own files

    def __len__(self) -> int:
        return int(self._index.ntotal)

    # -- choosing the index type ------------------------------------------------------------------

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, vectors) held, in no particular order. From SQ8 lists they are the decoded codes (mean
        cosine to the originals above 0.9999), which is what retraining and a return to exact search use."""
        ivf = self.ivf()
        if ivf is None:
            flat = faiss.downcast_index(self._index.index)
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            return ids, faiss.vector_to_array(flat.codes).view(np.float32).reshape(-1, self.dimension)
        invlists = ivf.invlists
        all_ids, all_codes = [], []
        for lst in range(ivf.nlist):
            n = invlists.list_size(lst)
            if n == 0:
                continue
            all_ids.append(faiss.rev_swig_ptr(invlists.get_ids(lst), n).copy())
            all_codes.append(faiss.rev_swig_ptr(invlists.get_codes(lst), n * invlists.code_size).copy())
        if not all_ids:
            return np.zeros(0, np.int64), np.zeros((0, self.dimension), np.float32)
        ids = np.concatenate(all_ids)
        if self.index_type == IVF_TYPES["flat"]:
            return ids, np.concatenate(all_codes).view(np.float32).reshape(-1, self.dimension)
        # Residual codes decode only with their list's centroid: let faiss do it through a temporary id map.
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        try:
            return ids, ivf.reconstruct_batch(ids)
        finally:
            ivf.set_direct_map_type(faiss.DirectMap.NoMap)

    def optimize(self) -> None:
        """Re-pick the index type for the current size: exact below the threshold, IVF above it, and retrain
        an IVF index that has grown well past the data it was trained on."""
        count = len(self)
        ivf = self.ivf()
        want_ivf = self.policy.wants_ivf(count)
        if ivf is None and not want_ivf:
            return
        grown = count > self.policy.retrain_growth * max(self._trained_on, 1)
        same_codec = self.index_type == IVF_TYPES[self.policy.ivf_codec]
        if ivf is not None and want_ivf and same_codec and not grown:
            return
        ids, vecs = self.vectors()
        if not want_ivf:
            log.info("faiss store: %d vectors, back to exact search", count)
            index = _flat(self.dimension)
            index.add_with_ids(np.ascontiguousarray(vecs), ids)
            self._index, self._trained_on = index, 0
            return
        nlist = self.policy.lists_for(count)
        log.info("faiss store: %d vectors, training IVF (%s) with %d lists", count, self.policy.ivf_codec, nlist)
        quantizer = faiss.IndexFlatIP(self.dimension)
        if self.policy.ivf_codec == "sq8":
            index = faiss.IndexIVFScalarQuantizer(quantizer, self.dimension, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                  faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFFlat(quantizer, self.dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = 1234
        sample = vecs
        cap = nlist * 64  # enough points per centroid for stable lists, bounded training time
        if len(vecs) > cap:
            sample = vecs[np.random.default_rng(0).choice(len(vecs), cap, replace=False)]
        index.train(np.ascontiguousarray(sample))
        index.add_with_ids(np.ascontiguousarray(vecs), ids)
        index.nprobe = self.policy.probes_for(nlist)
        quantizer.this.disown()  # owned by the IVF index from here on
        index.own_fields = True
        self._index, self._trained_on = index, count

    def describe(self) -> dict[str, object]:
        info: dict[str, object] = {"kind": self.kind, "index_type": self.index_type, "count": len(self)}
        ivf = self.ivf()
        if ivf is not None:
            info["params"] = {"nlist": int(ivf.nlist), "nprobe": int(ivf.nprobe), "trained_on": self._trained_on}
        info["policy"] = {"index_type": self.policy.index_type, "flat_max": self.policy.flat_max,
                          "ivf_codec": self.policy.ivf_codec}
        return info

    def save(self, directory: Path) -> dict[str, object]:
        self.optimize()
        path = Path(directory) / VECTORS_FILE
        tmp = path.with_suffix(".tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return self.describe()


def _flat(dimension: int) -> faiss.Index:
    # IDMap2 keeps ids addressable for removal and lets the vectors be read back for retraining.
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
