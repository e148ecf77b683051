"""Front ends, eval, benchmarks and tests use the pipeline's public API only (issue 16): nothing outside
`rag/` imports a private name from `rag`, or reaches into a private attribute of a `rag` object."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

OUTSIDE = ("ui", "eval", "embeddings", "bench", "tests")


def _python_files() -> list[Path]:
    return [p for folder in OUTSIDE for p in (ROOT / folder).rglob("*.py")]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rag":
            found += [f"{path.name}:{node.lineno} imports {a.name} from {node.module}"
                      for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            # self._x / cls._x inside a class of the file itself are the file's own business.
            if not (isinstance(owner, ast.Name) and owner.id in {"self", "cls"}):
                found.append(f"{path.name}:{node.lineno} uses .{node.attr}")
    return found


def test_nothing_outside_rag_uses_a_private_name_of_rag():
    problems = [p for path in _python_files() for p in _private_uses(path)]
    assert not problems, "\n".join(problems)


def test_the_check_sees_a_private_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from rag.pipeline import _Hidden\nx = pipeline._prepare('q')\n", encoding="utf-8")
    assert len(_private_uses(sample)) == 2


def test_variants_share_one_index_and_one_set_of_models(seed_pipeline, tmp_path):
    """The UI's per-page settings and eval's dataset pipelines are variants: one copy of each model and of
    the loaded index in memory, however many variants."""
    from rag.pipeline import RagPipeline
    from tests.fakes import ScriptedGenerator

    base = RagPipeline(seed_pipeline.settings, embedder=seed_pipeline.embedder,
                       generator=ScriptedGenerator(lambda messages: "x"), progress=False)
    narrower = base.variant(base.settings.replace(top_k=2))
    other_prompt = narrower.variant(base.settings.replace(answer_prompt="terse"))
    for variant in (narrower, other_prompt):
        assert variant.index is base.index
        assert variant.embedder is base.embedder and variant.generator is base.generator
    assert len(narrower.search("Sheffield cases", k=2)) == 2
    # Another index folder: the same models, not the same index.
    elsewhere = base.variant(base.settings.replace(index_dir=tmp_path / "other"))
    assert elsewhere.embedder is base.embedder and elsewhere.generator is base.generator
    assert elsewhere.settings.index_dir != base.settings.index_dir
