"""Uploaded documents: validate, store safely under the index folder, and index them (or remove them).

Front ends (the browser UI, a future HTTP API) call ``add_upload`` with the temporary file their framework
received and the name the user's browser sent. The checks, in order:

* the extension is one we load (txt, md, html, htm, pdf, docx) and the size is within the limit;
* the file name is reduced to a safe, readable base name (no folders, no ``..``, no control characters);
* the document is loaded *before* anything is copied or indexed, so a broken file is reported with the
  loader's specific reason and leaves the index and the uploads folder exactly as they were;
* the file is copied atomically into ``<index_dir>/uploads/`` and indexed with ``Indexer.add_documents``;
  if indexing fails, a file that was not there before is removed again.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from rag.errors import UploadError
from rag.index import Indexer, IndexReport
from rag.loaders import LoadError, load_document

log = logging.getLogger(__name__)

UPLOAD_EXTENSIONS = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
UPLOADS_DIRNAME = "uploads"
# Document ids of uploads carry this prefix so they never collide with a folder's relative paths.
UPLOAD_ID_PREFIX = "uploads/"
_MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^\w.\- ()+,]+", re.UNICODE)


@dataclass(frozen=True)
class UploadResult:
    name: str  # the sanitised file name
    doc_id: str
    title: str
    stored_path: Path
    report: IndexReport

    @property
    def chunks(self) -> int:
        return self.report.chunks_embedded


def uploads_dir(index_dir: Path) -> Path:
    return Path(index_dir) / UPLOADS_DIRNAME


def safe_filename(name: str) -> str:
    """A readable base name with no path parts: ``../../etc/passwd.txt`` -> ``passwd.txt``."""
    name = unicodedata.normalize("NFKC", str(name))
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # control/format characters
    name = re.sub(r"_{2,}", "_", _UNSAFE.sub("_", name))
    stem, ext = name, ""
    match = re.search(r"\.[A-Za-z0-9]{1,10}$", name)
    if match:
        stem, ext = name[: match.start()], match.group()
    stem = stem.strip(" .")
    if not stem.strip("_"):
        stem = "upload"
    if len(stem) > _MAX_NAME_CHARS:
        stem = stem[:_MAX_NAME_CHARS].rstrip(" .")
    return stem + ext.lower()


def validate_upload(path: Path, original_name: str, max_bytes: int) -> str:
    """Check type and size; returns the sanitised name. Raises UploadError with a clear reason."""
    name = safe_filename(original_name)
    ext = os.path.splitext(name)[1]
    if ext not in UPLOAD_EXTENSIONS:
        raise UploadError(f"{name}: unsupported file type {ext or '(no extension)'!r}; "
                          f"upload one of {', '.join(e.lstrip('.') for e in UPLOAD_EXTENSIONS)}")
    try:
        size = Path(path).stat().st_size
    except OSError as exc:
        raise UploadError(f"{name}: the upload could not be read ({exc.strerror or exc})") from None
    if size == 0:
        raise UploadError(f"{name}: the file is empty")
    if size > max_bytes:
        raise UploadError(f"{name}: the file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB upload limit")
    return name


def add_upload(indexer: Indexer, path: Path, original_name: str, *, max_bytes: int) -> UploadResult:
    """Validate, store and index one uploaded file. The index is unchanged if anything fails."""
    name = validate_upload(path, original_name, max_bytes)
    target_dir = uploads_dir(indexer.index_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / name
    doc_id = UPLOAD_ID_PREFIX + name
    # Load from a private copy carrying the sanitised name (the loader picks the format by extension).
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".incoming-") as tmp:
        staged = Path(tmp) / name
        shutil.copyfile(path, staged)
        try:
            doc = load_document(staged, doc_id)
        except LoadError as exc:
            raise UploadError(f"{name}: {exc.reason}") from None
        existed = target.exists()
        previous = target.read_bytes() if existed else None
        os.replace(staged, target)
    doc = replace(doc, source_path=str(target.resolve()))
    try:
        report = indexer.add_documents([doc], root=str(target_dir.resolve()))
        if report.skipped:
            raise UploadError(f"{name}: {report.skipped[0].reason}")
    except BaseException:
        if previous is None:
            target.unlink(missing_ok=True)
        else:
            target.write_bytes(previous)
        raise
    log.info("uploaded %s as %s (%d chunks)", original_name, doc_id, report.chunks_embedded)
    return UploadResult(name=name, doc_id=doc_id, title=doc.title, stored_path=target, report=report)


def remove_document(indexer: Indexer, doc_id: str) -> IndexReport:
    """Remove a document from the index; an uploaded document's stored file is deleted too."""
    report = indexer.remove_documents([doc_id])
    if doc_id.startswith(UPLOAD_ID_PREFIX):
        stored = uploads_dir(indexer.index_dir) / safe_filename(doc_id[len(UPLOAD_ID_PREFIX):])
        stored.unlink(missing_ok=True)
    return report
