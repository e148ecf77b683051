"""One error root (rag/errors.py): front ends show a RagError as one clear line and let any other exception
(a bug) keep its traceback."""

import pytest

import rag.cli
from rag import errors
from rag.cli import EXIT_ERROR, main
from rag.errors import RagError


def test_every_area_error_is_a_rag_error_and_keeps_its_old_builtin():
    areas = [errors.SettingsError, errors.QuestionError, errors.LoadError, errors.IndexError_,
             errors.DocumentNotFoundError, errors.StoreError, errors.EmbedderError, errors.GeneratorError,
             errors.BatchError, errors.UploadError, errors.DatasetError, errors.ClusterError]
    assert all(issubclass(cls, RagError) for cls in areas)
    assert issubclass(errors.SettingsError, ValueError) and issubclass(errors.DocumentNotFoundError, KeyError)
    # The modules that raised them before still export the same classes.
    from embeddings.encoder import EmbedderError
    from eval.harness import DatasetError
    from rag.generation import GeneratorError
    from rag.index import IndexError_, IndexMissingError
    from rag.loaders import LoadError
    from rag.settings import SettingsError
    from rag.stores.base import StoreError

    assert (EmbedderError, DatasetError, GeneratorError, IndexError_, LoadError, SettingsError, StoreError) == (
        errors.EmbedderError, errors.DatasetError, errors.GeneratorError, errors.IndexError_, errors.LoadError,
        errors.SettingsError, errors.StoreError)
    assert issubclass(IndexMissingError, RagError)
    # A missing document prints its message, not KeyError's quoted repr.
    assert str(errors.DocumentNotFoundError("not in the index: a.txt")) == "not in the index: a.txt"


def test_cli_shows_a_user_error_as_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAG_EMBEDDER", str(tmp_path / "no-such-model"))  # EmbedderError, once a raw traceback
    assert main(["search", "anything", "--index", str(tmp_path / "idx")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "neither 'bundled' nor a local model folder" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_lets_a_bug_keep_its_traceback(tmp_path, monkeypatch):
    def broken(pipeline, args):
        raise ValueError("a bug, not the user's input")

    monkeypatch.setitem(rag.cli.COMMANDS, "docs", broken)
    with pytest.raises(ValueError, match="a bug"):
        main(["docs", "--index", str(tmp_path / "idx")])


def test_a_bad_question_in_a_batch_is_one_line_in_the_log(tmp_path, caplog):
    from rag.batch import BatchItem, answer_row

    class Pipeline:
        def ask(self, question, **options):
            raise errors.QuestionError("the question is 5,000 characters, over the 4,000-character limit")

    row = answer_row(Pipeline(), BatchItem("q1", "x" * 5000, {}, None), retrieve_only=False)
    assert row["error"].startswith("the question is 5,000 characters")
    assert not any(r.exc_info for r in caplog.records)
