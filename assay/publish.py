"""Run folders: written in a staging place, committed atomically by rename, never half-visible."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

COMPLETE_MARKER = "_COMPLETE"
_HELD: dict[str, tuple[int, int]] = {}  # lock path -> (fd, depth) held by this process


class RunBusyError(RuntimeError):
    """Another process is writing the same run (same output folder and run id)."""


@contextmanager
def _flock(path: Path, blocking: bool, busy_message: str) -> Iterator[None]:
    """An exclusive lock on `path`, re-entrant within this process."""
    key = str(path)
    if key in _HELD:
        fd, depth = _HELD[key]
        _HELD[key] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth - 1)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        raise RunBusyError(busy_message) from None
    _HELD[key] = (fd, 1)
    try:
        yield
    finally:
        del _HELD[key]
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextmanager
def run_lock(out: Path, run_id: str) -> Iterator[None]:
    """Held while a run is staged or finalized: a second writer of the same run is refused."""
    if str(out).startswith("s3:"):
        yield
        return
    lock = staging_dir(out, run_id).with_name(staging_dir(out, run_id).name + ".lock")
    message = (
        f"run {run_id} for {out} is being written by another process (lock {lock}); "
        "wait for it to finish or use another run id"
    )
    with _flock(lock, blocking=False, busy_message=message):
        yield


def staging_dir(out: Path, run_id: str) -> Path:
    """Where a run is assembled: beside its final folder, so the commit is a same-disk rename."""
    return out.parent / ".staging" / f"{out.name}--{run_id}"


def fresh_staging(out: Path, run_id: str) -> Path:
    """An empty staging folder; a retried task starts from nothing, not from a partial write."""
    path = staging_dir(out, run_id)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def write_json(path: Path, data: object) -> None:
    """Deterministic JSON: sorted keys, fixed indent, newline at the end."""
    path.write_text(
        json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    )


def commit(staging: Path, out: Path) -> Path:
    """Move the staged run to `out` atomically, replacing an earlier run with the same folder."""
    (staging / COMPLETE_MARKER).write_text("")
    out.parent.mkdir(parents=True, exist_ok=True)
    trash = None
    # Runs with other ids may publish to the same folder at once: swap under a lock, last wins.
    with _flock(out.parent / ".staging" / f"{out.name}.commit.lock", True, ""):
        if out.exists():
            trash = out.parent / ".staging" / f"trash-{out.name}-{uuid.uuid4().hex}"
            os.replace(out, trash)
        os.replace(staging, out)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    return out


def is_complete(run_dir: Path) -> bool:
    return (run_dir / COMPLETE_MARKER).exists()
