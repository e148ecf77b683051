"""An answer's provenance: what made it, so that it can be reproduced or audited later."""

from __future__ import annotations

from rag.generation.model_assets import generator_provenance
from rag.settings import Settings
from rag.types import Prepared


def answer_provenance(settings: Settings, snapshot: str, embedder_fingerprint: str, generator: dict[str, object],
                      prep: Prepared | None = None) -> dict[str, object]:
    """The index snapshot, the embedder's fingerprint, the generator (its model file and sha256), the settings
    that choose and prompt the passages, and the document filter of ``prep`` (None: the whole index)."""
    s = settings
    return {
        "index_snapshot": snapshot,
        "embedder": embedder_fingerprint,
        "generator": generator_provenance(generator),
        "settings": {"top_k": s.top_k, "context_k": s.context_k, "context_neighbours": s.context_neighbours,
                     "candidates": s.candidates, "fusion": s.fusion,
                     "answer_prompt": prep.style if prep else s.answer_prompt,
                     "max_new_tokens": s.max_new_tokens, "temperature": s.temperature, "seed": s.seed},
        "documents": sorted(prep.documents) if prep and prep.documents is not None else None,
    }
