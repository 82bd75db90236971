"""Errors an operator sees from `assay audit`: exit code 2 and one line that names the file and the
fix, never a stack trace. Damaged files are found by the Spark stage; the rest before Spark starts."""

from __future__ import annotations

import json

import pytest

from .cases import good, jsonl
from .conftest import run_console


def _error_lines(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if line.startswith(("assay: error:", "UNREADABLE SHARD"))
    ]


def test_damaged_files_exit_2_with_one_line_each(console_run):
    assert console_run.returncode == 2, console_run.stderr[-3000:]
    assert "Traceback" not in console_run.stderr
    lines = _error_lines(console_run.stderr)
    for name, fix in (
        ("damaged/truncated.jsonl.gz", "truncated"),
        ("damaged/corrupt.jsonl.zst", "zstd"),
        ("damaged/truncated.jsonl.zst", "truncated"),
        ("damaged/broken.parquet", "Parquet"),
    ):
        named = [line for line in lines if name in line]
        assert len(named) == 1, f"expected one error line naming {name}: {lines}"
        assert fix in named[0] and "exclude" in named[0]


def test_documents_before_the_damage_are_counted_and_the_run_is_recorded(console_run):
    manifest = json.loads((console_run.run_dir / "manifest.json").read_text())
    shards = {s["relpath"]: s for s in manifest["shards"]}
    truncated = shards["damaged/truncated.jsonl.gz"]
    assert truncated["error"] and 0 < truncated["n_read"] < 400 and truncated["accounted"]
    truncated_zstd = shards["damaged/truncated.jsonl.zst"]
    assert (
        truncated_zstd["error"]
        and 0 < truncated_zstd["n_read"] < 10000
        and truncated_zstd["accounted"]
    )
    assert (
        shards["damaged/broken.parquet"]["error"]
        and shards["damaged/broken.parquet"]["n_read"] == 0
    )
    assert shards["normal/docs.jsonl"]["n_read"] == 30 and not shards["normal/docs.jsonl"]["error"]
    verdicts = json.loads((console_run.run_dir / "verdicts.json").read_text())
    assert {e["shard"] for e in verdicts["shard_errors"]} == {
        "damaged/truncated.jsonl.gz", "damaged/corrupt.jsonl.zst", "damaged/truncated.jsonl.zst",
        "damaged/broken.parquet",
    }  # fmt: skip


def _single_error(proc, *words: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_a_corpus_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "no" / "such" / "corpus"
    proc = run_console(["audit", str(missing), "--out", str(tmp_path / "out")], timeout=120)
    _single_error(proc, str(missing), "does not exist")


def test_a_corpus_with_no_readable_files(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "readme.md").write_text("hello")
    (corpus / "data.csv").write_text("id,text\n1,a\n")
    proc = run_console(["audit", str(corpus), "--out", str(tmp_path / "out")], timeout=120)
    _single_error(proc, str(corpus), "no file Assay can read")
    assert "readme.md (unknown_extension)" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_policy_with_a_backreference_is_refused_with_its_line(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_bytes(jsonl(good("p", 3)))
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "name: backtracking\nversion: 1\ncategories:\n  - id: repeats\n    title: Repeats\n"
        "    detectors:\n      - name: doubled\n        type: regex\n        pattern: '(\\w+) \\1'\n"
    )
    proc = run_console(
        ["audit", str(corpus), "--out", str(tmp_path / "out"), "--policy", str(policy)], timeout=120
    )
    _single_error(proc, str(policy), ":9:")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--sample-size", "0"], ["sample_size"]),
        (["--max-flagged-rate", "1.5"], ["max_flagged_rate"]),
        (["--run-id", "../../etc"], ["run_id"]),
    ],
)
def test_bad_settings_are_named(tmp_path, flags, words):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_bytes(jsonl(good("s", 2)))
    proc = run_console(["audit", str(corpus), "--out", str(tmp_path / "out"), *flags], timeout=120)
    _single_error(proc, *words)


def test_a_corpus_with_zero_documents(spark, tmp_path, capsys):
    """Files exist but hold no document: the run is recorded, and the console says so with exit 2."""
    from assay.cli import main

    corpus = tmp_path / "corpus"
    (corpus / "part").mkdir(parents=True)
    (corpus / "part" / "empty.jsonl").write_bytes(b"")
    (corpus / "part" / "blank.txt").write_bytes(b"\n\r\n")
    out = tmp_path / "runs" / "zero"
    code = main(["audit", str(corpus), "--out", str(out), "--run-id", "zero"])
    err = capsys.readouterr().err
    assert code == 2
    line = [x for x in err.splitlines() if x.startswith("assay: error:")]
    assert len(line) == 1 and str(corpus) in line[0] and "no documents" in line[0]
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert verdicts["sources"] == [] and verdicts["validation"]["success"] is False
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted((s["relpath"], s["n_read"]) for s in manifest["shards"]) == [
        ("part/blank.txt", 0), ("part/empty.jsonl", 0),
    ]  # fmt: skip
