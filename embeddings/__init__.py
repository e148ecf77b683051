"""Bundled embedding model resolution and the sentence encoder."""

from embeddings.encoder import Embedder, SentenceTransformerEmbedder, resolve_model_path

__all__ = ["Embedder", "SentenceTransformerEmbedder", "resolve_model_path"]
