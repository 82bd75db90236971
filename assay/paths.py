"""Path roots: where an operator allows corpora to be read from and runs to be written to.

`ASSAY_CORPUS_ROOTS` and `ASSAY_OUTPUT_ROOT` hold colon-separated roots (local folders or
`s3://bucket/prefix`). Where a root is set, a corpus or output path must lie inside one of
them after `..` and symbolic links are resolved; where none is set, any path is allowed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

CORPUS_ROOTS_ENV = "ASSAY_CORPUS_ROOTS"
OUTPUT_ROOT_ENV = "ASSAY_OUTPUT_ROOT"

# A root list is split on ':' except inside the scheme of an s3:// URI.
_ROOT_ITEM = re.compile(r"s3://[^:]+|[^:]+")


class PathEscapeError(ValueError):
    """A path lies outside every configured root."""


def roots_from_env(name: str) -> list[str]:
    """The roots listed in environment variable `name` (empty: no restriction)."""
    return [r.strip() for r in _ROOT_ITEM.findall(os.environ.get(name, "")) if r.strip()]


def is_s3(path: str) -> bool:
    return path.startswith("s3://")


def _s3_parts(uri: str) -> tuple[str, ...]:
    """Bucket and key segments of an s3:// URI; '..' and '.' segments are refused outright."""
    parts = tuple(p for p in uri[len("s3://") :].split("/") if p)
    if any(p in (".", "..") for p in parts):
        raise PathEscapeError(f"{uri}: '.' and '..' segments are not allowed in S3 URIs")
    return parts


def real_path(path: str) -> Path:
    """The absolute path with '..' and every symbolic link resolved (the path need not exist)."""
    return Path(os.path.realpath(os.path.expanduser(path)))


def is_within(path: str, root: str) -> bool:
    """True when `path` lies inside `root` (both resolved; the root itself counts)."""
    if is_s3(path) or is_s3(root):
        if not (is_s3(path) and is_s3(root)):
            return False
        root_parts, path_parts = _s3_parts(root), _s3_parts(path)
        return path_parts[: len(root_parts)] == root_parts
    resolved, base = real_path(path), real_path(root)
    return resolved == base or base in resolved.parents


def confine(path: str, roots: list[str], what: str, env_name: str) -> None:
    """Refuse `path` unless it lies inside one of `roots` (no restriction when `roots` is empty)."""
    if not roots:
        return
    if is_s3(path):
        _s3_parts(path)
    if any(is_within(path, root) for root in roots):
        return
    shown = path if is_s3(path) else f"{path} (resolves to {real_path(path)})"
    raise PathEscapeError(
        f"{what} {shown} is outside the allowed roots {':'.join(roots)} ({env_name}); "
        f"use a path inside one of them or ask the operator to extend {env_name}"
    )


def check_corpus_path(corpus: str) -> None:
    """The corpus must lie inside ASSAY_CORPUS_ROOTS where that is set."""
    confine(corpus, roots_from_env(CORPUS_ROOTS_ENV), "corpus", CORPUS_ROOTS_ENV)


def check_output_path(out: str) -> None:
    """The run folder must lie inside ASSAY_OUTPUT_ROOT where that is set."""
    confine(out, roots_from_env(OUTPUT_ROOT_ENV), "output folder", OUTPUT_ROOT_ENV)


def file_escapes_corpus(file_uri: str, corpus: str) -> bool:
    """True when a listed local file resolves (through a symbolic link) outside the corpus roots.

    Only applies where ASSAY_CORPUS_ROOTS is set; S3 objects cannot be links.
    """
    roots = roots_from_env(CORPUS_ROOTS_ENV)
    if not roots or is_s3(file_uri) or is_s3(corpus):
        return False
    return not any(is_within(file_uri, root) for root in roots)
