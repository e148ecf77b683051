"""Loaders: turn files into normalised Documents. One function per format, one dispatcher."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import LoadError
from rag.text import normalize_text
from rag.types import Document

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")


@dataclass(frozen=True)
class LoadLimits:
    """Size limits a file must meet to be indexed (Settings.max_file_mb / max_text_chars; docs/decisions.md)."""

    max_file_bytes: int = 20_000_000  # on disk, checked before reading
    max_text_chars: int = 10_000_000  # extracted text, checked after parsing (also catches decompression bombs)


def safe_str(value: object) -> str:
    """``str(value)`` with undecodable file-name bytes (surrogate escapes) shown as U+FFFD, so names from any
    file system can be printed, stored in SQLite and written as JSON."""
    text = str(value)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


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
    except (LoadError, PermissionError, MemoryError, RecursionError):
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(path, f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # pypdf raises many other types (IndexError, AttributeError...) on damaged files
        raise LoadError(path, f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from None
    text = normalize_text("\n\n".join(pages))
    if not text:
        raise LoadError(path, "PDF has no extractable text (scanned images need OCR)")
    return normalize_text(meta_title)[:200] or _first_line_title(text), text


def load_docx(path: Path) -> tuple[str, str]:
    import zipfile

    import docx

    if not zipfile.is_zipfile(path):
        raise LoadError(path, "not a valid DOCX file (it is not a zip archive; DOCX files are)")
    try:
        document = docx.Document(str(path))
    except (PermissionError, MemoryError, RecursionError):
        raise
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


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _check_file(path: Path, limits: LoadLimits) -> None:
    """A regular, non-empty, readable file within the size limit, or LoadError saying which it is not."""
    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LoadError(path, "symlink loop (the link points back to itself)") from None
        if isinstance(exc, FileNotFoundError):
            reason = "broken symlink" if path.is_symlink() else "file vanished before it could be read"
            raise LoadError(path, reason) from None
        raise LoadError(path, f"cannot read file ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        # Never open a FIFO or device: reading one can block forever.
        raise LoadError(path, f"is {_kind(st.st_mode)}, not a regular file")
    if st.st_size == 0:
        raise LoadError(path, "file is empty")
    if st.st_size > limits.max_file_bytes:
        raise LoadError(path, f"file is too large: {st.st_size / 1e6:.1f} MB, over the "
                              f"{limits.max_file_bytes / 1e6:g} MB limit (setting max_file_mb)")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except PermissionError:
        raise LoadError(path, "permission denied (the file is not readable by this user)") from None
    except OSError as exc:
        raise LoadError(path, f"cannot read file ({exc.strerror or exc})") from None


def load_document(path: Path, doc_id: str | None = None, limits: LoadLimits | None = None) -> Document:
    """Load one file. Raises LoadError with a specific reason for anything that cannot be used."""
    path = Path(path)
    limits = limits or LoadLimits()
    ext = path.suffix.lower()
    loader = LOADERS.get(ext)
    if loader is None:
        raise LoadError(path, f"unsupported file type {ext or '(no extension)'!r}; "
                              f"supported: {', '.join(SUPPORTED_EXTENSIONS)}")
    _check_file(path, limits)
    try:
        title, text = loader(path)
    except LoadError:
        raise
    except PermissionError:
        raise LoadError(path, "permission denied (the file is not readable by this user)") from None
    except OSError as exc:
        raise LoadError(path, f"cannot read file ({exc.strerror or exc})") from None
    except RecursionError:
        raise LoadError(path, "document structure is too deeply nested to parse") from None
    except MemoryError:
        raise LoadError(path, "not enough memory to parse the file") from None
    except Exception as exc:  # a parser bug on a hostile file must not stop the rest of the run
        log.debug("parser failure on %s", safe_str(path), exc_info=True)
        raise LoadError(path, f"cannot parse this {ext} file ({type(exc).__name__}: {exc})") from None
    if not text.strip():
        raise LoadError(path, "no text found in the file")
    if len(text) > limits.max_text_chars:
        raise LoadError(path, f"document text is too large: {len(text):,} characters, over the "
                              f"{limits.max_text_chars:,} limit (setting max_text_chars)")
    content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Document(
        doc_id=safe_str(doc_id or path.name),
        title=title or safe_str(path.stem),
        text=text,
        source_path=safe_str(path.resolve()),
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
            reason = "symlink loop or broken symlink" if root.is_symlink() else "no such file or folder"
            yield SkippedFile(safe_str(root), reason)
            continue
        if not root.is_dir():
            if root.suffix.lower() in LOADERS:
                yield root, safe_str(root.name)
            else:
                yield SkippedFile(safe_str(root), f"unsupported file type {root.suffix.lower() or '(none)'!r}")
            continue
        found = False
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=None):
            dirnames.sort()
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                file = Path(dirpath) / name
                rel = safe_str(file.relative_to(root).as_posix())
                if file.suffix.lower() not in LOADERS:
                    yield SkippedFile(safe_str(file), f"unsupported file type {file.suffix.lower() or '(none)'!r}")
                    continue
                if file.is_symlink() and not file.exists():
                    try:
                        file.stat()
                        reason = "broken symlink"
                    except OSError as exc:
                        reason = ("symlink loop (the link points back to itself)" if exc.errno == errno.ELOOP
                                  else "broken symlink")
                    yield SkippedFile(safe_str(file), reason)
                    continue
                found = True
                yield file, rel
        if not found:
            log.warning("%s: no supported documents found", root)
