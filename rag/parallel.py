"""Ordered parallel map over processes on this machine or a Ray cluster, for ingest and batch.

Every executor returns results in input order, so a parallel run writes exactly what the serial run writes.
``make_executor(workers=1)`` is the plain in-process loop. ``workers>1`` uses a process pool (forkserver, so
children never inherit the parent's torch/OpenMP threads). ``ray_address`` ("auto", "local" or
"ray://host:10001") sends the work to Ray tasks; workers there need this package installed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from rag.errors import ClusterError
from rag.loaders import LoadError, LoadLimits, load_document
from rag.types import Document

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    kind: str
    workers: int

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        """fn over items, results in input order, yielded as they become available."""

    def close(self) -> None: ...


class SerialExecutor:
    kind = "serial"
    workers = 1

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        return map(fn, items)

    def close(self) -> None:
        pass


class ProcessExecutor:
    kind = "processes"

    def __init__(self, workers: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()):
        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"),
                                         initializer=initializer, initargs=initargs)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        # Small chunks keep the ordered stream flowing; big enough to amortise pickling.
        chunksize = max(1, min(16, len(items) // (self.workers * 8) or 1))
        return self._pool.map(fn, items, chunksize=chunksize)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    kind = "ray"

    def __init__(self, address: str, workers: int = 0, initializer: Callable[..., None] | None = None,
                 initargs: tuple = ()):
        try:
            import ray
        except ImportError as exc:
            raise ClusterError("--ray needs Ray installed: pip install 'rag-seeds[ray]'") from exc
        self._ray = ray
        if not ray.is_initialized():
            root = str(Path(__file__).resolve().parent.parent)
            runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [root,
                                                                                  os.environ.get("PYTHONPATH")]))}}
            kwargs: dict[str, Any] = {"runtime_env": runtime_env, "log_to_driver": False}
            if address not in ("local", ""):
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = workers or os.cpu_count()
                kwargs["include_dashboard"] = False
            ray.init(**kwargs)
            self._owns = True
        else:
            self._owns = False
        self.workers = workers or int(ray.available_resources().get("CPU", 1))
        self._initializer, self._initargs = initializer, initargs

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        ray = self._ray
        remote = ray.remote(_ray_call)
        # A bounded window of tasks in flight keeps memory flat on long runs; results come back in order.
        window = max(2, self.workers * 2)
        pending: list[Any] = []
        for item in items:
            pending.append(remote.remote(fn, item, self._initializer, self._initargs))
            if len(pending) >= window:
                yield ray.get(pending.pop(0))
        for ref in pending:
            yield ray.get(ref)

    def close(self) -> None:
        if self._owns:
            self._ray.shutdown()


_initialised: set[Any] = set()


def _ray_call(fn: Callable[[Any], Any], item: Any, initializer: Callable[..., None] | None, initargs: tuple) -> Any:
    if initializer is not None and (initializer, initargs) not in _initialised:
        initializer(*initargs)
        _initialised.add((initializer, initargs))
    return fn(item)


def make_executor(workers: int = 1, ray_address: str = "", *, initializer: Callable[..., None] | None = None,
                  initargs: tuple = ()) -> Executor:
    if ray_address:
        return RayExecutor(ray_address, workers if workers > 1 else 0, initializer, initargs)
    if workers > 1:
        return ProcessExecutor(workers, initializer, initargs)
    if initializer is not None:
        initializer(*initargs)
    return SerialExecutor()


# -- ingest: loading files ------------------------------------------------------------------------


def _load_one(item: tuple[Path, str, LoadLimits | None]) -> Document | tuple[str, str]:
    file, doc_id, limits = item
    try:
        return load_document(file, doc_id, limits)
    except LoadError as exc:  # LoadError does not pickle; send its parts back
        return (exc.path, exc.reason)


def load_documents(files: Sequence[tuple[Path, str]], executor: Executor | None = None,
                   limits: LoadLimits | None = None) -> Iterable[Document | LoadError]:
    """Load files in input order; a file that cannot be loaded comes back as its LoadError."""
    runner = executor or SerialExecutor()
    for result in runner.map(_load_one, [(file, doc_id, limits) for file, doc_id in files]):
        yield result if isinstance(result, Document) else LoadError(result[0], result[1])


# -- ingest: embedding ----------------------------------------------------------------------------

_worker_embedder: Any = None


def _init_embedder(name: str, batch_size: int, fingerprint: str, backend: str = "onnx") -> None:
    global _worker_embedder
    from embeddings.encoder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(name, batch_size, backend)
    if embedder.fingerprint != fingerprint:
        raise ClusterError(f"this worker's embedder {embedder.fingerprint} differs from the indexer's {fingerprint}")
    _worker_embedder = embedder


def _embed_batch(texts: list[str]) -> Any:
    return _worker_embedder.encode(texts)


def embed_texts(embedder: Any, batches: Sequence[list[str]], ray_address: str = "") -> Iterator[Any]:
    """Vectors for each batch of texts, in order: locally, or on Ray workers that load the same embedder."""
    if not ray_address:
        for texts in batches:
            yield embedder.encode(texts)
        return
    executor = make_executor(0, ray_address, initializer=_init_embedder,
                             initargs=(getattr(embedder, "name", "bundled"), getattr(embedder, "batch_size", 32),
                                       embedder.fingerprint, getattr(embedder, "backend", "onnx")))
    try:
        yield from executor.map(_embed_batch, list(batches))
    finally:
        executor.close()
