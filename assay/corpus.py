"""A corpus: its files cut into shards, and every shard read into documents or reasoned rejections.

Nothing is dropped silently: each record a shard yields is either a `Document` or a `Rejection`
with a reason code from `REJECTION_REASONS`, and a shard that cannot be read to its end says so.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

from assay.settings import AuditSettings
from assay.storage import StoredObject, open_binary, read_range

# Reason codes for rejected documents, with the words reports show.
REJECTION_REASONS: dict[str, str] = {
    "invalid_utf8": "the line is not valid UTF-8",
    "invalid_json": "the line is not valid JSON",
    "json_too_deep": "the JSON nests too deeply to parse",
    "not_an_object": "the JSON value is not an object",
    "missing_text": "the text field is missing",
    "text_not_string": "the text field is null, a number, a list or an object",
    "invalid_id": "the id field is not a string or an integer",
    "lone_surrogate": "a field escapes a lone UTF-16 surrogate, which is not valid Unicode",
    "too_large": "the document is larger than max_document_bytes",
    "missing_text_column": "the Parquet file has no text column",
}

BLOCK_BYTES = 4 * 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class FileFormat:
    container: str  # "jsonl", "text" or "parquet"
    compression: str  # "none", "gzip" or "zstd"


_CONTAINERS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".txt": "text"}
_COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


def detect_format(relpath: str) -> FileFormat | None:
    """The format a file name promises, or None for files that are not corpus data."""
    suffixes = [s.lower() for s in PurePosixPath(relpath).suffixes]
    if suffixes and suffixes[-1] == ".parquet":
        return FileFormat("parquet", "none")
    compression = "none"
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        compression = _COMPRESSIONS[suffixes.pop()]
    if suffixes and suffixes[-1] in _CONTAINERS:
        return FileFormat(_CONTAINERS[suffixes[-1]], compression)
    return None


@dataclass(frozen=True)
class Shard:
    """A unit of reading: a whole file, a byte range of a plain file, or a Parquet row group."""

    index: int
    uri: str
    relpath: str
    container: str
    compression: str
    size: int
    version: str
    path_source: str  # the source implied by the file's place in the corpus
    start: int = 0  # byte offset (plain files) or row-group index (Parquet)
    end: int = -1  # exclusive byte offset or row-group index; -1 = to the end

    @property
    def name(self) -> str:
        return f"{self.relpath}[{self.start}:{self.end}]" if self.end >= 0 else self.relpath

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IgnoredFile:
    """A file under the corpus root that holds no documents Assay can read, and why."""

    relpath: str
    size: int
    reason: str


def path_source(relpath: str, root_name: str, layout: str = "folder") -> str:
    """A file's source when documents carry none, from the key layout.

    A `source=<name>/` folder names it; otherwise layout "folder" takes the file's folder
    relative to the corpus root and "first_segment" that folder's first segment.
    """
    parts = PurePosixPath(relpath).parent.parts
    for part in parts:
        if part.startswith("source=") and len(part) > len("source="):
            return part[len("source=") :]
    if not parts:
        return root_name
    return parts[0] if layout == "first_segment" else "/".join(parts)


def plan_shards(
    objects: list[StoredObject], settings: AuditSettings, root_name: str
) -> tuple[list[Shard], list[IgnoredFile]]:
    """Cut listed files into shards; large plain files are split on byte ranges."""
    shards: list[Shard] = []
    ignored: list[IgnoredFile] = []
    for obj in objects:
        if any(part.startswith(".") for part in obj.relpath.rstrip("/").split("/")):
            ignored.append(IgnoredFile(obj.relpath, obj.size, "hidden"))
            continue
        fmt = detect_format(obj.relpath)
        if fmt is None:
            ignored.append(IgnoredFile(obj.relpath, obj.size, "unknown_extension"))
            continue
        source = path_source(obj.relpath, root_name, getattr(settings, "source_layout", "folder"))
        ranges = _ranges(obj, fmt, settings.shard_bytes)
        for start, end in ranges:
            shards.append(
                Shard(
                    len(shards),
                    obj.uri,
                    obj.relpath,
                    fmt.container,
                    fmt.compression,
                    obj.size,
                    obj.version,
                    source,
                    start,
                    end,
                )
            )
    return shards, ignored


def _ranges(obj: StoredObject, fmt: FileFormat, shard_bytes: int) -> list[tuple[int, int]]:
    if fmt.container == "parquet":
        from assay.parquet import row_group_ranges

        return row_group_ranges(obj, shard_bytes)
    if fmt.compression != "none" or obj.size <= shard_bytes:
        return [(0, -1)]
    return [(s, min(s + shard_bytes, obj.size)) for s in range(0, obj.size, shard_bytes)]


@dataclass(frozen=True)
class Document:
    source: str
    doc_id: str
    text: str
    locator: int  # byte offset of the line in the (uncompressed) file, or Parquet row number


@dataclass(frozen=True)
class Rejection:
    source: str
    reason: str
    locator: int


class ShardReadError(RuntimeError):
    """A shard could not be read to its end (truncated or corrupt); documents before it count."""


def read_shard(
    shard: Shard, settings: AuditSettings, defer_text: bool = False
) -> Iterator[Document | Rejection]:
    """Every record of a shard, in file order, as a Document or a Rejection.

    Raises ShardReadError after yielding what could be read when the file is damaged.
    defer_text: Parquet documents may come with text None, to be fetched for sampled rows
    only (assay.parquet_pages.fetch_texts); other formats always carry their text.
    """
    if shard.container == "parquet":
        from assay.parquet import read_parquet_shard

        yield from read_parquet_shard(shard, settings, defer_text)
        return
    parse = _parse_json_line if shard.container == "jsonl" else _parse_text_line
    for base, block in shard_blocks(shard):
        for offset, line in block_lines(base, block):
            if not line.strip():
                continue
            yield parse(line, offset, shard, settings)


def shard_blocks(shard: Shard) -> Iterator[tuple[int, bytes]]:
    """(offset, block) for a plain or compressed shard: runs of whole lines, in file order.

    Every line starting in the shard's byte range is in exactly one block (a line belongs to
    the range holding its first byte; '\\n', '\\r\\n' and '\\r' all end lines); a file's
    leading UTF-8 byte-order mark is dropped. Raises ShardReadError, after the blocks that could
    be read, when the file is damaged.
    """
    try:
        if shard.end < 0:
            with _open_stream(shard) as stream:
                yield from _whole_blocks(stream)
        else:
            yield from _range_blocks(shard)
    except (EOFError, OSError, zlib.error) as exc:
        raise ShardReadError(f"{shard.relpath}: {_describe(exc)}") from exc
    except Exception as exc:  # zstandard raises its own error type
        if type(exc).__module__.startswith("zstandard"):
            raise ShardReadError(
                f"{shard.relpath}: corrupt zstd data ({exc}); re-upload or exclude it"
            ) from exc
        raise


def block_lines(base: int, block: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, line without its terminator) for every line of a block starting at `base`."""
    offset = base
    for line in block.splitlines(keepends=True):
        yield offset, line.rstrip(b"\r\n")
        offset += len(line)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "compressed file ends early (truncated); re-upload or exclude it"
    return f"cannot read ({exc}); check the file or exclude it"


def _open_stream(shard: Shard) -> io.BufferedIOBase:
    raw = open_binary(shard.uri)
    if shard.compression == "gzip":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if shard.compression == "zstd":
        return _ZstdStream(raw)  # type: ignore[return-value]
    return raw  # type: ignore[return-value]


class _ZstdStream:
    """zstd frames one after another; a file that ends inside a frame raises EOFError.

    (zstandard's stream_reader returns a truncated file's data as if it were complete.)
    """

    def __init__(self, raw) -> None:
        import zstandard

        self._raw, self._dctx = raw, zstandard.ZstdDecompressor()
        self._frame, self._in_frame = self._dctx.decompressobj(), False

    def read(self, n: int = -1) -> bytes:
        while True:
            data = self._raw.read(64 * 1024)
            if not data:
                if self._in_frame:
                    raise EOFError("zstd frame ends early")
                return b""
            out = []
            while data:
                self._in_frame = True
                out.append(self._frame.decompress(data))
                data = b""
                if self._frame.eof:
                    data = self._frame.unused_data
                    self._frame, self._in_frame = self._dctx.decompressobj(), False
            if any(out):
                return b"".join(out)

    def __enter__(self) -> _ZstdStream:
        return self

    def __exit__(self, *exc) -> None:
        self._raw.close()


def _raw_blocks(stream, base: int) -> Iterator[tuple[int, bytes]]:
    """(offset, block) cut after the last line terminator of each read; the tail at the end."""
    offset, tail = base, b""
    read = getattr(stream, "read1", stream.read)  # read1: a damaged stream keeps what came before
    while True:
        chunk = read(BLOCK_BYTES)
        if not chunk:
            break
        cut = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if cut < 0:
            tail += chunk
            continue
        block, tail = tail + chunk[: cut + 1], chunk[cut + 1 :]
        yield offset, block
        offset += len(block)
    if tail:
        yield offset, tail


def _strip_bom(offset: int, block: bytes) -> tuple[int, bytes]:
    if offset == 0 and block.startswith(UTF8_BOM):
        return len(UTF8_BOM), block[len(UTF8_BOM) :]
    return offset, block


def _whole_blocks(stream) -> Iterator[tuple[int, bytes]]:
    for offset, block in _raw_blocks(stream, 0):
        yield _strip_bom(offset, block)


def _range_blocks(shard: Shard) -> Iterator[tuple[int, bytes]]:
    """Blocks of the lines that start in [shard.start, shard.end).

    Reading begins one byte early: the line under way there belongs to the previous range and
    is dropped (byte start-1 ends a line exactly when that piece is only its terminator).
    Reading goes past the end only to finish the last line.
    """
    begin = max(shard.start - 1, 0)
    skip_partial = shard.start > 0
    for offset, block in _raw_blocks(_RangeStream(shard.uri, begin, shard.size), begin):
        if skip_partial:
            skip_partial = False
            drop = _line_end(block, 0)
            offset, block = offset + drop, block[drop:]
        if offset >= shard.end:
            return
        if offset + len(block) > shard.end:
            yield _strip_bom(offset, block[: _line_end(block, shard.end - offset - 1)])
            return
        if block:
            yield _strip_bom(offset, block)
        if offset + len(block) >= shard.end:
            return


def _line_end(block: bytes, at: int) -> int:
    """The index just past the terminator of the line holding byte `at` (len(block) if none)."""
    ends = [i for i in (block.find(b"\n", at), block.find(b"\r", at)) if i >= 0]
    if not ends:
        return len(block)
    end = min(ends)
    if block[end : end + 2] == b"\r\n":
        return end + 2
    return end + 1


class _RangeStream:
    def __init__(self, uri: str, start: int, end: int):
        self.uri, self.pos, self.end = uri, start, end

    def read(self, n: int) -> bytes:
        if self.pos >= self.end:
            return b""
        data = read_range(self.uri, self.pos, min(self.pos + n, self.end))
        self.pos += len(data)
        return data


def _parse_json_line(
    line: bytes, offset: int, shard: Shard, settings: AuditSettings
) -> Document | Rejection:
    source = shard.path_source
    if len(line) > settings.max_document_bytes:
        return Rejection(source, "too_large", offset)
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection(source, "invalid_utf8", offset)
    try:
        record = json.loads(decoded)
    except RecursionError:
        return Rejection(source, "json_too_deep", offset)
    except ValueError:
        return Rejection(source, "invalid_json", offset)
    if not isinstance(record, dict):
        return Rejection(source, "not_an_object", offset)
    field_source = record.get(settings.source_field) if settings.source_field else None
    if isinstance(field_source, str) and field_source.strip():
        source = field_source.strip()
    if settings.text_field not in record:
        return Rejection(source, "missing_text", offset)
    text = record[settings.text_field]
    if not isinstance(text, str):
        return Rejection(source, "text_not_string", offset)
    doc_id = record.get(settings.id_field)
    if doc_id is None:
        doc_id = derived_id(shard.relpath, offset)
    elif isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
        return Rejection(source, "invalid_id", offset)
    if (b"\\ud" in line or b"\\uD" in line) and not _encodable(source, str(doc_id), text):
        return Rejection(shard.path_source, "lone_surrogate", offset)
    return Document(source, str(doc_id), text, offset)


def _encodable(*values: str) -> bool:
    try:
        for value in values:
            value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_text_line(
    line: bytes, offset: int, shard: Shard, settings: AuditSettings
) -> Document | Rejection:
    if len(line) > settings.max_document_bytes:
        return Rejection(shard.path_source, "too_large", offset)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection(shard.path_source, "invalid_utf8", offset)
    return Document(shard.path_source, derived_id(shard.relpath, offset), text, offset)


def derived_id(relpath: str, locator: int) -> str:
    """A stable id for a document without one: its file and byte offset (or row number)."""
    return f"{relpath}@{locator}"
