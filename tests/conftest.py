"""Shared fixtures: the real bundled embedder, a seeds index, and the real generators (loaded once)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
ARTIFACTS = ROOT / "test-artifacts"

# A test that needs one of these loads a real bundled model (directly or through another fixture).
MODEL_FIXTURES = {"embedder", "qwen_generator", "smollm2_path"}


def pytest_collection_modifyitems(config, items):
    """The fast tier is `pytest -m "not slow"`: fakes only (tests/fakes.py). Every test that loads a real model
    or starts Ray or Milvus Lite is marked slow here, from the fixtures and markers it uses, so nobody has to
    remember the marker."""
    for item in items:
        if (MODEL_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("ray")
                or item.get_closest_marker("milvus")):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def embedder():
    from embeddings.encoder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def seeds_copy(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seeds")
    for f in SEEDS.iterdir():
        shutil.copy(f, folder / f.name)
    return folder


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory, seeds_copy):
    from rag.settings import load_settings

    return load_settings({"index_dir": tmp_path_factory.mktemp("index") / "idx", "seeds_dir": seeds_copy})


@pytest.fixture(scope="session")
def seed_pipeline(seed_settings, embedder):
    """Seeds indexed with the real embedder; generator not loaded unless a test asks."""
    from rag.pipeline import RagPipeline

    pipeline = RagPipeline(seed_settings, embedder=embedder, progress=False)
    pipeline.ensure_index()
    return pipeline


@pytest.fixture(scope="session")
def qwen_generator(seed_settings):
    """The real default generator: Qwen2.5-Coder-1.5B-Instruct Q4_K_M via llama.cpp."""
    from rag.generation import build_generator

    return build_generator(seed_settings, progress=False)


@pytest.fixture(scope="session")
def qwen_pipeline(seed_settings, embedder, qwen_generator):
    from rag.pipeline import RagPipeline

    pipeline = RagPipeline(seed_settings, embedder=embedder, generator=qwen_generator, progress=False)
    pipeline.ensure_index()
    return pipeline


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from rag.generation.model_assets import smollm2_gguf

    return smollm2_gguf()


def copy_seeds(folder: Path) -> Path:
    """A private, writable copy of the seed documents in ``folder``."""
    folder.mkdir()
    for f in sorted(SEEDS.iterdir()):
        shutil.copy(f, folder / f.name)
    return folder
