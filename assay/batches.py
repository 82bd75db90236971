"""A shard's documents as Arrow columns, a block of lines at a time: the sampling pass's reader.

The sampling pass touches every document of the corpus, so JSON Lines are parsed by Arrow's C++
reader a block (about 4 MB of whole lines) at a time instead of line by line in Python. Arrow's
parser and Python's `json` disagree on a few inputs, so the block path only takes the lines on
which they provably agree; every other line goes through `assay.corpus`'s line parser, which
gives the reasons for rejections:

- lines that are blank, do not start with '{' and end with '}', or exceed max_document_bytes;
- lines with many '{'/'[' (Python's nesting limit decides them) or a bare `Inf`/`-NaN` (which
  Arrow accepts and Python does not);
- lines that are not valid UTF-8 (Arrow does not check fields it ignores);
- blocks with '\\r' line ends, and lines whose text is missing or null;
- lines Arrow refuses: a refused run of lines is halved until the refused lines are found.

So a line gets the same verdict on either path, and results never depend on where blocks or
shards are cut. Plain text files are split into lines with numpy; Parquet shards come through
`assay.corpus.read_shard`'s records, gathered into batches.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import re2

from assay.corpus import (
    Document,
    Rejection,
    Shard,
    _parse_json_line,
    _parse_text_line,
    block_lines,
    derived_id,
    read_shard,
    shard_blocks,
)
from assay.settings import AuditSettings

RECORDS_PER_BATCH = 8192
# A line with at least this many '{' and '[' may nest deeper than the block parser is trusted
# to agree with Python's json (whose recursion limit rejects very deep documents).
BRACKET_GUARD = 200
_SMALLEST_RUN = 8  # refused runs are halved down to this many lines, then parsed line by line
# Arrow reads bare Inf and -NaN as numbers; Python does not. (Linear: no nested repetition.)
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
# re2 scans a block ~3x faster than `re` (prose holds "Inf" often: "Information").
_BARE_INF = re2.compile(rb"[:,\[][ \t]*(?:-?Inf|-NaN)[ \t]*[,}\]]", _RE2_OPTIONS)
_FEW_INF = 64  # more words "Inf"/"-NaN" in a block than this: the regex scans the whole block
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[list(b" \t\n\r\x0b\x0c")] = True


@dataclass
class DocumentBatch:
    """Documents read from a run of records, as columns, and the records rejected there."""

    source: pa.Array  # string
    doc_id: pa.Array  # string
    text: pa.Array  # string; null where Parquet text is deferred
    locator: np.ndarray  # int64: byte offset of the line, or Parquet row number
    rejections: list[Rejection] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.locator)

    def by_source(self) -> Iterator[tuple[str, np.ndarray]]:
        """(source, row indexes) for each source with documents in the batch."""
        encoded = self.source.dictionary_encode()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        for code, source in enumerate(encoded.dictionary.to_pylist()):
            rows = np.flatnonzero(codes == code)
            if len(rows):
                yield source, rows


def read_batches(
    shard: Shard, settings: AuditSettings, defer_text: bool = False
) -> Iterator[DocumentBatch]:
    """The shard's documents and rejections, batch by batch, in file order.

    The same records as `assay.corpus.read_shard`; raises ShardReadError after the batches that
    could be read when the file is damaged.
    """
    if shard.container == "parquet":
        yield from _gathered(read_shard(shard, settings, defer_text))
        return
    read_block = _jsonl_block if shard.container == "jsonl" else _text_block
    for base, block in shard_blocks(shard):
        yield read_block(base, block, shard, settings)


def from_records(records: Iterable[Document | Rejection]) -> DocumentBatch:
    """One batch from records (documents keep their order)."""
    docs: list[Document] = []
    rejections: list[Rejection] = []
    for record in records:
        (docs if isinstance(record, Document) else rejections).append(record)  # type: ignore[arg-type]
    return DocumentBatch(
        pa.array([d.source for d in docs], pa.string()),
        pa.array([d.doc_id for d in docs], pa.string()),
        pa.array([d.text for d in docs], pa.string()),
        np.array([d.locator for d in docs], dtype=np.int64),
        rejections,
    )


def concat(batches: list[DocumentBatch]) -> DocumentBatch:
    """One batch of all documents, sorted by locator."""
    batches = [b for b in batches if len(b) or b.rejections]
    if len(batches) == 1:
        return batches[0]
    locator = np.concatenate([b.locator for b in batches]) if batches else np.empty(0, np.int64)
    order = pa.array(np.argsort(locator, kind="stable"))

    def column(name: str) -> pa.Array:
        arrays = [getattr(b, name) for b in batches]
        return pa.concat_arrays(arrays).take(order) if arrays else pa.array([], pa.string())

    return DocumentBatch(
        column("source"),
        column("doc_id"),
        column("text"),
        locator[order.to_numpy()],
        [r for b in batches for r in b.rejections],
    )


def _gathered(records: Iterable[Document | Rejection]) -> Iterator[DocumentBatch]:
    pending: list[Document | Rejection] = []
    for record in records:
        pending.append(record)
        if len(pending) == RECORDS_PER_BATCH:
            yield from_records(pending)
            pending = []
    if pending:
        yield from_records(pending)


# ---- lines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lines:
    """Where each line of a '\\n'-only block starts and ends (terminator excluded)."""

    block: bytes
    bytes_: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, block: bytes) -> _Lines:
        data = np.frombuffer(block, dtype=np.uint8)
        newlines = np.flatnonzero(data == 10)
        starts = np.concatenate(([0], newlines + 1))
        ends = np.concatenate((newlines, [len(block)]))
        if starts[-1] == len(block):  # the block ends with its last line's terminator
            starts, ends = starts[:-1], ends[:-1]
        return cls(block, data, starts, ends)

    def __len__(self) -> int:
        return len(self.starts)

    def blank(self) -> np.ndarray:
        """Lines of ASCII whitespace only (bytes.strip() leaves nothing), empty lines included."""
        spaces = np.concatenate(([0], np.cumsum(~_ASCII_SPACE[self.bytes_])))
        return spaces[self.ends] - spaces[self.starts] == 0

    def join(self, lines: np.ndarray) -> bytes:
        """The given lines (indexes, ascending), each ended by '\\n', as one buffer."""
        if len(lines) == 0:
            return b""
        breaks = np.flatnonzero(np.diff(lines) != 1) + 1
        runs = np.split(lines, breaks)
        if len(runs) == 1 and len(lines) == len(self):
            return self.block if self.block.endswith(b"\n") else self.block + b"\n"
        return b"".join(
            self.block[self.starts[r[0]] : self.ends[r[-1]]] + b"\n" for r in runs if len(r)
        )

    def line(self, i: int) -> bytes:
        return self.block[self.starts[i] : self.ends[i]]


def _invalid_utf8(lines: _Lines) -> np.ndarray:
    try:
        lines.block.decode("utf-8")
        return np.zeros(len(lines), dtype=bool)
    except UnicodeDecodeError:
        out = np.zeros(len(lines), dtype=bool)
        for i in range(len(lines)):
            try:
                lines.line(i).decode("utf-8")
            except UnicodeDecodeError:
                out[i] = True
        return out


def _lines_at(lines: _Lines, positions: list[int]) -> np.ndarray:
    out = np.zeros(len(lines), dtype=bool)
    if positions:
        out[np.searchsorted(lines.starts, np.array(positions), side="right") - 1] = True
    return out


# ---- JSON Lines -----------------------------------------------------------------------------


def _jsonl_block(base: int, block: bytes, shard: Shard, settings: AuditSettings) -> DocumentBatch:
    names = [settings.text_field, settings.id_field, settings.source_field or None]
    present = [n for n in names if n]
    if b"\r" in block or len(set(present)) != len(present):
        return _by_line(base, block, shard, settings)
    lines = _Lines.of(block)
    if not len(lines):
        return from_records([])
    slow = _needs_python(lines, settings)
    fast = np.flatnonzero(~slow & (lines.ends > lines.starts))
    parsed, refused = _parse_runs(lines, fast, settings)
    batches = [_documents(lines, part, table, base, shard, settings) for part, table in parsed]
    python_lines = np.union1d(np.flatnonzero(slow), np.array(refused, dtype=np.int64))
    for part, table in parsed:
        python_lines = np.union1d(python_lines, part[_null_text(table, settings)])
    batches.append(
        from_records(
            _parse_json_line(lines.line(i), base + int(lines.starts[i]), shard, settings)
            for i in python_lines
            if lines.line(int(i)).strip()
        )
    )
    return concat(batches)


def _needs_python(lines: _Lines, settings: AuditSettings) -> np.ndarray:
    """Lines the block parser must not decide: see the module docstring."""
    data, starts, ends = lines.bytes_, lines.starts, lines.ends
    empty = ends == starts
    first = data[np.minimum(starts, len(data) - 1)]
    last = data[np.maximum(ends - 1, 0)]
    slow = ~empty & ((first != ord("{")) | (last != ord("}")))
    slow |= (ends - starts) > settings.max_document_bytes
    block = lines.block
    # Each line starting with '{' holds at least one bracket; only when the block holds more
    # than those can any line reach the guard.
    braced = np.count_nonzero(~empty & (first == ord("{")))
    if block.count(b"{") + block.count(b"[") - braced >= BRACKET_GUARD - 1:
        opening = np.flatnonzero((data == ord("{")) | (data == ord("[")))
        owner = np.searchsorted(starts, opening, side="right") - 1
        slow |= np.bincount(owner, minlength=len(lines)) >= BRACKET_GUARD
    slow |= _bare_infinity(lines)
    slow |= _invalid_utf8(lines)
    return slow & ~empty


def _bare_infinity(lines: _Lines) -> np.ndarray:
    """Lines holding a bare Infinity or -NaN value (Arrow reads them, Python's json does not).

    Prose says "Inf" often ("Information") but seldom more than a few times per block: the
    regex runs only over the lines that hold the word, or over the whole block when many do.
    """
    block = lines.block
    at: list[int] = []
    for word in (b"Inf", b"-NaN"):
        i = block.find(word)
        while i >= 0 and len(at) <= _FEW_INF:
            at.append(i)
            i = block.find(word, i + 1)
    out = np.zeros(len(lines), dtype=bool)
    if not at:
        return out
    if len(at) > _FEW_INF:
        return _lines_at(lines, [m.start() for m in _BARE_INF.finditer(block)])
    for line in np.unique(np.searchsorted(lines.starts, at, side="right") - 1).tolist():
        if _BARE_INF.search(block, int(lines.starts[line]), int(lines.ends[line])):
            out[line] = True
    return out


def _parse_runs(
    lines: _Lines, wanted: np.ndarray, settings: AuditSettings
) -> tuple[list[tuple[np.ndarray, pa.Table]], list[int]]:
    """Parse lines with Arrow; a refused run is halved until the refused lines are isolated."""
    parsed: list[tuple[np.ndarray, pa.Table]] = []
    refused: list[int] = []
    todo = [wanted] if len(wanted) else []
    while todo:
        part = todo.pop()
        table = _arrow_parse(lines.join(part), settings)
        if table is not None and table.num_rows == len(part):
            parsed.append((part, table))
        elif len(part) <= _SMALLEST_RUN:
            refused.extend(int(i) for i in part)
        else:
            half = len(part) // 2
            todo += [part[half:], part[:half]]
    return parsed, refused


def _arrow_parse(buffer: bytes, settings: AuditSettings) -> pa.Table | None:
    """The text, id and source fields of every line, or None when Arrow refuses the buffer.

    Ids may be strings or integers: a buffer is tried with string ids, then integer ids.
    """
    for id_type in (pa.string(), pa.int64()):
        fields = [(settings.text_field, pa.string()), (settings.id_field, id_type)]
        if settings.source_field:
            fields.append((settings.source_field, pa.string()))
        try:
            table = pj.read_json(
                io.BytesIO(buffer),
                read_options=pj.ReadOptions(use_threads=False, block_size=len(buffer) + 1),
                parse_options=pj.ParseOptions(
                    explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore"
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
            continue
        return table.combine_chunks()
    return None


def _null_text(table: pa.Table, settings: AuditSettings) -> np.ndarray:
    """Rows whose text is missing or null: Python's parser tells which, with the reason."""
    return table.column(settings.text_field).is_null().to_numpy(zero_copy_only=False)


def _documents(
    lines: _Lines,
    part: np.ndarray,
    table: pa.Table,
    base: int,
    shard: Shard,
    settings: AuditSettings,
) -> DocumentBatch:
    keep = ~_null_text(table, settings)
    rows = None if keep.all() else pa.array(np.flatnonzero(keep))

    def column(name: str) -> pa.Array:
        values = table.column(name).chunk(0)
        return values if rows is None else values.take(rows)

    locator = base + lines.starts[part[keep]].astype(np.int64)
    ids = _ids(column(settings.id_field), locator, shard)
    field = column(settings.source_field) if settings.source_field else None
    sources = _sources(field, shard, len(locator))
    return DocumentBatch(sources, ids, column(settings.text_field), locator)


def _ids(ids: pa.Array, locator: np.ndarray, shard: Shard) -> pa.Array:
    """String ids; a document without one gets its derived id (file@offset)."""
    if not pa.types.is_string(ids.type):
        ids = pc.cast(ids, pa.string())
    missing = ids.is_null()
    if not pc.any(missing).as_py():
        return ids
    derived = [derived_id(shard.relpath, int(x)) for x in locator[missing.to_numpy(False)]]
    return pc.replace_with_mask(ids, missing, pa.array(derived, pa.string()))


def _sources(field: pa.Array | None, shard: Shard, n: int) -> pa.Array:
    """The document's source field where it is a non-blank string, else the file's source."""
    if field is None:
        return pa.repeat(pa.scalar(shard.path_source, pa.string()), n)
    column = field.dictionary_encode()
    names = [
        (v.strip() if isinstance(v, str) and v.strip() else shard.path_source)
        for v in column.dictionary.to_pylist()
    ]
    if column.null_count:
        names.append(shard.path_source)
        indices = column.indices.fill_null(len(names) - 1)
    else:
        indices = column.indices
    return pa.array(names, pa.string()).take(indices)


def _by_line(base: int, block: bytes, shard: Shard, settings: AuditSettings) -> DocumentBatch:
    parse = _parse_json_line if shard.container == "jsonl" else _parse_text_line
    return from_records(
        parse(line, offset, shard, settings)
        for offset, line in block_lines(base, block)
        if line.strip()
    )


# ---- plain text -----------------------------------------------------------------------------


def _text_block(base: int, block: bytes, shard: Shard, settings: AuditSettings) -> DocumentBatch:
    """One document per non-blank line; ids are derived (file@offset)."""
    if b"\r" in block:
        return _by_line(base, block, shard, settings)
    lines = _Lines.of(block)
    keep = ~lines.blank()
    slow = keep & (
        ((lines.ends - lines.starts) > settings.max_document_bytes) | _invalid_utf8(lines)
    )
    fast = np.flatnonzero(keep & ~slow)
    # Text without the terminators, as one Arrow string array over the block's bytes.
    body = np.delete(lines.bytes_, lines.ends[lines.ends < len(block)])
    offsets = (lines.starts - np.arange(len(lines))).astype(np.int32)
    offsets = np.append(offsets, len(body)).astype(np.int32)
    texts = pa.StringArray.from_buffers(
        len(lines), pa.py_buffer(offsets.tobytes()), pa.py_buffer(body.tobytes())
    )
    locator = base + lines.starts[fast].astype(np.int64)
    batch = DocumentBatch(
        pa.repeat(pa.scalar(shard.path_source, pa.string()), len(fast)),
        pa.array([derived_id(shard.relpath, int(x)) for x in locator], pa.string()),
        texts.take(pa.array(fast)),
        locator,
    )
    slow_records = from_records(
        _parse_text_line(lines.line(int(i)), base + int(lines.starts[i]), shard, settings)
        for i in np.flatnonzero(slow)
    )
    return concat([batch, slow_records])
