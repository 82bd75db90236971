"""The columnar reader gives exactly the line reader's records, wherever blocks and shards are cut."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from assay import corpus
from assay.batches import DocumentBatch, read_batches
from assay.corpus import Document, Rejection, plan_shards, read_shard
from assay.sample import (
    BottomK,
    Candidate,
    ColumnBottomK,
    review_key,
    review_keys,
    sample_key,
    sample_keys,
)
from assay.settings import AuditSettings
from assay.storage import list_objects

GOOD = [json.dumps({"id": f"d{i}", "text": f"document number {i}"}) for i in range(40)]
# Lines on which Arrow's JSON parser and Python's json could disagree, or that are rejected.
TRICKY = [
    '{"id": 7, "text": "integer id"}',
    '{"id": -0, "text": "negative zero id"}',
    '{"id": 1.0, "text": "float id"}',
    '{"id": true, "text": "bool id"}',
    '{"id": 99999999999999999999999, "text": "huge id"}',
    '{"id": null, "text": "null id"}',
    '{"text": "no id"}',
    '{"id": "x1"}',
    '{"id": "x2", "text": null}',
    '{"id": "x3", "text": 5}',
    '{"id": "x4", "text": {"a": 1}}',
    '{"id": "x5", "text": "source field", "source": "  named  "}',
    '{"id": "x6", "text": "blank source", "source": "   "}',
    '{"id": "x7", "text": "numeric source", "source": 3}',
    '{"id": "x8", "text": "null source", "source": null}',
    '{"id": "x9", "text": "unterminated',
    '{"id": "x10", "text": "trailing"} x',
    '{"id": "x11", "text": "two"} {"id": "x12", "text": "objects"}',
    "",
    "   ",
    '   {"id": "x13", "text": "leading space"}',
    '{"id": "x14", "text": "trailing space"}   ',
    '{"id": "x15", "text": "bare", "v": Inf}',
    '{"id": "x16", "text": "bare", "v": -Inf}',
    '{"id": "x29", "text": "bare", "v": [1, -NaN]}',
    '{"id": "x17", "text": "Information, Infant", "v": Infinity}',
    '{"id": "x18", "text": "nan", "v": NaN}',
    '{"id": "x30", "text": "Inf, Inf: [-NaN] Information", "v": [Infinity]}',
    '{"id": "x19", "text": "deep", "v": ' + "[" * 1500 + "]" * 1500 + "}",
    '{"id": "x20", "text": "shallow but bracketed", "v": ' + "[" + "[]," * 300 + "[]]}",
    '{"id": "x21", "text": "a", "text": "duplicate key"}',
    '{"id": "x22", "text": "lone \\ud800 surrogate"}',
    '{"id": "x23", "text": "overflow", "v": 1e999}',
    '{"id": "x24", "text": "\\u4e2d\\u6587 and 中文 text"}',
    '{"te\\u0078t": "escaped key", "id": "x25"}',
    "[1, 2, 3]",
    '"just a string"',
    "42",
    '{"id": "x26", "text": "tab\tinside"}',
    '{"id": "x27", "text": "' + "long " * 1200 + '"}',
    '{"id": "x28", "text": "nul \\u0000 char"}',
    '{"id": "d3", "text": "repeated id"}',
]
BAD_BYTES = [
    b'{"id": "b1", "text": "bad utf8 \xff in text"}',
    b'{"id": "b2", "text": "ok", "other": "bad \xfe in ignored field"}',
]


def _settings(root, **kw) -> AuditSettings:
    return AuditSettings(corpus=str(root), out="/tmp/unused", max_document_bytes=5000, **kw)


def _records(batches: list[DocumentBatch]) -> tuple[list, list]:
    docs, rejections = [], []
    for b in batches:
        for source, doc_id, text, locator in zip(
            b.source.to_pylist(),
            b.doc_id.to_pylist(),
            b.text.to_pylist(),
            b.locator.tolist(),
            strict=True,
        ):
            docs.append((source, doc_id, text, locator))
        rejections += [(r.source, r.reason, r.locator) for r in b.rejections]
    return sorted(docs), sorted(rejections)


def _by_line(records: list[Document | Rejection]) -> tuple[list, list]:
    docs = [(r.source, r.doc_id, r.text, r.locator) for r in records if isinstance(r, Document)]
    rejections = [(r.source, r.reason, r.locator) for r in records if isinstance(r, Rejection)]
    return sorted(docs), sorted(rejections)


def _both(root, **kw) -> tuple[tuple, tuple]:
    settings = _settings(root, **kw)
    shards, _ = plan_shards(list_objects(str(root)), settings, root.name)
    by_line = _by_line([r for s in shards for r in read_shard(s, settings)])
    columns = _records([b for s in shards for b in read_batches(s, settings)])
    return by_line, columns


def _write_corpus(root, seed: int, ending: bytes = b"\n", name: str = "part.jsonl") -> None:
    rng = random.Random(seed)
    lines = [line.encode() for line in GOOD + TRICKY] + BAD_BYTES
    rng.shuffle(lines)
    path = root / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xef\xbb\xbf" + ending.join(lines) + (ending if seed % 2 else b""))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("block_bytes", [50, 700, 4 << 20])
@pytest.mark.parametrize("shard_bytes", [1 << 20, 900])
def test_jsonl_blocks_match_the_line_reader(tmp_path, monkeypatch, seed, block_bytes, shard_bytes):
    monkeypatch.setattr(corpus, "BLOCK_BYTES", block_bytes)
    _write_corpus(tmp_path, seed)
    by_line, columns = _both(tmp_path, shard_bytes=shard_bytes)
    assert columns == by_line
    docs, rejections = columns
    assert {d[1] for d in docs} >= {"7", "0", "x5", "x24", "x25", "b2"} - {"b2"}
    assert {r[1] for r in rejections} >= {"invalid_json", "invalid_id", "missing_text"}
    assert len(docs) + len(rejections) == len(GOOD) + len(TRICKY) + len(BAD_BYTES) - 2  # blanks


@pytest.mark.parametrize("few", [0, 1, 1000])
def test_bare_infinity_found_line_by_line_or_over_the_block(tmp_path, monkeypatch, few):
    """Lines holding "Inf" are searched one by one, or the whole block when many do."""
    import assay.batches

    monkeypatch.setattr(assay.batches, "_FEW_INF", few)
    monkeypatch.setattr(corpus, "BLOCK_BYTES", 4 << 20)
    _write_corpus(tmp_path, 1)
    by_line, columns = _both(tmp_path)
    assert columns == by_line
    assert {"x15", "x16", "x29"}.isdisjoint(d[1] for d in columns[0])  # bare values rejected
    assert {"x17", "x30"} <= {d[1] for d in columns[0]}  # "Infinity" is a word in the text


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"])
def test_other_line_endings_match_the_line_reader(tmp_path, monkeypatch, ending):
    monkeypatch.setattr(corpus, "BLOCK_BYTES", 333)
    _write_corpus(tmp_path, 5, ending)
    by_line, columns = _both(tmp_path, shard_bytes=1000)
    assert columns == by_line and len(columns[0]) > len(GOOD)


def test_fields_are_taken_from_the_record(tmp_path):
    _write_corpus(tmp_path, 1)
    docs, rejections = _both(tmp_path)[1]
    by_id = {d[1]: d for d in docs}
    assert by_id["x5"][0] == "named"  # stripped source field
    assert by_id["x6"][0] == by_id["x7"][0] == by_id["x8"][0] == "src"  # the folder
    assert by_id["7"][2] == "integer id"
    assert by_id["x24"][2] == "中文 and 中文 text"
    assert "x19" not in by_id and "x15" not in by_id and "b1" not in by_id  # too deep, Inf, utf8
    assert by_id["x17"][2].startswith("Information") and by_id["x20"]
    missing_id = [d for d in docs if d[2] == "no id"][0]
    assert missing_id[1] == f"src/part.jsonl@{missing_id[3]}"
    reasons = {r[1] for r in rejections}
    assert {"json_too_deep", "text_not_string", "invalid_utf8", "not_an_object"} <= reasons
    assert "too_large" in reasons  # x27 is over the 5000-byte limit


@pytest.mark.parametrize("block_bytes", [40, 4 << 20])
def test_text_lines_match_the_line_reader(tmp_path, monkeypatch, block_bytes):
    monkeypatch.setattr(corpus, "BLOCK_BYTES", block_bytes)
    lines = [f"plain line {i} 中文".encode() for i in range(30)]
    lines += [b"", b"  \t ", b"bad \xff byte", b"x" * 6000, b"last"]
    random.Random(3).shuffle(lines)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.txt").write_bytes(b"\n".join(lines))
    by_line, columns = _both(tmp_path, shard_bytes=250)
    assert columns == by_line
    assert len(columns[0]) == 31 and sorted(r[1] for r in columns[1]) == [
        "invalid_utf8",
        "too_large",
    ]


def test_vectorised_keys_equal_the_scalar_keys():
    ids = ["a", "é", "中文", "", "x" * 200]
    array = pa.array(ids)
    assert sample_keys(9, "s", array).tolist() == [sample_key(9, "s", i) for i in ids]
    assert review_keys(9, "s", array).tolist() == [review_key(9, "s", i) for i in ids]


def test_column_bottom_k_equals_bottom_k():
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 50, size=2000)  # many ties: broken by locator
    locators = rng.permutation(2000)
    heap, columns = BottomK(100), ColumnBottomK(100)
    for start in range(0, 2000, 137):
        k, loc = keys[start : start + 137], locators[start : start + 137]
        for key, at in zip(k.tolist(), loc.tolist(), strict=True):
            heap.offer(Candidate(key, "s", at, str(at), ""))
        columns.offer(k, [loc], pa.table({"doc_id": [str(x) for x in loc.tolist()]}))
    assert [(c.key, c.locator) for c in heap.items()] == list(
        zip(columns.keys.tolist(), columns.ties[0].tolist(), strict=True)
    )
    assert columns.payload.column("doc_id").to_pylist() == [c.doc_id for c in heap.items()]


def test_clean_lines_never_take_the_line_by_line_path(tmp_path, monkeypatch):
    import assay.batches as batches

    def refuse(*args):
        raise AssertionError("a clean line was parsed line by line")

    monkeypatch.setattr(batches, "_parse_json_line", refuse)
    (tmp_path / "s").mkdir()
    lines = GOOD + [t for t in TRICKY if any(f'"x{i}"' in t for i in (5, 6, 17, 18))]
    lines += TRICKY[5:7]  # null and missing ids
    (tmp_path / "s" / "a.jsonl").write_text("\n".join(lines) + "\n")
    docs, rejections = _records(list(read_batches(*_one_shard(tmp_path))))
    assert len(docs) == len(lines) and not rejections
    integer_ids = [json.dumps({"id": i, "text": "t"}) for i in range(30)]  # ids all integers
    (tmp_path / "s" / "a.jsonl").write_text("\n".join(integer_ids) + "\n")
    docs, _ = _records(list(read_batches(*_one_shard(tmp_path))))
    assert sorted(d[1] for d in docs) == sorted(str(i) for i in range(30))


def _one_shard(root):
    settings = _settings(root)
    shards, _ = plan_shards(list_objects(str(root)), settings, root.name)
    assert len(shards) == 1
    return shards[0], settings


def test_vectorised_scan_keys_equal_the_scalar_keys():
    from assay.sample import in_fraction, in_fraction_mask, scan_key, scan_keys

    ids = [f"doc-{i}" for i in range(500)]
    keys = scan_keys(3, "web", pa.array(ids))
    assert keys.tolist() == [scan_key(3, "web", i) for i in ids]
    for fraction in (0.0, 0.1, 0.5, 1.0):
        assert in_fraction_mask(keys, fraction).tolist() == [
            in_fraction(int(k), fraction) for k in keys
        ]


def test_deep_lines_go_to_python_whatever_else_the_block_holds(tmp_path):
    deep = '{"id": "deep", "text": "t", "v": ' + "[" * 1500 + "]" * 1500 + "}"
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.jsonl").write_text("\n" * 1400 + deep + "\n" + "\n".join(GOOD) + "\n")
    docs, rejections = _records(list(read_batches(*_one_shard(tmp_path))))
    assert [r[1] for r in rejections] == ["json_too_deep"] and len(docs) == len(GOOD)
