"""Versioned, crash-safe index folders, shared by every backend's local files.

``ROOT/CURRENT`` names the live version folder.  A build writes a new version
folder under a temporary name, fsyncs it, renames it into place and only then
atomically replaces ``CURRENT``: a crash at any point leaves the previous
version live and intact.  Every file's SHA-256 is in the manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from qa_service.core.errors import IndexCorrupt, IndexMissing

CURRENT = "CURRENT"
MANIFEST = "manifest.json"


def publish_version(root: Path, tmp: Path, manifest: dict[str, Any]) -> str:
    """Make the fully written folder ``tmp`` the live version: manifest, fsync, rename, then
    atomically point ``CURRENT`` at it.  A crash before the last step leaves the old version live."""
    write_file(tmp / MANIFEST, json_bytes(manifest))
    fsync_dir(tmp)
    version = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    os.rename(tmp, root / version)
    fsync_dir(root)
    replace_file(root / CURRENT, (version + "\n").encode())
    fsync_dir(root)
    return version


def current_version_dir(root: Path) -> Path:
    pointer = root / CURRENT
    if not pointer.is_file():
        raise IndexMissing(f"no index in {root}: build one with `qa-service index`")
    name = pointer.read_text("utf-8").strip()
    vdir = root / name
    if not name or "/" in name or not vdir.is_dir():
        raise IndexCorrupt(f"{pointer} names {name!r}, which is not an index folder: rebuild with `qa-service index`")
    return vdir


def read_manifest(index_dir: str | Path) -> dict[str, Any]:
    vdir = current_version_dir(Path(index_dir))
    try:
        return json.loads((vdir / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"index manifest in {vdir} is unreadable: {exc}") from exc


def pack_texts(texts: list[str]) -> tuple[bytes, np.ndarray]:
    encoded = [t.encode("utf-8") for t in texts]
    bounds = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=bounds[1:])
    return b"".join(encoded), bounds


def map_bytes(path: Path) -> memoryview:
    if path.stat().st_size == 0:
        return memoryview(b"")
    return memoryview(np.memmap(path, dtype=np.uint8, mode="r"))


def map_array(path: Path) -> np.ndarray:
    """The ``.npy`` file at ``path``, mapped, as a plain ndarray: np.memmap's Python-level
    ``__getitem__`` and ``__array_finalize__`` cost microseconds a slice, and a question takes
    hundreds of slices of these arrays."""
    return np.load(path, mmap_mode="r", allow_pickle=False).view(np.ndarray)


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def replace_file(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: ``data`` goes to a hidden name beside it, then is renamed
    over it (what was there stays until the rename, and a reader sees the old file or the new one)."""
    tmp = path.with_name(f"{'' if path.name.startswith('.') else '.'}{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        write_file(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def remove_old_versions(root: Path, keep: str) -> None:
    """Drop superseded versions and leftovers of interrupted builds."""
    for p in root.iterdir():
        if p.name == keep or p.name == CURRENT or p.name.startswith("README"):
            continue
        if p.is_dir() and p.name.startswith(("v-", ".tmp-", ".spool-")):
            shutil.rmtree(p, ignore_errors=True)
        elif p.is_file() and p.name.startswith(f".{CURRENT}."):
            p.unlink(missing_ok=True)


class FolderWriter:
    """Files ``put`` into one folder, each checksummed, then ``finish``ed with a manifest listing them:
    a segment inside a version being written (index/embedded/segments.py)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        self.root = self.tmp = folder
        self.files: dict[str, dict[str, Any]] = {}

    def put(self, name: str, data: bytes) -> None:
        write_file(self.tmp / name, data)
        self.files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    def put_file(self, name: str, source: Path) -> None:
        """Put a file already written on this filesystem: hard-linked, not copied (a spooled build's
        texts, index/embedded/spool.py), and checksummed by reading it, not by mapping it."""
        with open(source, "rb") as f:
            os.fsync(f.fileno())
        os.link(source, self.tmp / name)
        self.files[name] = {"sha256": sha256_file(source), "bytes": source.stat().st_size}

    def finish(self, manifest: dict[str, Any]) -> dict[str, Any]:
        manifest = {**manifest, "files": self.files}
        write_file(self.tmp / MANIFEST, json_bytes(manifest))
        fsync_dir(self.tmp)
        return manifest


class VersionWriter(FolderWriter):
    """A new version folder being written: ``put`` files (each checksummed), then ``publish``.

    Used as a context manager: if anything fails before ``publish``, the half-written folder is
    removed and the live version stays as it was."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.tmp = root / f".tmp-{uuid.uuid4().hex[:12]}"
        self.tmp.mkdir()
        self.files = {}

    def __enter__(self) -> VersionWriter:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if error is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def publish(self, manifest: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
        """Make the folder the live version (its manifest listing every file put), drop older ones."""
        manifest = {**manifest, "files": self.files}
        version = publish_version(self.root, self.tmp, manifest)
        remove_old_versions(self.root, keep=version)
        return self.root / version, manifest


def link_folder(source: Path, target: Path) -> None:
    """``target``: a new folder of hard links to every file under ``source`` (a segment a new version
    keeps: no byte is copied, and the files live on while any version links them)."""
    target.mkdir()
    for entry in source.iterdir():
        if entry.is_dir():
            link_folder(entry, target / entry.name)
        else:
            os.link(entry, target / entry.name)
    fsync_dir(target)


def read_live_manifest(root: Path, what: str, hint: str, verify: bool = True) -> tuple[Path, dict[str, Any]]:
    """The live version folder under ``root`` and its manifest, every file it lists checked to be
    there at its size and (with ``verify``) its checksum.  ``what`` names the folder in messages;
    ``hint`` says how to rebuild it."""
    vdir = current_version_dir(root)
    return vdir, read_folder_manifest(vdir, what, hint, verify)


def read_folder_manifest(folder: Path, what: str, hint: str, verify: bool = True) -> dict[str, Any]:
    """The manifest of a version or segment folder, every file it lists checked (see above).

    A file whose checksum was verified before, and which has not changed since (same size, inode and
    modification time, recorded in ``CHECKED``), is not read again: a million-passage index is 4 GB,
    which ``serve`` and each of its workers would otherwise hash on every start."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"{what} manifest in {folder} is unreadable: {exc}") from exc
    checked = _read_checked(folder) if verify else {}
    hashed: dict[str, os.stat_result] = {}
    for name, meta in manifest.get("files", {}).items():
        path = folder / name
        st = path.stat() if path.is_file() else None
        if st is None or st.st_size != meta["bytes"]:
            raise IndexCorrupt(f"{what} file {path} is missing or truncated: {hint}")
        if not verify or checked.get(name) == _stamp(st, meta["sha256"]):
            continue
        if sha256_file(path) != meta["sha256"]:
            raise IndexCorrupt(f"{what} file {path} fails its checksum: {hint}")
        hashed[name] = st
    if hashed:
        _record_checked(folder, checked, hashed, manifest["files"])
    return manifest


# Beside a folder's manifest: the files whose checksums were verified, as they were then.
CHECKED = ".checked.json"
# A file changed again within the same tick of the file system's clock keeps its modification time
# (git's "racy clean" problem): only files older than this at verification are recorded.
_SETTLED_NS = 2_000_000_000


def _stamp(st: os.stat_result, sha256: str) -> list[Any]:
    return [st.st_size, st.st_ino, st.st_mtime_ns, sha256]


def _read_checked(folder: Path) -> dict[str, Any]:
    try:
        checked = json.loads((folder / CHECKED).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return checked if isinstance(checked, dict) else {}


def _record_checked(
    folder: Path, checked: dict[str, Any], hashed: dict[str, os.stat_result], files: dict[str, Any]
) -> None:
    """Add the files just verified to ``CHECKED`` (best effort: a read-only folder is verified every time)."""
    settled = time.time_ns() - _SETTLED_NS
    fresh = {n: _stamp(st, files[n]["sha256"]) for n, st in hashed.items() if st.st_mtime_ns < settled}
    if not fresh:
        return
    with contextlib.suppress(OSError):
        replace_file(folder / CHECKED, json.dumps({**checked, **fresh}).encode("utf-8"))
