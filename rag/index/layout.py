"""The index folder on disk: which snapshot is live, the writer lock, manifests, checksums and atomic publish.

Layout of an index folder::

    CURRENT              name of the live snapshot, swapped atomically
    .lock                writers hold an exclusive flock on it
    gen-000007/          one snapshot (the folder prefix predates the word and stays for existing indexes)
        manifest.json    embedder, chunker and store settings, counts, size and sha256 of every file
        catalog.sqlite   documents (with their normalised text) and chunks (with offsets)
        vectors.faiss    the vector store's own file

A writer builds a complete new snapshot beside the live one and then replaces CURRENT, so a reader (or a
crash at any point) always sees one whole, consistent snapshot.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from rag.errors import IndexError_

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
MANIFEST_FILE = "manifest.json"
CATALOG_FILE = "catalog.sqlite"
LOCK_FILE = ".lock"
SNAPSHOT_PREFIX = "gen-"
# Every corrupt-index message ends with the fix.
REBUILD_HINT = "rebuild it with: rag index --rebuild PATH... (the folders you indexed)"


class IndexLockedError(IndexError_):
    pass


class IndexMissingError(IndexError_):
    pass


class IndexCorruptError(IndexError_):
    pass


class IndexMismatchError(IndexError_):
    pass


def index_exists(index_dir: Path) -> bool:
    return (Path(index_dir) / CURRENT_FILE).is_file()


def current_name(index_dir: Path) -> str | None:
    """The live snapshot's name as CURRENT states it, unchecked; None when there is no index."""
    try:
        return (Path(index_dir) / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def current_snapshot(index_dir: Path) -> Path | None:
    """The live snapshot's folder, or None when there is no index."""
    current = Path(index_dir) / CURRENT_FILE
    if not current.is_file():
        return None
    name = current.read_text(encoding="utf-8").strip()
    snapshot = Path(index_dir) / name
    if not is_snapshot_name(name) or not snapshot.is_dir():
        raise IndexCorruptError(f"{current} points at {name!r}, which is not a snapshot folder; {REBUILD_HINT}")
    return snapshot


def is_snapshot_name(name: str) -> bool:
    return name.startswith(SNAPSHOT_PREFIX)


def new_snapshot_dir(index_dir: Path, previous: Path | None) -> Path:
    """Create the next numbered snapshot folder (never reusing a name still on disk)."""
    number = int(previous.name.split("-")[1]) + 1 if previous else 1
    while (index_dir / f"{SNAPSHOT_PREFIX}{number:06d}").exists():
        number += 1
    snapshot = index_dir / f"{SNAPSHOT_PREFIX}{number:06d}"
    snapshot.mkdir(parents=True)
    return snapshot


def read_manifest(snapshot: Path) -> dict:
    path = snapshot / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"manifest missing: {path}; {REBUILD_HINT}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"manifest {path} is truncated or not JSON ({exc}); {REBUILD_HINT}") from None
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"manifest {path} is not a JSON object; {REBUILD_HINT}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexCorruptError(
            f"index at {snapshot.parent} has format version {version!r}; this version of the tool reads "
            f"{FORMAT_VERSION}; {REBUILD_HINT}"
        )
    return manifest


def write_manifest(snapshot: Path, fields: dict[str, object]) -> None:
    """Write the manifest last, after every data file is on disk, with their sizes and checksums."""
    manifest = {"format_version": FORMAT_VERSION,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **fields, "files": describe_files(snapshot)}
    tmp = snapshot / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    fsync_file(tmp)
    os.replace(tmp, snapshot / MANIFEST_FILE)
    fsync_dir(snapshot)


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe_files(snapshot: Path) -> dict[str, dict[str, object]]:
    """Size and sha256 of every data file of a snapshot, recorded in its manifest."""
    return {f.name: {"bytes": f.stat().st_size, "sha256": file_digest(f)}
            for f in sorted(snapshot.iterdir()) if f.is_file() and f.name != MANIFEST_FILE}


def verify_files(manifest: dict, snapshot: Path) -> None:
    """Check the data files against the sizes and checksums in the manifest before any parser sees them, so
    a truncated or damaged file is a clear error rather than a crash or garbage deep inside FAISS or SQLite.
    Manifests written before checksums were recorded have no "files" entry and are not checked."""
    for name, expected in (manifest.get("files") or {}).items():
        path = snapshot / name
        if not path.is_file():
            raise IndexCorruptError(f"index file missing: {path}; {REBUILD_HINT}")
        size = path.stat().st_size
        if size != expected.get("bytes"):
            raise IndexCorruptError(f"index file {path} is truncated or damaged ({size} bytes, the manifest "
                                    f"says {expected.get('bytes')}); {REBUILD_HINT}")
        if file_digest(path) != expected.get("sha256"):
            raise IndexCorruptError(f"index file {path} is damaged (checksum mismatch); {REBUILD_HINT}")


@contextlib.contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive, non-blocking writer lock; a second writer gets a clear error instead of waiting."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK_FILE, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(
                f"index at {index_dir} is locked by another process that is writing to it; try again when it ends"
            ) from None
        yield


def publish(index_dir: Path, snapshot: Path) -> None:
    """Make `snapshot` the live one: write CURRENT.tmp, fsync, rename over CURRENT, fsync the folder."""
    tmp = index_dir / (CURRENT_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(snapshot.name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT_FILE)
    fsync_dir(index_dir)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
