"""Where corpora and outputs live: one interface, a local and an S3 implementation, picked by URI."""

from __future__ import annotations

import fnmatch
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


class StorageError(RuntimeError):
    """A corpus location cannot be listed or read; the message names it and what to do."""


@dataclass(frozen=True)
class StoredObject:
    """One file or object of a corpus, as listed."""

    uri: str
    relpath: str  # relative to the corpus root, '/'-separated
    size: int
    version: str  # ETag for S3, mtime in ns for local files


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def matches(relpath: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Include/exclude globs against the relative path ('**' and '*' both cross folders)."""
    if include and not any(fnmatch.fnmatch(relpath, pat) for pat in include):
        return False
    return not any(fnmatch.fnmatch(relpath, pat) for pat in exclude)


def list_objects(
    root: str, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
) -> list[StoredObject]:
    """Every object under root, sorted by relative path (deterministic shard order)."""
    if is_s3(root):
        from assay import s3

        objects = s3.list_objects(root)
    else:
        objects = _list_local(root)
    return sorted(
        (o for o in objects if matches(o.relpath, include, exclude)), key=lambda o: o.relpath
    )


def _list_local(root: str) -> list[StoredObject]:
    base = Path(root)
    if not base.exists():
        raise StorageError(f"corpus path {root} does not exist: check the path or mount")
    if base.is_file():
        stat = base.stat()
        return [StoredObject(str(base.resolve()), base.name, stat.st_size, str(stat.st_mtime_ns))]
    found = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        # Hidden folders (.git, .staging) are not descended into, but listed so that the
        # manifest says they were passed over; hidden files are listed like any other.
        for name in sorted(d for d in dirnames if d.startswith(".")):
            rel = (Path(dirpath) / name).relative_to(base).as_posix() + "/"
            found.append(StoredObject(str(Path(dirpath, name).resolve()), rel, 0, ""))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            stat = path.stat()
            rel = path.relative_to(base).as_posix()
            found.append(
                StoredObject(str(path.resolve()), rel, stat.st_size, str(stat.st_mtime_ns))
            )
    return found


def open_binary(uri: str) -> BinaryIO:
    """A seekable binary reader for a whole object."""
    if is_s3(uri):
        from assay import s3

        return s3.open_object(uri)
    return open(uri, "rb")  # noqa: SIM115 - caller closes


def read_range(uri: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of an object."""
    if is_s3(uri):
        from assay import s3

        return s3.read_range(uri, start, end)
    with open(uri, "rb") as handle:
        handle.seek(start)
        return handle.read(end - start)


def write_bytes(uri: str, data: bytes) -> None:
    """Write a whole object (outputs)."""
    if is_s3(uri):
        from assay import s3

        s3.write_bytes(uri, data)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class RangeReader(io.RawIOBase):
    """A forward-only reader over [start, end) of an object, fetched in blocks."""

    def __init__(self, uri: str, start: int, end: int, block: int = 8 * 1024 * 1024):
        self.uri, self.pos, self.end, self.block = uri, start, end, block

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self.pos >= self.end:
            return 0
        want = min(len(buffer), self.end - self.pos, self.block)
        data = read_range(self.uri, self.pos, self.pos + want)
        n = len(data)
        buffer[:n] = data
        self.pos += n
        return n
