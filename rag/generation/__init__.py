"""Generators behind one interface, and the factory that builds the configured one."""

from __future__ import annotations

from rag.generation.base import ChatMessage, Generation, GenerationParams, Generator, GeneratorError
from rag.settings import Settings


def build_generator(settings: Settings, *, progress: bool = True) -> Generator:
    """The generator the settings ask for. Models load lazily, on first use."""
    if settings.generator == "llama_cpp":
        from rag.generation.llama_cpp_backend import LlamaCppGenerator
        from rag.generation.model_assets import ensure_default_gguf

        path = settings.gguf_path or ensure_default_gguf(settings.model_cache_dir, progress=progress)
        return LlamaCppGenerator(path, n_ctx=settings.n_ctx, n_threads=settings.n_threads, seed=settings.seed,
                                 prompt_lookup_tokens=settings.prompt_lookup_tokens)
    if settings.generator == "openai":
        from rag.generation.openai_backend import OpenAICompatibleGenerator

        return OpenAICompatibleGenerator(settings.openai_base_url, settings.openai_model, settings.openai_api_key)
    if settings.generator == "transformers":
        from rag.generation.transformers_backend import TransformersGenerator

        if settings.hf_model_dir is None:
            raise GeneratorError("the transformers backend needs hf_model_dir (a local model folder)")
        return TransformersGenerator(settings.hf_model_dir)
    raise GeneratorError(f"unknown generator {settings.generator!r}")


__all__ = ["ChatMessage", "Generation", "GenerationParams", "Generator", "GeneratorError", "build_generator"]
