"""Faults: retried tasks, reruns, concurrent runs, a killed Python worker, and an accounting check
that really fails when the books do not balance."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from .cases import good, jsonl
from .conftest import REPO, console_env, run_console

SOURCES = ("alpha", "beta", "gamma")


def _small_corpus(root: Path) -> Path:
    for i, name in enumerate(SOURCES):
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "a.jsonl").write_bytes(jsonl(good(name, 60 + 20 * i, pad=30)))
        (folder / "b.jsonl").write_bytes(jsonl(good(name + "b", 30, pad=30)))
    return root


def _settings(corpus: Path, out: Path, run_id: str, **kw):
    from assay.settings import AuditSettings

    return AuditSettings(corpus=str(corpus), out=str(out), run_id=run_id, sample_size=20, **kw)


def _run_bytes(run_dir: Path) -> dict[str, bytes]:
    files = [
        run_dir / "verdicts.json",
        run_dir / "manifest.json",
        *sorted((run_dir / "samples").glob("*.parquet")),
    ]
    return {f.relative_to(run_dir).as_posix(): f.read_bytes() for f in files}


def _sample_ids(run_dir: Path) -> list[tuple]:
    rows = pq.read_table(run_dir / "samples", columns=["source", "rank", "doc_id"]).to_pylist()
    return sorted((r["source"], r["rank"], r["doc_id"]) for r in rows)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    return _small_corpus(tmp_path_factory.mktemp("small") / "corpus")


@pytest.fixture(scope="module")
def first_run(spark, small_corpus, tmp_path_factory):
    from assay.run import audit

    out = tmp_path_factory.mktemp("reruns") / "runs" / "same-id"
    result = audit(_settings(small_corpus, out, "same-id"), spark)
    return out, _run_bytes(out), result


def test_rerun_with_same_id_after_a_partial_write_is_byte_identical(spark, small_corpus, first_run):
    from assay.publish import is_complete, staging_dir
    from assay.run import audit

    out, before, _ = first_run
    # An earlier attempt of the Spark task died after writing part of its output.
    staging = staging_dir(out, "same-id")
    (staging / "samples").mkdir(parents=True)
    (staging / "samples" / "part-99999.parquet").write_bytes(b"half a file")
    (staging / "stage.json").write_text('{"truncated": ')
    audit(_settings(small_corpus, out, "same-id"), spark)
    after = _run_bytes(out)
    assert sorted(after) == sorted(before)
    for name in before:
        assert after[name] == before[name], f"{name} differs between reruns with the same run id"
    assert is_complete(out) and not staging.exists()
    assert not (out / "samples" / "part-99999.parquet").exists()


def test_a_retried_finalize_task_reads_back_the_published_run(first_run):
    from assay.run import finalize

    out, before, result = first_run
    again = finalize(_settings(Path("/unused"), out, "same-id"))
    assert again.overall == result.overall and again.validation_success == result.validation_success
    assert again.sources["n_read"].tolist() == result.sources["n_read"].tolist()
    assert _run_bytes(out)["verdicts.json"] == before["verdicts.json"]


def test_finalize_commits_a_run_staged_completely_before_a_crash(tmp_path):
    from assay.publish import COMPLETE_MARKER, staging_dir
    from assay.run import finalize

    out = tmp_path / "runs" / "r"
    staging = staging_dir(out, "r")
    staging.mkdir(parents=True)
    verdicts = {
        "run_id": "r",
        "overall": "pass",
        "validation": {"success": True},
        "shard_errors": [],
        "sources": [],
    }
    (staging / "verdicts.json").write_text(json.dumps(verdicts))
    (staging / COMPLETE_MARKER).write_text("")
    result = finalize(_settings(Path("/unused"), out, "r"))
    assert result.overall == "pass" and (out / COMPLETE_MARKER).exists() and not staging.exists()


def test_finalize_without_a_spark_stage_names_the_missing_file(tmp_path):
    from assay.run import finalize

    with pytest.raises(FileNotFoundError, match="stage.json is missing"):
        finalize(_settings(Path("/unused"), tmp_path / "runs" / "never", "never"))


def test_two_runs_at_once_into_one_output_root_whatever_the_split(
    spark, small_corpus, first_run, tmp_path
):
    """Two runs share an output root and a SparkSession at once; one cuts the corpus into many more
    read tasks. Both publish completely, and both draw the first run's sample and verdicts."""
    from assay.publish import is_complete
    from assay.run import audit

    root = tmp_path / "root"
    results: dict[str, object] = {}
    errors: list[BaseException] = []

    def one(run_id: str, shard_bytes: int) -> None:
        try:
            settings = _settings(small_corpus, root / run_id, run_id, shard_bytes=shard_bytes)
            results[run_id] = audit(settings, spark)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    runs = {"whole": 128 * 1024 * 1024, "split": 1024}
    threads = [threading.Thread(target=one, args=item) for item in runs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    out, _, _ = first_run
    theirs = json.loads((out / "verdicts.json").read_text())["sources"]
    for run_id in runs:
        assert is_complete(root / run_id)
        assert _sample_ids(root / run_id) == _sample_ids(out)
        assert json.loads((root / run_id / "verdicts.json").read_text())["sources"] == theirs
    shards = json.loads((root / "split" / "manifest.json").read_text())["shards"]
    assert len(shards) > 12  # many byte ranges, so many read tasks
    leftovers = [p.name for p in (root / ".staging").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == [], "staging folders left behind"


_HOLD = """
import sys, time
from pathlib import Path
from assay.publish import run_lock
with run_lock(Path(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def test_a_second_writer_of_the_same_run_is_refused(spark, small_corpus, tmp_path):
    from assay.publish import RunBusyError, staging_dir
    from assay.run import spark_stage

    out = tmp_path / "runs" / "busy"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out), "busy", "60"],
        cwd=REPO, env=console_env(), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunBusyError, match="being written by another process"):
            spark_stage(_settings(small_corpus, out, "busy"), spark)
        assert not staging_dir(out, "busy").exists()  # the other writer's staging was not wiped
    finally:
        holder.kill()
        holder.wait()


def _commit_many(out: str, run_id: str, rounds: int) -> None:
    from assay.publish import commit, fresh_staging

    for i in range(rounds):
        staging = fresh_staging(Path(out), f"{run_id}-{i}")
        for n in range(20):
            (staging / f"part-{n}.txt").write_text(f"{run_id}-{i}\n" * 200)
        (staging / "verdicts.json").write_text(json.dumps({"writer": f"{run_id}-{i}"}))
        commit(staging, Path(out))


def _read_at(folder: int, name: str) -> str:
    fd = os.open(name, os.O_RDONLY, dir_fd=folder)
    with os.fdopen(fd) as handle:
        return handle.read()


def test_concurrent_commits_never_show_a_half_written_run(tmp_path):
    from assay.publish import COMPLETE_MARKER

    out = tmp_path / "runs" / "shared"
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_commit_many, args=(str(out), f"w{k}", 15)) for k in range(3)]
    for w in writers:
        w.start()
    seen = 0
    deadline = time.monotonic() + 120
    while any(w.is_alive() for w in writers) and time.monotonic() < deadline:
        try:
            # A reader opens the run folder once and reads inside it (what a folder handle sees).
            folder = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue  # between two commits the folder is briefly absent, never partial
        try:
            names = set(os.listdir(folder))
            writer = json.loads(_read_at(folder, "verdicts.json"))["writer"]
            parts = {_read_at(folder, f"part-{n}.txt") for n in range(20)}
            current = os.stat(out).st_ino == os.fstat(folder).st_ino
        except FileNotFoundError:
            current = False
        finally:
            os.close(folder)
        if not current:
            continue  # the run this handle saw was replaced meanwhile; its old copy is being deleted
        assert COMPLETE_MARKER in names and len(names) == 22, names
        assert parts == {f"{writer}\n" * 200}, "a reader saw parts of two different runs"
        seen += 1
    for w in writers:
        w.join(timeout=60)
        assert w.exitcode == 0
    assert seen > 0
    assert json.loads((out / "verdicts.json").read_text())["writer"].endswith("-14")


def test_the_accounting_check_fails_when_the_books_do_not_balance(spark, small_corpus, tmp_path):
    from assay.publish import staging_dir
    from assay.run import finalize, spark_stage

    settings = _settings(small_corpus, tmp_path / "runs" / "tampered", "tampered")
    spark_stage(settings, spark)
    stage_path = staging_dir(Path(settings.out), settings.run_id) / "stage.json"
    stage = json.loads(stage_path.read_text())
    alpha_shard = next(s for s in stage["shards"] if s["relpath"] == "alpha/a.jsonl")
    alpha_shard["n_read"] += 1  # a shard read one record more than it accounted for
    stage["read_counts"]["beta"] += 2  # a source read two records that were never classified
    stage_path.write_text(json.dumps(stage))
    result = finalize(settings)
    verdicts = json.loads((result.run_dir / "verdicts.json").read_text())
    validation = json.loads((result.run_dir / verdicts["validation"]["result"]).read_text())
    failed = {
        (r["expectation_config"]["type"], r["expectation_config"]["kwargs"].get("column"))
        for r in validation["results"]
        if not r["success"]
    }
    assert ("expect_column_pair_values_to_be_equal", None) in failed
    assert ("expect_column_values_to_be_between", "n_shards_unaccounted") in failed
    assert ("expect_column_sum_to_be_between", "n_read") in failed
    assert {"alpha", "beta"} <= set(verdicts["validation"]["failing_sources"])
    rows = {r["source"]: r for r in verdicts["sources"]}
    assert rows["alpha"]["n_shards_unaccounted"] == 1 and rows["beta"]["n_shards_unaccounted"] == 0
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert [s["relpath"] for s in manifest["shards"] if not s["accounted"]] == ["alpha/a.jsonl"]
    assert not result.validation_success and result.exit_code == 1


@pytest.mark.slow
def test_a_python_worker_killed_mid_read_is_retried_without_double_counting(
    small_corpus, first_run, tmp_path
):
    out, _, _ = first_run
    marker = tmp_path / "crashed-once"
    run_dir = tmp_path / "runs" / "killed"
    proc = run_console(
        [
            "audit",
            str(small_corpus),
            "--out",
            str(run_dir),
            "--run-id",
            "killed",
            "--sample-size",
            "20",
        ],
        ASSAY_TEST_CRASH_READ_ONCE=str(marker),
        ASSAY_SPARK_MASTER="local[2,4]",
    )
    assert marker.exists(), "the fault was never injected"
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    ours = json.loads((run_dir / "verdicts.json").read_text())["sources"]
    theirs = json.loads((out / "verdicts.json").read_text())["sources"]
    assert ours == theirs
    assert _sample_ids(run_dir) == _sample_ids(out)
