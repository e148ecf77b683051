"""Which store an index uses: built from Settings, recorded in the manifest, reopened from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rag.settings import STORE_CHOICES
from rag.stores.base import StoreError, VectorStore
from rag.stores.faiss_store import FaissPolicy, FaissStore

MILVUS_LITE_FILE = "milvus.db"


@dataclass(frozen=True)
class StoreConfig:
    kind: str = "faiss"
    faiss: FaissPolicy = field(default_factory=FaissPolicy)
    milvus_uri: str = ""  # "" = Milvus Lite in <index_dir>/milvus.db; http(s)://host:19530 for a cluster
    milvus_token: str = ""
    milvus_index: str = "AUTOINDEX"
    milvus_prefix: str = "rag"

    def __post_init__(self) -> None:
        if self.kind not in STORE_CHOICES:
            raise StoreError(f"store must be one of {', '.join(STORE_CHOICES)}, not {self.kind!r}")

    @classmethod
    def from_settings(cls, s) -> StoreConfig:
        return cls(kind=s.store, faiss=FaissPolicy(index_type=s.faiss_index, flat_max=s.faiss_flat_max,
                                                   nprobe=s.faiss_nprobe, ivf_codec=s.faiss_ivf_codec),
                   milvus_uri=s.milvus_uri, milvus_token=s.milvus_token, milvus_index=s.milvus_index)

    def milvus_uri_for(self, index_dir: Path) -> str:
        return self.milvus_uri or str(Path(index_dir) / MILVUS_LITE_FILE)


def create_store(config: StoreConfig, dimension: int, index_dir: Path) -> VectorStore:
    if config.kind == "milvus":
        from rag.stores.milvus_store import MilvusStore

        return MilvusStore(dimension, config.milvus_uri_for(index_dir), token=config.milvus_token,
                           index_type=config.milvus_index, prefix=config.milvus_prefix)
    return FaissStore(dimension, policy=config.faiss)


def load_store(info: dict, gen: Path, dimension: int, config: StoreConfig, *,
               readonly: bool = False) -> VectorStore:
    """Reopen the store a generation's manifest describes (its kind wins over the configured one). A
    ``readonly`` store is for searching only: FAISS maps its file instead of reading it."""
    kind = info.get("kind")
    if kind == "faiss":
        return FaissStore.load(gen, dimension, config.faiss, info, mmap=readonly)
    if kind == "milvus":
        from rag.stores.milvus_store import MilvusStore

        return MilvusStore.load(gen, dimension, config.milvus_uri_for(gen.parent), token=config.milvus_token,
                                index_type=config.milvus_index, prefix=config.milvus_prefix)
    raise StoreError(f"unknown vector store kind {kind!r}")


def release_snapshot(gen: Path, keep: Path | None, config: StoreConfig) -> None:
    """Free what a snapshot about to be deleted holds outside its folder (a Milvus collection)."""
    from rag.stores.milvus_store import MARKER_FILE, MilvusStore

    if (gen / MARKER_FILE).is_file():
        MilvusStore.drop_saved(gen, config.milvus_uri_for(gen.parent), config.milvus_token, keep=keep)
