"""Loaders: turn files into normalised Documents. One function per format, one dispatcher."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.text import normalize_text
from rag.types import Document

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
MAX_FILE_BYTES = 200 * 1024 * 1024


class LoadError(Exception):
    """A file that cannot be turned into a document; the message says why, specifically."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


def _decode_text(raw: bytes, path: Path) -> str:
    if b"\x00" in raw[:8192]:
        raise LoadError(path, "looks like binary data (NUL bytes), not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Latin-1/Windows-1252 is the common non-UTF-8 text in the wild; cp1252 first since it is a superset
    # for printable characters, latin-1 as the decoder that never fails.
    for encoding in ("cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
            log.info("%s: not UTF-8, decoded as %s", path, encoding)
            return text
        except UnicodeDecodeError:
            continue
    raise LoadError(path, "cannot decode text")  # pragma: no cover - latin-1 decodes any bytes


def _first_line_title(text: str) -> str:
    for line in text.split("\n"):
        stripped = line.strip().lstrip("#").strip()
        if stripped:
            return stripped[:200]
    return ""


def load_text(path: Path) -> tuple[str, str]:
    text = normalize_text(_decode_text(path.read_bytes(), path))
    return _first_line_title(text), text


def load_html(path: Path) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    raw = _decode_text(path.read_bytes(), path)
    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        if tag.name == "head":
            continue
        tag.decompose()
    title_tag = soup.find("title")
    h1 = soup.find("h1")
    title = ""
    if title_tag and title_tag.get_text(strip=True):
        title = title_tag.get_text(" ", strip=True)
    elif h1:
        title = h1.get_text(" ", strip=True)
    if soup.head:
        soup.head.decompose()
    body = soup.body or soup
    # Block elements become line breaks so sentences and paragraphs survive.
    text = body.get_text("\n")
    text = normalize_text(text)
    return normalize_text(title)[:200] or _first_line_title(text), text


def load_pdf(path: Path) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise LoadError(path, "PDF is encrypted with a password")
            except LoadError:
                raise
            except Exception as exc:
                raise LoadError(path, f"PDF is encrypted and cannot be opened ({exc})") from None
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = ""
        if reader.metadata is not None and reader.metadata.title:
            meta_title = str(reader.metadata.title)
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(path, f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from None
    text = normalize_text("\n\n".join(pages))
    if not text:
        raise LoadError(path, "PDF has no extractable text (scanned images need OCR)")
    return normalize_text(meta_title)[:200] or _first_line_title(text), text


def load_docx(path: Path) -> tuple[str, str]:
    import zipfile

    import docx

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(path, f"not a valid DOCX file ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # python-docx raises its own PackageNotFoundError etc.
        raise LoadError(path, f"not a valid DOCX file ({type(exc).__name__}: {exc})") from None
    paragraphs = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            paragraphs.append(" | ".join(cell.text for cell in row.cells))
    text = normalize_text("\n".join(paragraphs))
    title = normalize_text(document.core_properties.title or "")
    return title[:200] or _first_line_title(text), text


LOADERS: dict[str, Callable[[Path], tuple[str, str]]] = {
    ".txt": load_text,
    ".md": load_text,
    ".markdown": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
}


def load_document(path: Path, doc_id: str | None = None) -> Document:
    """Load one file. Raises LoadError with a specific reason for anything that cannot be used."""
    path = Path(path)
    ext = path.suffix.lower()
    loader = LOADERS.get(ext)
    if loader is None:
        raise LoadError(path, f"unsupported file type {ext or '(no extension)'!r}; "
                              f"supported: {', '.join(SUPPORTED_EXTENSIONS)}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(path, f"cannot read file ({exc.strerror or exc})") from None
    if size == 0:
        raise LoadError(path, "file is empty")
    if size > MAX_FILE_BYTES:
        raise LoadError(path, f"file is {size / 1e6:.0f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB limit")
    try:
        title, text = loader(path)
    except LoadError:
        raise
    except PermissionError:
        raise LoadError(path, "permission denied") from None
    except OSError as exc:
        raise LoadError(path, f"cannot read file ({exc.strerror or exc})") from None
    except RecursionError:
        raise LoadError(path, "document structure is too deeply nested to parse") from None
    if not text.strip():
        raise LoadError(path, "no text found in the file")
    content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Document(
        doc_id=doc_id or path.name,
        title=title or path.stem,
        text=text,
        source_path=str(path.resolve()),
        content_hash=content_hash,
    )


def discover_files(paths: Iterable[Path]) -> Iterator[tuple[Path, str] | SkippedFile]:
    """Yield (file, doc_id) for every supported file under the given files/folders, or a SkippedFile.

    A document's id is its path relative to the folder given (a file given directly: its name).
    Symlinked folders are not followed, which also makes symlink loops harmless.
    """
    for root in paths:
        root = Path(root)
        if not root.exists():
            yield SkippedFile(str(root), "no such file or folder")
            continue
        if root.is_file():
            if root.suffix.lower() in LOADERS:
                yield root, root.name
            else:
                yield SkippedFile(str(root), f"unsupported file type {root.suffix.lower() or '(none)'!r}")
            continue
        found = False
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=None):
            dirnames.sort()
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                file = Path(dirpath) / name
                rel = file.relative_to(root).as_posix()
                if file.suffix.lower() not in LOADERS:
                    yield SkippedFile(str(file), f"unsupported file type {file.suffix.lower() or '(none)'!r}")
                    continue
                if file.is_symlink() and not file.exists():
                    yield SkippedFile(str(file), "broken symlink")
                    continue
                found = True
                yield file, rel
        if not found:
            log.warning("%s: no supported documents found", root)
