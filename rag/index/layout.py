"""The index folder on disk: which snapshot is live, the writer lock, manifests, checksums and atomic publish.

Layout of an index folder::

    CURRENT              name of the live snapshot, swapped atomically
    .lock                writers hold an exclusive flock on it
    gen-000007/          one snapshot (the folder prefix predates the word and stays for existing indexes)
        manifest.json    embedder, chunker, store and lexical settings, counts, size and sha256 of every file
        catalog.sqlite   documents (with their normalised text) and chunks (with offsets)
        vectors.faiss    the vector store's own file
        bm25-000003.seg  lexical index segments, shared with earlier snapshots as hard links
        bm25-deleted.npy chunk ids deleted from those segments
        verified.json    which files were checked against the manifest, by their stat (a cache, not data)

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
VERIFIED_FILE = "verified.json"
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


def write_manifest(snapshot: Path, fields: dict[str, object], previous: Path | None = None) -> None:
    """Write the manifest last, after every data file is on disk, with their sizes and checksums. A file hard-
    linked from the ``previous`` snapshot, and verified there, keeps the checksum recorded there."""
    files, verified = describe_files(snapshot, previous)
    manifest = {"format_version": FORMAT_VERSION,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **fields, "files": files}
    tmp = snapshot / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    fsync_file(tmp)
    os.replace(tmp, snapshot / MANIFEST_FILE)
    fsync_dir(snapshot)
    _write_verified(snapshot, verified)


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stat_key(st: os.stat_result, digest: str) -> list[object]:
    # ctime cannot be set back by a program, so any write to the file, even one that restores its size and
    # mtime, changes the key.
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, digest]


def _data_files(snapshot: Path) -> list[Path]:
    return [f for f in sorted(snapshot.iterdir())
            if f.is_file() and f.name not in (MANIFEST_FILE, VERIFIED_FILE) and not f.name.endswith(".tmp")]


def describe_files(snapshot: Path, previous: Path | None = None) -> tuple[dict[str, dict[str, object]],
                                                                      dict[str, list[object]]]:
    """Size and sha256 of every data file of a snapshot, for its manifest, and their verified-stat entries."""
    known = _read_verified(previous) if previous is not None else {}
    files, verified = {}, {}
    for f in _data_files(snapshot):
        st = f.stat()
        old = known.get(f.name)
        if old is not None and old[3] == st.st_ino and old[:2] == [st.st_size, st.st_mtime_ns]:
            # The same inode as the previous snapshot's verified file: linking changed only its ctime.
            digest = str(old[4])
        else:
            digest = file_digest(f)
        files[f.name] = {"bytes": st.st_size, "sha256": digest}
        verified[f.name] = _stat_key(st, digest)
    return files, verified


def _read_verified(snapshot: Path) -> dict[str, list[object]]:
    try:
        data = json.loads((snapshot / VERIFIED_FILE).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_verified(snapshot: Path, verified: dict[str, list[object]]) -> None:
    """Best effort: a reader without write access to the index still works, it only checksums again."""
    tmp = snapshot / f"{VERIFIED_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(verified), encoding="utf-8")
        os.replace(tmp, snapshot / VERIFIED_FILE)
    except OSError:
        tmp.unlink(missing_ok=True)


def verify_files(manifest: dict, snapshot: Path) -> None:
    """Check the data files against the sizes and checksums in the manifest before any parser sees them, so
    a truncated or damaged file is a clear error rather than a crash or garbage deep inside FAISS or SQLite.
    A file whose stat (size, mtime, ctime, inode) is what it was when last checked is not read again: that
    keeps opening a large index fast, and any write to a file changes its ctime. Manifests written before
    checksums were recorded have no "files" entry and are not checked."""
    cached = _read_verified(snapshot)
    verified = {}
    for name, expected in (manifest.get("files") or {}).items():
        path = snapshot / name
        try:
            st = path.stat()
        except FileNotFoundError:
            raise IndexCorruptError(f"index file missing: {path}; {REBUILD_HINT}") from None
        if st.st_size != expected.get("bytes"):
            raise IndexCorruptError(f"index file {path} is truncated or damaged ({st.st_size} bytes, the manifest "
                                    f"says {expected.get('bytes')}); {REBUILD_HINT}")
        key = _stat_key(st, str(expected.get("sha256")))
        if cached.get(name) != key and file_digest(path) != expected.get("sha256"):
            raise IndexCorruptError(f"index file {path} is damaged (checksum mismatch); {REBUILD_HINT}")
        verified[name] = key
    if verified != cached:
        _write_verified(snapshot, verified)


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
