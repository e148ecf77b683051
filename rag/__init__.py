"""Local, offline question answering over your documents with verified citations."""

from rag.types import Answer, Chunk, Citation, Document, Hit

__all__ = ["Answer", "Chunk", "Citation", "Document", "Hit"]
__version__ = "0.1.0"
