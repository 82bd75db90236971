"""Two-pass Parquet reading: ids first, text only for the rows that were sampled.

Pass 1 (every row, in the read task) reads the id and source columns only. It may skip the text
column of a row group when the file's metadata proves what reading it would have found for
every row: no nulls (schema `required`, or chunk statistics with null_count 0) and no document
over max_document_bytes (the chunk's, or every page's, uncompressed size is within the limit).
Those rows become Documents with text None; counts, ids and sample keys are exactly those of a
full read. Row groups without such proof are read whole, as before.

Pass 2 (only the drawn sample) fetches each sampled row's text from the pages that hold it:
page locations come from the column's offset index (one small read) or, without one, from a
walk over the page headers; a page is read, decompressed and decoded (PLAIN or dictionary
encoding, data page v1 or v2) and only the wanted values are kept. Anything this decoder does
not handle falls back to pyarrow reading the row group's text column. Text bytes read are
counted, so the benchmark can compare them with the corpus's text bytes.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assay.corpus import Document, Rejection, Shard, ShardReadError, derived_id
from assay.settings import AuditSettings

# Parquet enums (parquet.thrift)
DATA_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 = 0, 2, 3
PLAIN, PLAIN_DICTIONARY, RLE_DICTIONARY = 0, 2, 8
CODECS = {0: None, 1: "snappy", 2: "gzip", 4: "brotli", 6: "zstd", 7: "lz4_raw"}


class Unsupported(Exception):
    """The page layout is outside what this decoder reads; the caller falls back to pyarrow."""


# ---------------------------------------------------------------------------------------------
# Thrift compact protocol: just enough to read FileMetaData, OffsetIndex and PageHeader.


class _Thrift:
    def __init__(self, buf: bytes, pos: int = 0):
        self.buf, self.pos = buf, pos

    def _byte(self) -> int:
        if self.pos >= len(self.buf):
            raise EOFError("thrift data ends early")
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self._byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def struct(self) -> dict[int, object]:
        fields: dict[int, object] = {}
        last = 0
        while True:
            header = self._byte()
            if header == 0:
                return fields
            delta, kind = header >> 4, header & 0x0F
            fid = last + delta if delta else self.zigzag()
            last = fid
            fields[fid] = self._value(kind)

    def _value(self, kind: int):
        if kind == 1:
            return True
        if kind == 2:
            return False
        if kind == 3:
            return self._byte()
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 7:
            self.pos += 8
            return struct.unpack_from("<d", self.buf, self.pos - 8)[0]
        if kind == 8:
            n = self.varint()
            self.pos += n
            if self.pos > len(self.buf):
                raise EOFError("thrift data ends early")
            return self.buf[self.pos - n : self.pos]
        if kind in (9, 10):
            header = self._byte()
            size, elem = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            if elem in (1, 2):
                return [self._byte() == 1 for _ in range(size)]
            return [self._value(elem) for _ in range(size)]
        if kind == 11:
            size = self.varint()
            if size == 0:
                return {}
            types = self._byte()
            return {self._value(types >> 4): self._value(types & 0x0F) for _ in range(size)}
        if kind == 12:
            return self.struct()
        raise Unsupported(f"thrift type {kind}")


# ---------------------------------------------------------------------------------------------
# Byte access with counting


class ByteSource:
    """Ranged reads of one object (local pread or S3 GET pinned to the listed ETag), counted."""

    def __init__(self, shard: Shard):
        self.shard = shard
        self.bytes_read = 0
        self.footer: dict | None = None
        self._fd: int | None = None
        if not shard.uri.startswith("s3://"):
            if str(os.stat(shard.uri).st_mtime_ns) != shard.version:
                raise ShardReadError(
                    f"{shard.relpath}: changed since it was listed; rerun the audit"
                )
            self._fd = os.open(shard.uri, os.O_RDONLY)

    def read(self, start: int, end: int) -> bytes:
        if self._fd is not None:
            data = os.pread(self._fd, end - start, start)
        else:
            from assay import s3

            data = s3.read_range(self.shard.uri, start, end, etag=self.shard.version)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def footer(source: ByteSource) -> dict:
    """The file's FileMetaData as thrift fields (read once per source)."""
    if source.footer is None:
        size = source.shard.size
        tail = source.read(size - 8, size)
        if tail[4:] != b"PAR1":
            raise Unsupported("encrypted or not a Parquet footer")
        length = struct.unpack("<i", tail[:4])[0]
        source.footer = _Thrift(source.read(size - 8 - length, size - 8)).struct()
    return source.footer


# ---------------------------------------------------------------------------------------------
# Pass 1: which row groups can skip the text column


def text_column(parquet: pq.ParquetFile, text_field: str) -> int | None:
    """Index of a flat string text column that pass 2 can read by pages, or None."""
    schema = parquet.schema
    for i in range(len(schema)):
        col = schema.column(i)
        if col.path == text_field:
            arrow_type = parquet.schema_arrow.field(text_field).type
            flat = col.max_repetition_level == 0 and col.max_definition_level <= 1
            if flat and col.physical_type == "BYTE_ARRAY" and pa.types.is_string(arrow_type):
                return i
            return None
    return None


def deferrable(
    parquet: pq.ParquetFile, group: int, column: int, settings: AuditSettings, shard: Shard
) -> bool:
    """True when metadata proves every row's text is a string within max_document_bytes."""
    chunk = parquet.metadata.row_group(group).column(column)
    required = parquet.schema.column(column).max_definition_level == 0
    stats = chunk.statistics if chunk.is_stats_set else None
    if not (required or (stats is not None and stats.has_null_count and stats.null_count == 0)):
        return False
    if chunk.total_uncompressed_size <= settings.max_document_bytes:
        return True
    source = ByteSource(shard)
    try:
        pages = page_locations(source, parquet, group, column, want_sizes=True)
    except (Unsupported, EOFError, OSError):
        return False
    finally:
        source.close()
    return all(p.uncompressed <= settings.max_document_bytes for p in pages)


def read_deferred(
    parquet: pq.ParquetFile,
    groups: list[int],
    first_row: int,
    shard: Shard,
    settings: AuditSettings,
    rows_fn,
) -> Iterator[Document | Rejection]:
    """Rows of `groups`; text left for pass 2 where metadata allows, else read as before."""
    column = text_column(parquet, settings.text_field)
    names = set(parquet.schema_arrow.names)
    keys = [c for c in (settings.id_field, settings.source_field) if c and c in names]
    row = first_row
    for g in groups:
        n = parquet.metadata.row_group(g).num_rows
        try:
            if column is not None and deferrable(parquet, g, column, settings, shard):
                table = parquet.read_row_groups([g], columns=keys) if keys else None
                yield from _id_rows(table, n, row, shard, settings)
            else:
                wanted = [settings.text_field, *keys]
                yield from rows_fn(
                    parquet.read_row_groups([g], columns=wanted), row, shard, settings
                )
        except (OSError, pa.ArrowException) as exc:
            raise ShardReadError(f"{shard.relpath}: cannot read row group {g} ({exc})") from exc
        row += n


def _id_rows(table: pa.Table | None, n: int, first_row: int, shard: Shard, settings: AuditSettings):
    ids = (
        table.column(settings.id_field).to_pylist()
        if table is not None and settings.id_field in table.column_names
        else None
    )
    sources = (
        table.column(settings.source_field).to_pylist()
        if table is not None
        and settings.source_field
        and settings.source_field in table.column_names
        else None
    )
    for i in range(n):
        row = first_row + i
        source = shard.path_source
        if sources is not None and isinstance(sources[i], str) and sources[i].strip():
            source = sources[i].strip()
        doc_id = ids[i] if ids is not None else None
        if doc_id is None:
            doc_id = derived_id(shard.relpath, row)
        elif isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
            yield Rejection(source, "invalid_id", row)
            continue
        yield Document(source, str(doc_id), None, row)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Pass 2: text of chosen rows


@dataclass(frozen=True)
class Page:
    offset: int
    size: int  # compressed size including the header
    first_row: int
    uncompressed: int = -1


def _chunk(parquet: pq.ParquetFile, group: int, column: int):
    return parquet.metadata.row_group(group).column(column)


def page_locations(
    source: ByteSource, parquet: pq.ParquetFile, group: int, column: int, want_sizes: bool = False
) -> list[Page]:
    """Data pages of one column chunk: from the offset index, or by walking page headers."""
    chunk = _chunk(parquet, group, column)
    if chunk.has_offset_index and not want_sizes:
        meta = footer(source)
        cc = meta[4][group][1][column]
        offset, length = cc.get(4), cc.get(5)
        if offset is not None and length:
            index = _Thrift(source.read(offset, offset + length)).struct()
            return [Page(p[1], p[2], p[3]) for p in index[1]]
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    end = start + chunk.total_compressed_size
    pages, pos, row = [], start, 0
    while pos < end:
        header, header_len = _read_header(source, pos, end)
        size = header_len + header[3]
        kind = header[1]
        if kind == DATA_PAGE:
            n = header[5][1]
        elif kind == DATA_PAGE_V2:
            n = header[8][3]
        else:
            n = 0
        if kind in (DATA_PAGE, DATA_PAGE_V2):
            pages.append(Page(pos, size, row, header[2]))
        row += n
        pos += size
    return pages


def _read_header(source: ByteSource, pos: int, end: int) -> tuple[dict, int]:
    """One page header (thrift), reading more only when it is longer than the first read."""
    data = b""
    step = 512
    while True:
        data += source.read(pos + len(data), min(pos + len(data) + step, end))
        try:
            reader = _Thrift(data)
            return reader.struct(), reader.pos
        except EOFError:
            if pos + len(data) >= end:
                raise
            step *= 4


def fetch_texts(
    shard: Shard, rows: list[int], settings: AuditSettings
) -> tuple[dict[int, str], int]:
    """Text of the given row numbers of a Parquet shard, and the text bytes that took."""
    source = ByteSource(shard)
    try:
        from assay.storage import open_binary

        with open_binary(shard.uri) as handle:
            parquet = pq.ParquetFile(handle)
            column = text_column(parquet, settings.text_field)
            found: dict[int, str] = {}
            by_group = _rows_by_group(parquet, sorted(set(rows)))
            for group, (group_first, wanted) in by_group.items():
                try:
                    if column is None:
                        raise Unsupported("text column is not flat strings")
                    got = _from_pages(source, parquet, group, column, group_first, wanted)
                except (Unsupported, EOFError) as exc:
                    got = _from_pyarrow(parquet, group, group_first, wanted, settings, source, exc)
                found.update(got)
    except (OSError, pa.ArrowException) as exc:
        raise ShardReadError(f"{shard.relpath}: cannot read sampled text ({exc})") from exc
    finally:
        source.close()
    missing = [r for r in rows if r not in found]
    if missing:
        raise ShardReadError(f"{shard.relpath}: rows {missing[:5]} have no text on second reading")
    return found, source.bytes_read


def _rows_by_group(parquet: pq.ParquetFile, rows: list[int]) -> dict[int, tuple[int, list[int]]]:
    out: dict[int, tuple[int, list[int]]] = {}
    start = 0
    meta = parquet.metadata
    it = iter(rows)
    row = next(it, None)
    for g in range(meta.num_row_groups):
        end = start + meta.row_group(g).num_rows
        while row is not None and row < end:
            out.setdefault(g, (start, []))[1].append(row)
            row = next(it, None)
        start = end
    return out


def _from_pyarrow(
    parquet, group, group_first, wanted, settings, source: ByteSource, why
) -> dict[int, str]:
    texts = parquet.read_row_group(group, columns=[settings.text_field]).column(0).to_pylist()
    source.bytes_read += _chunk(
        parquet, group, parquet.schema_arrow.get_field_index(settings.text_field)
    ).total_compressed_size
    return {r: texts[r - group_first] for r in wanted}


def _from_pages(
    source: ByteSource, parquet, group: int, column: int, group_first: int, wanted: list[int]
) -> dict[int, str]:
    chunk = _chunk(parquet, group, column)
    codec = CODECS.get(_codec_id(chunk.compression), "unsupported")
    if codec == "unsupported":
        raise Unsupported(f"codec {chunk.compression}")
    max_def = parquet.schema.column(column).max_definition_level
    pages = page_locations(source, parquet, group, column)
    dictionary: list[bytes] | None = None
    if chunk.has_dictionary_page:
        dictionary = _dictionary(
            source, chunk, pages[0].offset if pages else chunk.data_page_offset, codec
        )
    found: dict[int, str] = {}
    local = [r - group_first for r in wanted]
    for i, page in enumerate(pages):
        last = pages[i + 1].first_row if i + 1 < len(pages) else chunk.num_values
        in_page = [r for r in local if page.first_row <= r < last]
        if not in_page:
            continue
        values = _decode_page(
            source.read(page.offset, page.offset + page.size),
            codec,
            max_def,
            dictionary,
            [r - page.first_row for r in in_page],
        )
        for r, value in zip(in_page, values, strict=True):
            found[r + group_first] = value
    return found


_CODEC_NAMES = {
    "UNCOMPRESSED": 0,
    "SNAPPY": 1,
    "GZIP": 2,
    "LZO": 3,
    "BROTLI": 4,
    "LZ4": 5,
    "ZSTD": 6,
    "LZ4_RAW": 7,
}


def _codec_id(name: str) -> int:
    return _CODEC_NAMES.get(name.upper(), -1)


def _decompress(data: bytes, codec: str | None, size: int) -> bytes:
    if codec is None:
        return data
    if codec == "gzip":
        return zlib.decompress(data, 47)
    return pa.decompress(data, decompressed_size=size, codec=codec, asbytes=True)


def _dictionary(source: ByteSource, chunk, first_data: int, codec: str | None) -> list[bytes]:
    start = chunk.dictionary_page_offset
    data = source.read(start, first_data)
    reader = _Thrift(data)
    header = reader.struct()
    if header[1] != DICTIONARY_PAGE or header[7][2] not in (PLAIN, PLAIN_DICTIONARY):
        raise Unsupported("dictionary page layout")
    body = _decompress(data[reader.pos : reader.pos + header[3]], codec, header[2])
    return _plain_values(body, 0, header[7][1], None)


def _plain_values(body: bytes, pos: int, count: int, wanted: list[int] | None) -> list[bytes]:
    """PLAIN byte arrays: all of them, or just the `wanted` (sorted) positions."""
    out = []
    targets = set(wanted) if wanted is not None else None
    for i in range(count):
        (length,) = struct.unpack_from("<I", body, pos)
        pos += 4
        if targets is None or i in targets:
            out.append(bytes(body[pos : pos + length]))
            if targets is not None and len(out) == len(targets):
                break
        pos += length
    return out


def _rle_hybrid(buf: bytes, pos: int, end: int, width: int, count: int) -> np.ndarray:
    """Decode `count` values of the RLE / bit-packed hybrid encoding."""
    out = np.empty(count, dtype=np.int64)
    n = 0
    byte_width = (width + 7) // 8
    while n < count and pos < end:
        header, shift = 0, 0
        while True:
            b = buf[pos]
            pos += 1
            header |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
        if header & 1:
            groups = header >> 1
            nbytes = groups * width
            bits = np.unpackbits(np.frombuffer(buf, np.uint8, nbytes, pos), bitorder="little")
            values = (
                bits.reshape(-1, width).astype(np.int64) @ (1 << np.arange(width, dtype=np.int64))
                if width
                else np.zeros(groups * 8, np.int64)
            )
            take = min(len(values), count - n)
            out[n : n + take] = values[:take]
            n += take
            pos += nbytes
        else:
            run = header >> 1
            value = int.from_bytes(buf[pos : pos + byte_width], "little")
            pos += byte_width
            take = min(run, count - n)
            out[n : n + take] = value
            n += take
    if n < count:
        raise Unsupported("level or index data ends early")
    return out


def _decode_page(
    data: bytes, codec: str | None, max_def: int, dictionary, positions: list[int]
) -> list[str]:
    """The values at `positions` (rows within the page) of one data page, as strings."""
    reader = _Thrift(data)
    header = reader.struct()
    body = data[reader.pos : reader.pos + header[3]]
    kind = header[1]
    if kind == DATA_PAGE:
        page = header[5]
        count, encoding = page[1], page[2]
        raw = _decompress(body, codec, header[2])
        pos = 0
        if max_def:
            (levels_len,) = struct.unpack_from("<I", raw, 0)
            defs = _rle_hybrid(raw, 4, 4 + levels_len, 1, count)
            pos = 4 + levels_len
        else:
            defs = None
    elif kind == DATA_PAGE_V2:
        page = header[8]
        count, encoding = page[1], page[4]
        def_len, rep_len = page[5], page[6]
        if rep_len:
            raise Unsupported("repetition levels")
        defs = _rle_hybrid(body, 0, def_len, 1, count) if max_def else None
        values = body[def_len:]
        compressed = page.get(7, True)
        raw = _decompress(values, codec, header[2] - def_len) if compressed else values
        pos = 0
    else:
        raise Unsupported(f"page type {kind}")
    if defs is not None:
        if not all(defs[p] == 1 for p in positions):
            raise Unsupported("null text in a page proved null-free")
        before = np.cumsum(defs) - 1
        slots = [int(before[p]) for p in positions]
        n_values = int(defs.sum())
    else:
        slots, n_values = list(positions), count
    if encoding == PLAIN:
        unique = sorted(set(slots))
        by_slot = dict(zip(unique, _plain_values(raw, pos, n_values, unique), strict=True))
        values_b = [by_slot[s] for s in slots]
    elif encoding in (PLAIN_DICTIONARY, RLE_DICTIONARY) and dictionary is not None:
        width = raw[pos]
        indices = _rle_hybrid(raw, pos + 1, len(raw), width, max(slots) + 1 if slots else 0)
        values_b = [dictionary[int(indices[s])] for s in slots]
    else:
        raise Unsupported(f"encoding {encoding}")
    return [v.decode("utf-8", errors="replace") for v in values_b]


# ---------------------------------------------------------------------------------------------
# Pass 2 in Spark


class TextFill:
    """Fills deferred Parquet text into sample frames; counts the text bytes it read."""

    def __init__(self, spark, plan, settings: AuditSettings):
        self.spark = spark
        self.settings_json = settings.to_json()
        self.parquet = {s.index: s.to_dict() for s in plan.shards if s.container == "parquet"}
        self.bytes = spark.sparkContext.accumulator(0) if self.parquet else None

    def bytes_read(self) -> int:
        return int(self.bytes.value) if self.bytes is not None else 0

    def __call__(self, frame):
        """The same rows, with text read for rows whose text was deferred."""
        if not self.parquet:
            return frame
        from pyspark.sql.pandas.types import to_arrow_schema

        from assay.connections import executor_access, use_in_executor

        access_b = executor_access(self.spark)
        shards_b = self.spark.sparkContext.broadcast(self.parquet)
        settings_json, counter = self.settings_json, self.bytes
        arrow_schema = to_arrow_schema(frame.schema)

        def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            use_in_executor(access_b)
            table = pa.Table.from_batches(list(batches), schema=arrow_schema)
            if table.num_rows == 0:
                return
            filled, n_bytes = fill_table(
                table, shards_b.value, AuditSettings.from_json(settings_json)
            )
            counter.add(n_bytes)
            yield from filled.to_batches()

        parts = max(1, min(len(self.parquet), self.spark.sparkContext.defaultParallelism * 2))
        return frame.repartition(parts, "shard").mapInArrow(task, frame.schema)


def fill_table(
    table: pa.Table, shards: dict[int, dict], settings: AuditSettings
) -> tuple[pa.Table, int]:
    """Rows with null text from a Parquet shard get their text; returns the table and bytes read."""
    texts = table.column("text").to_pylist()
    shard_ids = table.column("shard").to_pylist()
    locators = table.column("locator").to_pylist()
    wanted: dict[int, list[int]] = {}
    for text, shard, row in zip(texts, shard_ids, locators, strict=True):
        if text is None and shard in shards:
            wanted.setdefault(shard, []).append(row)
    if not wanted:
        return table, 0
    total = 0
    fetched: dict[tuple[int, int], str] = {}
    for shard, rows in sorted(wanted.items()):
        got, n_bytes = fetch_texts(Shard(**shards[shard]), rows, settings)
        total += n_bytes
        fetched.update({(shard, r): t for r, t in got.items()})
    new = [
        fetched.get((s, r), t) if t is None else t
        for t, s, r in zip(texts, shard_ids, locators, strict=True)
    ]
    index = table.schema.get_field_index("text")
    return table.set_column(index, table.schema.field(index), pa.array(new, pa.string())), total
