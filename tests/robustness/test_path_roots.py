"""Paths may not escape the configured roots (ASSAY_CORPUS_ROOTS, ASSAY_OUTPUT_ROOT), through '..'
or symbolic links; trigger-form values of the wrong type are refused by name."""

from __future__ import annotations

import os

import pytest

from assay.paths import PathEscapeError, confine, roots_from_env
from assay.settings import AuditSettings, SettingsError

from .cases import good, jsonl
from .conftest import run_console


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """allowed/corpus (with a file), allowed/runs, and outside/ holding a secret file."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "corpus" / "src").mkdir(parents=True)
    (allowed / "corpus" / "src" / "a.jsonl").write_bytes(jsonl(good("r", 2)))
    (allowed / "runs").mkdir()
    outside.mkdir()
    (outside / "secret.jsonl").write_bytes(jsonl([{"id": "s", "text": "outside the root"}]))
    monkeypatch.setenv("ASSAY_CORPUS_ROOTS", f"{tmp_path / 'elsewhere'}:{allowed / 'corpus'}")
    monkeypatch.setenv("ASSAY_OUTPUT_ROOT", str(allowed / "runs"))
    return allowed, outside


def _settings(corpus, out, **kw) -> AuditSettings:
    return AuditSettings(corpus=str(corpus), out=str(out), run_id="r", **kw)


def test_root_lists_split_on_colons_but_keep_s3_uris(monkeypatch):
    monkeypatch.setenv("ASSAY_CORPUS_ROOTS", "/data/a:s3://bucket/corpora:/data/b:")
    assert roots_from_env("ASSAY_CORPUS_ROOTS") == ["/data/a", "s3://bucket/corpora", "/data/b"]


def test_paths_inside_the_roots_are_accepted(tree):
    allowed, _ = tree
    s = _settings(allowed / "corpus" / "src", allowed / "runs" / "r")
    assert s.corpus.endswith("src")


@pytest.mark.parametrize("escape", ["dotdot", "symlink_dir", "sibling_prefix"])
def test_corpus_escapes_are_refused(tree, escape):
    allowed, outside = tree
    if escape == "dotdot":
        corpus = allowed / "corpus" / ".." / ".." / "outside"
    elif escape == "symlink_dir":
        corpus = allowed / "corpus" / "link"
        corpus.symlink_to(outside, target_is_directory=True)
    else:  # /allowed/corpus-evil is not inside /allowed/corpus
        corpus = allowed / "corpus-evil"
        corpus.mkdir()
    with pytest.raises(SettingsError, match="outside the allowed roots.*ASSAY_CORPUS_ROOTS"):
        _settings(corpus, allowed / "runs" / "r")


def test_output_escapes_are_refused(tree):
    allowed, outside = tree
    with pytest.raises(SettingsError, match="ASSAY_OUTPUT_ROOT"):
        _settings(allowed / "corpus", allowed / "runs" / ".." / ".." / "outside" / "r")
    link = allowed / "runs" / "link"
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(SettingsError, match="ASSAY_OUTPUT_ROOT"):
        _settings(allowed / "corpus", link / "r")


def test_trigger_form_values_are_checked(tree):
    from assay.orchestration import settings_from_params

    allowed, outside = tree
    base = {"corpus": str(allowed / "corpus"), "output_root": str(allowed / "runs")}
    assert settings_from_params(base, "manual__1").out == str(allowed / "runs" / "manual__1")
    bad = [
        ({"output_root": str(outside)}, "ASSAY_OUTPUT_ROOT"),
        ({"out": str(outside / "x")}, "ASSAY_OUTPUT_ROOT"),
        ({"corpus": str(outside)}, "ASSAY_CORPUS_ROOTS"),
        ({"sample_size": "100"}, "sample_size"),
        ({"seed": True}, "seed"),
        ({"max_flagged_rate": "0.05"}, "max_flagged_rate"),
        ({"include": "*.jsonl"}, "include"),
        ({"corpus": str(allowed / "corpus") + "\x00/etc"}, "NUL"),
    ]
    for change, words in bad:
        with pytest.raises(SettingsError, match=words):
            settings_from_params({**base, **change}, "manual__1")


def test_s3_roots_compare_prefixes_by_segment():
    roots = ["s3://bucket/corpora"]
    confine("s3://bucket/corpora/web", roots, "corpus", "X")
    for uri in (
        "s3://bucket/corpora-evil/x",
        "s3://bucket/other",
        "s3://bucket/corpora/../other",
        "/local",
    ):
        with pytest.raises(PathEscapeError):
            confine(uri, roots, "corpus", "X")


def test_a_file_symlinked_out_of_the_root_is_listed_not_read(tree):
    from assay.audit import plan_corpus

    allowed, outside = tree
    (allowed / "corpus" / "src" / "peek.jsonl").symlink_to(outside / "secret.jsonl")
    plan = plan_corpus(_settings(allowed / "corpus", allowed / "runs" / "r"))
    assert [s.relpath for s in plan.shards] == ["src/a.jsonl"]
    assert [(f.relpath, f.reason) for f in plan.ignored] == [
        ("src/peek.jsonl", "outside_corpus_roots")
    ]


def test_the_console_refuses_an_escaping_corpus_before_spark_starts(tree):
    allowed, _ = tree

    proc = run_console(
        [
            "audit",
            str(allowed / "corpus" / ".." / ".." / "outside"),
            "--out",
            str(allowed / "runs" / "r"),
        ],
        timeout=120,
        ASSAY_CORPUS_ROOTS=os.environ["ASSAY_CORPUS_ROOTS"],
        ASSAY_OUTPUT_ROOT=os.environ["ASSAY_OUTPUT_ROOT"],
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("assay: error:")]
    assert len(errors) == 1 and "ASSAY_CORPUS_ROOTS" in errors[0] and "outside" in errors[0]
    assert not (allowed / "runs" / "r").exists()
