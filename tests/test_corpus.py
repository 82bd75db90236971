"""Reading corpora: formats, field settings, sources, ids, and byte-range shards."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from assay.corpus import Document, Rejection, detect_format, plan_shards, read_shard
from assay.settings import AuditSettings
from assay.storage import list_objects


def _settings(root, **kw) -> AuditSettings:
    return AuditSettings(corpus=str(root), out="/tmp/unused", **kw)


def _read_all(root, **kw) -> list[Document | Rejection]:
    settings = _settings(root, **kw)
    shards, _ = plan_shards(list_objects(str(root)), settings, root.name)
    return [r for s in shards for r in read_shard(s, settings)]


def _lines(docs: list[dict]) -> bytes:
    return "".join(json.dumps(d) + "\n" for d in docs).encode()


@pytest.mark.parametrize(
    ("name", "container", "compression"),
    [
        ("a.jsonl", "jsonl", "none"),
        ("a.json.gz", "jsonl", "gzip"),
        ("a.jsonl.zst", "jsonl", "zstd"),
        ("a.parquet", "parquet", "none"),
        ("a.txt", "text", "none"),
        ("a.TXT.GZ", "text", "gzip"),
    ],
)
def test_detect_format(name, container, compression):
    fmt = detect_format(name)
    assert (fmt.container, fmt.compression) == (container, compression)


def test_unknown_extensions_are_listed_not_read(tmp_path):
    (tmp_path / "notes.md").write_text("hello")
    (tmp_path / "a.jsonl").write_bytes(_lines([{"text": "x"}]))
    shards, ignored = plan_shards(list_objects(str(tmp_path)), _settings(tmp_path), "c")
    assert [s.relpath for s in shards] == ["a.jsonl"]
    assert [(i.relpath, i.reason) for i in ignored] == [("notes.md", "unknown_extension")]


def test_hidden_files_and_folders_are_listed_as_ignored(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.jsonl").write_bytes(_lines([{"text": "x"}]))
    (tmp_path / ".hidden.jsonl").write_bytes(_lines([{"text": "x"}]))
    (tmp_path / "a.jsonl").write_bytes(_lines([{"text": "x"}]))
    shards, ignored = plan_shards(list_objects(str(tmp_path)), _settings(tmp_path), "c")
    assert [s.relpath for s in shards] == ["a.jsonl"]
    assert sorted((i.relpath, i.reason) for i in ignored) == [
        (".git/", "hidden"),
        (".hidden.jsonl", "hidden"),
    ]


def test_every_format_yields_the_same_documents(tmp_path):
    docs = [{"id": f"d{i}", "text": f"text {i} ünïcode 中文"} for i in range(20)]
    data = _lines(docs)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x.jsonl").write_bytes(data)
    (tmp_path / "gz").mkdir()
    (tmp_path / "gz" / "x.jsonl.gz").write_bytes(gzip.compress(data))
    (tmp_path / "zst").mkdir()
    (tmp_path / "zst" / "x.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    (tmp_path / "pq").mkdir()
    pq.write_table(pa.Table.from_pylist(docs), tmp_path / "pq" / "x.parquet", row_group_size=7)
    records = _read_all(tmp_path)
    by_source: dict[str, list[tuple[str, str]]] = {}
    for r in records:
        assert isinstance(r, Document)
        by_source.setdefault(r.source, []).append((r.doc_id, r.text))
    expected = [(d["id"], d["text"]) for d in docs]
    assert by_source == {"plain": expected, "gz": expected, "zst": expected, "pq": expected}


def test_field_names_are_settings_and_sources_come_from_fields_or_folders(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "x.jsonl").write_bytes(
        _lines([{"key": "k1", "body": "b1", "origin": "named"}, {"key": "k2", "body": "b2"}])
    )
    records = _read_all(tmp_path, text_field="body", id_field="key", source_field="origin")
    assert [(r.source, r.doc_id, r.text) for r in records] == [
        ("named", "k1", "b1"),
        ("folder", "k2", "b2"),
    ]


def test_documents_without_id_get_a_stable_derived_one(tmp_path):
    (tmp_path / "x.jsonl").write_bytes(_lines([{"text": "a"}, {"text": "b"}]))
    first = [r.doc_id for r in _read_all(tmp_path)]
    assert first == ["x.jsonl@0", "x.jsonl@14"]
    assert [r.doc_id for r in _read_all(tmp_path)] == first


def test_root_files_take_the_corpus_folder_as_source(tmp_path):
    (tmp_path / "x.jsonl").write_bytes(_lines([{"text": "a"}]))
    assert [r.source for r in _read_all(tmp_path)] == [tmp_path.name]


def test_malformed_records_are_rejected_with_reasons(tmp_path):
    lines = [
        b'{"id": 1, "text": "good"}',
        b'{"id": 2, "text": ',
        b"[1, 2]",
        b'{"id": 3}',
        b'{"id": 4, "text": null}',
        b'{"id": 5, "text": 5}',
        b'{"id": 6, "text": ["a"]}',
        b'{"id": 7, "text": "bad \xff utf8"}',
        b'{"id": [7], "text": "list id"}',
    ]
    (tmp_path / "x.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    records = _read_all(tmp_path)
    assert [r.doc_id for r in records if isinstance(r, Document)] == ["1"]
    assert [r.reason for r in records if isinstance(r, Rejection)] == [
        "invalid_json",
        "not_an_object",
        "missing_text",
        "text_not_string",
        "text_not_string",
        "text_not_string",
        "invalid_utf8",
        "invalid_id",
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_byte_range_shards_read_every_line_once(tmp_path, newline):
    docs = [{"id": str(i), "text": "x" * (i % 37)} for i in range(300)]
    body = newline.join(json.dumps(d).encode() for d in docs)
    (tmp_path / "x.jsonl").write_bytes(b"\xef\xbb\xbf" + body)  # BOM, no final newline
    whole = [(r.doc_id, r.text) for r in _read_all(tmp_path)]
    assert whole == [(d["id"], d["text"]) for d in docs]
    for shard_bytes in (97, 1000, 4096):
        settings = _settings(tmp_path, shard_bytes=shard_bytes)
        shards, _ = plan_shards(list_objects(str(tmp_path)), settings, "c")
        assert len(shards) > 1
        split = [(r.doc_id, r.text) for s in shards for r in read_shard(s, settings)]
        assert split == whole, shard_bytes
