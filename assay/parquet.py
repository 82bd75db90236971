"""Parquet corpus files: shards are runs of row groups; rows become documents or rejections."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from assay.corpus import Document, Rejection, Shard, ShardReadError, derived_id
from assay.settings import AuditSettings
from assay.storage import StoredObject, open_binary


def row_group_ranges(obj: StoredObject, shard_bytes: int) -> list[tuple[int, int]]:
    """Consecutive row groups grouped so that each shard holds about shard_bytes."""
    try:
        with open_binary(obj.uri) as handle:
            meta = pq.ParquetFile(handle).metadata
    except (OSError, pa.ArrowException):
        # An unreadable footer becomes one shard whose read error is reported with the file.
        return [(0, -1)]
    ranges: list[tuple[int, int]] = []
    start, size = 0, 0
    for i in range(meta.num_row_groups):
        size += meta.row_group(i).total_byte_size
        if size >= shard_bytes:
            ranges.append((start, i + 1))
            start, size = i + 1, 0
    if start < meta.num_row_groups or not ranges:
        ranges.append((start, max(meta.num_row_groups, start)))
    return ranges


def read_parquet_shard(
    shard: Shard, settings: AuditSettings, defer_text: bool = False
) -> Iterator[Document | Rejection]:
    """Rows of the shard's row groups; a missing or non-string text column rejects each row.

    defer_text: where metadata proves every text is a string within max_document_bytes, yield
    Documents with text None and read text later for sampled rows only (assay.parquet_pages).
    """
    try:
        handle = open_binary(shard.uri)
        parquet = pq.ParquetFile(handle)
    except (OSError, pa.ArrowException) as exc:
        raise ShardReadError(
            f"{shard.relpath}: not a readable Parquet file ({exc}); check or exclude it"
        ) from exc
    with handle:
        meta = parquet.metadata
        names = set(parquet.schema_arrow.names)
        end = meta.num_row_groups if shard.end < 0 else shard.end
        groups = list(range(shard.start, end))
        first_row = sum(meta.row_group(i).num_rows for i in range(shard.start))
        wanted = [
            c
            for c in (settings.text_field, settings.id_field, settings.source_field)
            if c and c in names
        ]
        if settings.text_field not in names:
            rows = sum(meta.row_group(i).num_rows for i in groups)
            for row in range(first_row, first_row + rows):
                yield Rejection(shard.path_source, "missing_text_column", row)
            return
        if defer_text:
            from assay.parquet_pages import read_deferred

            yield from read_deferred(parquet, groups, first_row, shard, settings, _rows)
            return
        try:
            table = parquet.read_row_groups(groups, columns=wanted) if groups else None
        except (OSError, pa.ArrowException) as exc:
            raise ShardReadError(f"{shard.relpath}: cannot read row groups ({exc})") from exc
        if table is None:
            return
        yield from _rows(table, first_row, shard, settings)


def _rows(
    table: pa.Table, first_row: int, shard: Shard, settings: AuditSettings
) -> Iterator[Document | Rejection]:
    texts = table.column(settings.text_field)
    text_is_string = pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)
    texts_py = texts.to_pylist()
    ids = (
        table.column(settings.id_field).to_pylist()
        if settings.id_field in table.column_names
        else None
    )
    sources = (
        table.column(settings.source_field).to_pylist()
        if settings.source_field and settings.source_field in table.column_names
        else None
    )
    for i, text in enumerate(texts_py):
        row = first_row + i
        source = shard.path_source
        if sources is not None and isinstance(sources[i], str) and sources[i].strip():
            source = sources[i].strip()
        if not text_is_string or text is None:
            yield Rejection(source, "text_not_string", row)
            continue
        if len(text) > settings.max_document_bytes:
            yield Rejection(source, "too_large", row)
            continue
        doc_id = ids[i] if ids is not None else None
        if doc_id is None:
            doc_id = derived_id(shard.relpath, row)
        elif isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
            yield Rejection(source, "invalid_id", row)
            continue
        yield Document(source, str(doc_id), text, row)
