"""Run folders: written in a staging place, committed atomically by rename, never half-visible."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

COMPLETE_MARKER = "_COMPLETE"


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
    path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n")


def commit(staging: Path, out: Path) -> Path:
    """Move the staged run to `out` atomically, replacing an earlier run with the same folder."""
    (staging / COMPLETE_MARKER).write_text("")
    out.parent.mkdir(parents=True, exist_ok=True)
    trash = None
    if out.exists():
        trash = out.parent / ".staging" / f"trash-{out.name}-{uuid.uuid4().hex}"
        os.replace(out, trash)
    os.replace(staging, out)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    return out


def is_complete(run_dir: Path) -> bool:
    return (run_dir / COMPLETE_MARKER).exists()
