"""User-facing errors: one root, one class per area.

A ``RagError`` means the user can fix it (bad input, a missing file, a setting out of range) and its message says
what went wrong and how to fix it. Front ends (CLI, batch, page, eval) catch ``RagError`` only, through
``user_message``; anything else is a bug and keeps its traceback. Each area class also derives from the builtin it
replaced (``ValueError``, ``RuntimeError``, ``KeyError``) so code that caught the builtin keeps working.
"""

from __future__ import annotations


class RagError(Exception):
    """Root of every error the user can act on."""


class SettingsError(RagError, ValueError):
    """A configuration value that cannot be used."""


class QuestionError(RagError, ValueError):
    """A question that cannot be asked: empty, too long, or too big for the model's context window."""


class LoadError(RagError):
    """A file that cannot be turned into a document; the message says why, specifically."""

    def __init__(self, path: object, reason: str):
        # A file name that is not valid UTF-8 (surrogate escapes) must still print.
        shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        super().__init__(f"{shown}: {reason}")
        self.path = shown
        self.reason = reason


class IndexError_(RagError, RuntimeError):  # noqa: N801 - the builtin IndexError means something else
    """An index that cannot be opened or written."""


class DocumentNotFoundError(IndexError_, KeyError):
    """A document asked for by id that the index does not hold."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class DocumentFilterError(RagError, ValueError):
    """A document filter (``--doc``, ``documents``) that matches no indexed document."""


class APIError(RagError, ValueError):
    """A request to the HTTP API that cannot be served as sent (size, shape, auth); carries the HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class StoreError(RagError, RuntimeError):
    """A vector store that cannot be used (configuration, connection, dimension)."""


class EmbedderError(RagError, RuntimeError):
    """An embedding model that cannot be found or loaded."""


class GeneratorError(RagError, RuntimeError):
    """A generator that cannot be loaded or reached; the message says why."""


class BatchError(RagError, ValueError):
    """A batch question file that cannot be read or written."""


class UploadError(RagError, ValueError):
    """An upload refused by the page's checks."""


class DatasetError(RagError, ValueError):
    """An evaluation dataset that cannot be read."""


class ClusterError(RagError, RuntimeError):
    """Distributed ingest or batch (Ray) that cannot start or whose workers disagree."""


def user_message(exc: RagError) -> str:
    """The one-line message a front end shows for a user-facing error."""
    return str(exc)
