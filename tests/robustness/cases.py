"""The malformed-input catalogue as files on disk, each case in its own folder (= its own source).

`build_catalogue(root)` writes every case and returns what the audit must report for it:
records read, eligible, rejected by reason, duplicate ids. The expectations are written here
by hand from the bytes each case writes, independently of the reader.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

BOM = b"\xef\xbb\xbf"
CASE_NAMES = (
    "invalid_json", "not_an_object", "missing_text", "text_not_string", "invalid_utf8", "bom",
    "line_endings", "nul_bytes", "large_document", "no_final_newline", "parquet_wrong_type",
    "parquet_missing_column", "parquet_nulls", "duplicate_ids", "unknown_extension", "deep_json",
    "larger_than_sample",
)  # fmt: skip


@dataclass(frozen=True)
class Expect:
    """What the run must report for one case's source (None: the source has no row at all)."""

    n_read: int
    n_eligible: int
    rejected: dict[str, int] = field(default_factory=dict)
    n_duplicate_ids: int = 0


def jsonl(docs: list[dict], newline: bytes = b"\n") -> bytes:
    return b"".join(json.dumps(d, ensure_ascii=False).encode() + newline for d in docs)


def good(prefix: str, n: int, pad: int = 0) -> list[dict]:
    """n ordinary documents with ids prefix-0.. and harmless text."""
    return [
        {"id": f"{prefix}-{i}", "text": f"plain document {prefix} {i} " + "x" * pad}
        for i in range(n)
    ]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# Catalogue cases that become counted rejections (or plain documents) in one run.
MAX_DOCUMENT_BYTES = 1_000_000  # the catalogue run's limit; the large_document case exceeds it
SAMPLE_SIZE = 50
SHARD_BYTES = 4096  # small, so the line-ending files are cut into several byte ranges


def build_catalogue(root: Path) -> dict[str, Expect]:
    """Write every case under root/<case>/ and return the expected accounting per case."""
    expect: dict[str, Expect] = {}

    _write(
        root / "invalid_json/a.jsonl",
        jsonl(good("ij", 3)) + b'{"text": "unterminated\nnot json at all\n',
    )
    expect["invalid_json"] = Expect(5, 3, {"invalid_json": 2})

    lines = b'[1, 2]\n"a string"\n42\nnull\n'
    _write(root / "not_an_object/a.jsonl", jsonl(good("no", 2)) + lines)
    expect["not_an_object"] = Expect(6, 2, {"not_an_object": 4})

    _write(
        root / "missing_text/a.jsonl", jsonl(good("mt", 2) + [{"id": "m", "body": "no text key"}])
    )
    expect["missing_text"] = Expect(3, 2, {"missing_text": 1})

    odd = [
        {"id": "n", "text": None},
        {"id": "i", "text": 5},
        {"id": "l", "text": ["a"]},
        {"id": "o", "text": {"a": 1}},
    ]
    _write(root / "text_not_string/a.jsonl", jsonl(good("tn", 1) + odd))
    expect["text_not_string"] = Expect(5, 1, {"text_not_string": 4})

    bad_json_line = b'{"id": "u", "text": "caf\xe9 latin-1 byte"}\n'
    _write(root / "invalid_utf8/a.jsonl", jsonl(good("iu", 2)) + bad_json_line)
    _write(root / "invalid_utf8/b.txt", b"fine line\n\xff\xfe broken bytes\n")
    expect["invalid_utf8"] = Expect(5, 3, {"invalid_utf8": 2})

    _write(root / "bom/a.jsonl", BOM + jsonl(good("bom", 3)))
    _write(root / "bom/b.txt", BOM + b"first text line\nsecond text line\n")
    _write(root / "bom/c.jsonl.gz", gzip.compress(BOM + jsonl(good("bomgz", 2)), mtime=0))
    expect["bom"] = Expect(7, 7)

    # 20 documents of ~600 bytes per file: several 4 KiB byte-range shards each.
    _write(root / "line_endings/crlf.jsonl", jsonl(good("crlf", 20, pad=580), b"\r\n"))
    _write(root / "line_endings/cr.jsonl", jsonl(good("cr", 20, pad=580), b"\r"))
    _write(root / "line_endings/mixed.txt", b"one\r\ntwo\rthree\nfour\r\n\r\nfive")
    expect["line_endings"] = Expect(45, 45)

    nul_raw = b'{"id": "raw", "text": "raw \x00 nul"}\n'
    nul_escaped = b'{"id": "esc", "text": "escaped \\u0000 nul"}\n'
    _write(root / "nul_bytes/a.jsonl", jsonl(good("nul", 1)) + nul_raw + nul_escaped)
    _write(root / "nul_bytes/b.txt", b"text with \x00 inside\n")
    expect["nul_bytes"] = Expect(4, 3, {"invalid_json": 1})

    big = {"id": "big", "text": "y" * (MAX_DOCUMENT_BYTES + 500_000)}
    _write(root / "large_document/a.jsonl.gz", gzip.compress(jsonl([big] + good("ld", 1)), mtime=0))
    expect["large_document"] = Expect(2, 1, {"too_large": 1})

    _write(root / "empty_file/empty.jsonl", b"")
    _write(root / "empty_file/blank_lines.jsonl", b"\n\n  \n")

    _write(root / "no_final_newline/a.jsonl", jsonl(good("nfn", 3)).rstrip(b"\n"))
    _write(root / "no_final_newline/b.txt", b"alpha\nbeta")
    expect["no_final_newline"] = Expect(5, 5)

    table = pa.table({"id": ["w0", "w1", "w2"], "text": pa.array([1, 2, 3], pa.int64())})
    _write_parquet(root / "parquet_wrong_type/a.parquet", table)
    expect["parquet_wrong_type"] = Expect(3, 0, {"text_not_string": 3})

    table = pa.table({"id": ["m0", "m1"], "body": ["no", "text column"]})
    _write_parquet(root / "parquet_missing_column/a.parquet", table)
    expect["parquet_missing_column"] = Expect(2, 0, {"missing_text_column": 2})

    table = pa.table({"id": ["p0", "p1", None], "text": ["parquet one", None, "parquet three"]})
    _write_parquet(root / "parquet_nulls/a.parquet", table)
    expect["parquet_nulls"] = Expect(3, 2, {"text_not_string": 1})

    dup1 = [{"id": i, "text": f"dup {i} in file one"} for i in ("a", "b", "a")]
    dup2 = [{"id": i, "text": f"dup {i} in file two"} for i in ("a", "c", "b")]
    _write(root / "duplicate_ids/one.jsonl", jsonl(dup1))
    _write(root / "duplicate_ids/two.jsonl", jsonl(dup2))
    expect["duplicate_ids"] = Expect(6, 6, n_duplicate_ids=3)

    _write(root / "unknown_extension/notes.md", b"# not corpus data\n")
    _write(root / "unknown_extension/table.csv", b"id,text\n1,hello\n")
    _write(root / "unknown_extension/a.jsonl", jsonl(good("ue", 2)))
    expect["unknown_extension"] = Expect(2, 2)

    deep_value = b'{"id": "d1", "text": "fine", "meta": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    deep_top = b"[" * 100_000 + b"]" * 100_000 + b"\n"
    _write(root / "deep_json/a.jsonl", jsonl(good("dj", 1)) + deep_value + deep_top)
    expect["deep_json"] = Expect(3, 1, {"json_too_deep": 2})

    _write(root / "larger_than_sample/a.jsonl", jsonl(good("big", SAMPLE_SIZE * 2 + 20)))
    expect["larger_than_sample"] = Expect(SAMPLE_SIZE * 2 + 20, SAMPLE_SIZE * 2 + 20)
    return expect


def _write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def truncated_gzip(docs: list[dict]) -> bytes:
    """A gzip member cut short: the first documents decompress, then the stream ends early."""
    whole = gzip.compress(jsonl(docs), mtime=0)
    return whole[: len(whole) * 2 // 3]


def truncated_zstd(docs: list[dict]) -> bytes:
    """A zstd frame cut short (zstandard's stream reader alone would not notice)."""
    whole = zstandard.ZstdCompressor(level=3).compress(jsonl(docs))
    return whole[: len(whole) * 2 // 3]


def corrupt_zstd(docs: list[dict]) -> bytes:
    """A zstd frame whose compressed block is overwritten with garbage."""
    frame = bytearray(zstandard.ZstdCompressor(level=3).compress(jsonl(docs)))
    for i in range(12, min(len(frame), 60)):
        frame[i] ^= 0x5A
    return bytes(frame)


NOT_PARQUET = b"PAR1 these bytes have a .parquet name but no Parquet footer"
