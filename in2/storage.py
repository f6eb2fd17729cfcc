"""Where files live: local paths (the default) or any fsspec URL (``s3://``, ``gs://``, ...).

Batch runs read and write through these few functions so that one code path serves a
laptop folder and an object store. Every write is atomic: the bytes go to a temporary file
next to the target, which then replaces it in one step, so a killed process never leaves a
truncated output under the final name. Temporary names carry ``TEMP_MARK`` and listings
skip them, so leftovers of a killed run are ignored.
"""

from __future__ import annotations

import errno
import os
import posixpath
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from .errors import InputError, StorageError

__all__ = [
    "TEMP_MARK",
    "is_url",
    "join",
    "exists",
    "is_dir",
    "is_file",
    "list_files",
    "read_bytes",
    "size",
    "write_atomic",
    "replace_atomically",
    "make_folder",
    "open_append",
    "write_failure",
    "resolve",
    "same_path",
    "inside",
]

TEMP_MARK = ".in2-tmp-"


def is_url(path: str) -> bool:
    """True for ``protocol://...`` paths other than ``file://`` (those are plain local paths)."""
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise InputError(f"{url} is a URL, and URLs need fsspec: pip install fsspec (plus s3fs, gcsfs, ...)") from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InputError(f"cannot open {url}: {exc}") from None


def join(root: str, relative: str) -> str:
    """``root`` + a ``/``-separated relative path, in the root's own convention."""
    if is_url(root):
        return root.rstrip("/") + "/" + relative
    return str(Path(_local(root), *relative.split("/")))


def exists(path: str) -> bool:
    if is_url(path):
        fs, inner = _filesystem(path)
        return bool(fs.exists(inner))
    return os.path.exists(_local(path))


def is_dir(path: str) -> bool:
    if is_url(path):
        fs, inner = _filesystem(path)
        return bool(fs.isdir(inner))
    return os.path.isdir(_local(path))


def is_file(path: str) -> bool:
    if is_url(path):
        fs, inner = _filesystem(path)
        return bool(fs.isfile(inner))
    return os.path.isfile(_local(path))


def list_files(root: str, skip: tuple[str, ...] = ()) -> list[str]:
    """Every file under ``root``, recursively, as sorted ``/``-separated relative paths.

    Temporary files of an interrupted write are left out, and so are folders whose relative
    path is in ``skip`` (a batch run's own log folder, an output folder inside the inputs).
    Locally only regular files count: reading a FIFO or a device named ``b.png`` would block.
    """
    found: list[str] = []
    if is_url(root):
        fs, inner = _filesystem(root)
        inner = inner.rstrip("/")
        for name in fs.find(inner):
            relative = posixpath.relpath(name, inner)
            if not any(relative == s or relative.startswith(s + "/") for s in skip):
                found.append(relative)
    else:
        base = _local(root)
        for folder, dirs, files in os.walk(base):
            here = os.path.relpath(folder, base).replace(os.sep, "/")
            here = "" if here == "." else here + "/"
            dirs[:] = sorted(d for d in dirs if here + d not in skip)
            found.extend(here + f for f in files if os.path.isfile(os.path.join(folder, f)))
    return sorted(name for name in found if TEMP_MARK not in posixpath.basename(name))


def read_bytes(path: str) -> bytes:
    if is_url(path):
        fs, inner = _filesystem(path)
        return fs.cat_file(inner)
    with open(_local(path), "rb") as handle:
        return handle.read()


def size(path: str) -> int:
    """The size of a file in bytes."""
    if is_url(path):
        fs, inner = _filesystem(path)
        return int(fs.size(inner))
    return os.path.getsize(_local(path))


_WHY = {
    errno.ENOSPC: "the disk is full: free some space",
    errno.EDQUOT: "the disk quota is used up: free some space",
    errno.EACCES: "permission denied: choose a folder you can write to",
    errno.EPERM: "permission denied: choose a folder you can write to",
    errno.EROFS: "the file system is read-only: choose a folder you can write to",
    errno.ENOTDIR: "a file is in the way where a folder is needed: move it or choose another path",
    errno.EEXIST: "a file is in the way where a folder is needed: move it or choose another path",
    errno.EISDIR: "a folder is in the way where a file is needed: choose another name",
}


def write_failure(path: str, exc: OSError, what: str = "write") -> StorageError:
    """A ``StorageError`` that says, in one line, what could not be written and what to do."""
    why = _WHY.get(exc.errno or 0) or (exc.strerror or str(exc))
    return StorageError(f"cannot {what} {path}: {why}")


def make_folder(path: str) -> None:
    """Create a local folder (and its parents); a ``StorageError`` saying why when that fails."""
    try:
        os.makedirs(_local(path), exist_ok=True)
    except OSError as exc:  # also FileExistsError: a file of that name
        raise write_failure(path, exc, "create the folder") from None


def open_append(path: str) -> TextIO:
    """A local text file opened for appending (created with its folder when missing)."""
    make_folder(os.path.dirname(_local(path)) or ".")
    try:
        return open(_local(path), "a", encoding="utf-8")
    except OSError as exc:
        raise write_failure(path, exc) from None


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either absent, the old file, or complete.

    Any failure (a full disk, a read-only folder) is a ``StorageError`` and leaves no
    temporary file behind."""
    try:
        _write_atomic(path, data)
    except OSError as exc:
        raise write_failure(path, exc) from None


def _write_atomic(path: str, data: bytes) -> None:
    if is_url(path):
        fs, inner = _filesystem(path)
        parent, name = posixpath.split(inner)
        temp = posixpath.join(parent, f".{name}{TEMP_MARK}{uuid.uuid4().hex}")
        fs.makedirs(parent, exist_ok=True)
        fs.pipe_file(temp, data)
        try:
            fs.mv(temp, inner)
        finally:
            if fs.exists(temp):
                fs.rm(temp)
        return
    replace_atomically(Path(_local(path)), lambda temp: temp.write_bytes(data))


def replace_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """``write(temp)`` into a hidden sibling of ``target``, flush it to disk, then rename it over
    ``target``: a crash at any moment leaves the old file or the new one, never a truncated one.

    The one atomic writer of the package: batch outputs and logs (``write_atomic``) and model
    folders (``in2.weight_files``) both go through it. OSErrors reach the caller."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}{TEMP_MARK}{uuid.uuid4().hex}")
    try:
        write(temp)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def resolve(path: str) -> str:
    """One spelling per file: a local path made absolute with symlinks and ``..`` resolved, a URL as typed."""
    if is_url(path):
        return path.rstrip("/")
    return os.path.normcase(os.path.realpath(_local(path)))


def same_path(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` name the same file (symlinks and ``..`` resolved locally)."""
    return resolve(a) == resolve(b)


def inside(path: str, folder: str) -> str | None:
    """``path`` relative to ``folder`` when it lies inside it (``""`` for the folder itself), else None."""
    child, parent = resolve(path), resolve(folder)
    if child == parent:
        return ""
    separator = "/" if is_url(path) else os.sep
    if child.startswith(parent.rstrip(separator) + separator):
        return child[len(parent.rstrip(separator)) + 1 :].replace(os.sep, "/")
    return None
