"""The metrics store (local files and a real S3-compatible server) and the checks against history."""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from assay import history
from assay.settings import AuditSettings

POLICY = "p" * 64


def verdicts(
    run_id: str, corpus: str, rates: dict[str, tuple[int, int, int]], policy: str = POLICY
) -> dict:
    """A verdicts.json as finalize writes it: source -> (read, scored, flagged)."""
    return {
        "run_id": run_id,
        "corpus": corpus,
        "policy": {"hash": policy, "name": "t", "version": "1"},
        "settings": {
            "sample_size": 400,
            "seed": 0,
            "max_flagged_rate": 0.05,
            "decision_rule": "interval",
        },
        "sources": [
            {
                "source": s,
                "n_read": read,
                "n_rejected": 0,
                "n_eligible": read,
                "n_sampled": scored,
                "n_scored": scored,
                "n_flagged": flagged,
                "flagged_rate": flagged / scored,
                "rate_low": 0.0,
                "rate_high": 1.0,
                "verdict": "pass",
                "flagged_by_category": {"pii": flagged},
                "warnings": [],
            }
            for s, (read, scored, flagged) in rates.items()
        ],
    }


def store_runs(
    root: str, corpus: str, runs: list[dict[str, tuple[int, int, int]]], policy: str = POLICY
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, rates in enumerate(runs):
        frame = history.metrics_frame(
            verdicts(f"run{i}", corpus, rates, policy), start + timedelta(days=i)
        )
        history.append_metrics(root, frame)


def test_store_round_trip_one_file_per_run(tmp_path):
    root, corpus = str(tmp_path / "_metrics"), str(tmp_path / "corpus")
    store_runs(
        root,
        corpus,
        [{"a": (1000, 400, 4), "b": (50, 50, 0)}, {"a": (1010, 400, 8), "b": (55, 55, 1)}],
    )
    files = sorted(Path(root).rglob("*.parquet"))
    assert [f.name for f in files] == ["run0.parquet", "run1.parquet"]
    assert files[0].parent.name == f"corpus_id={history.corpus_id(corpus)}"
    assert pq.read_schema(files[0]).remove_metadata() == history.SCHEMA
    rows = history.read_metrics(root, corpus + "/")  # another spelling of the same corpus
    assert len(rows) == 4 and list(rows["run_id"]) == ["run0", "run0", "run1", "run1"]
    assert rows.loc[
        (rows.run_id == "run1") & (rows.source == "a"), "flagged_rate"
    ].item() == pytest.approx(0.02)
    assert json.loads(rows["flagged_by_category"].iloc[0]) == {"pii": 4}
    # A warehouse reads the folder as one partitioned table.
    table = pq.read_table(f"{root}/{history.TABLE}")
    assert table.num_rows == 4 and "corpus_id" in table.column_names
    assert history.read_metrics(root, str(tmp_path / "other")).empty


def test_concurrent_runs_do_not_collide(tmp_path):
    root, corpus = str(tmp_path / "_metrics"), str(tmp_path / "corpus")
    now = datetime(2026, 2, 1, tzinfo=UTC)

    def write(i: int) -> str:
        frame = history.metrics_frame(verdicts(f"c{i:02d}", corpus, {"a": (100 + i, 100, i)}), now)
        return history.append_metrics(root, frame)

    with ThreadPoolExecutor(8) as pool:
        uris = list(pool.map(write, range(16)))
    assert len(set(uris)) == 16
    rows = history.read_metrics(root, corpus)
    assert sorted(rows["n_read"]) == [100 + i for i in range(16)]
    assert not list(Path(root).rglob("*.tmp"))
    write(3)  # a retried run rewrites its own file
    assert len(history.read_metrics(root, corpus)) == 16


def test_history_table_rules():
    limits = history.suite_limits()
    past = history.metrics_frame(
        verdicts("old", "/c", {"a": (1000, 400, 4), "b": (1000, 400, 40), "c": (100, 100, 0)}),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    other_policy = history.metrics_frame(
        verdicts("oldp", "/c", {"a": (1000, 400, 200)}, policy="q" * 64),
        datetime(2026, 1, 2, tzinfo=UTC),
    )
    now = pd.DataFrame(
        [
            {"source": "a", "flagged_rate": 0.04, "n_read": 1000},  # 1% -> 4%: +3 points, x4
            {
                "source": "b",
                "flagged_rate": 0.12,
                "n_read": 3500,
            },  # 10% -> 12%: +2 points, +20%; volume x3.5
            {
                "source": "c",
                "flagged_rate": 0.003,
                "n_read": 100,
            },  # 0 -> 0.3%: under the floor for relative
            {"source": "new", "flagged_rate": 0.5, "n_read": 10},  # no history: nothing to compare
        ]
    )
    table = history.history_table(now, pd.concat([past, other_policy]), POLICY, limits).set_index(
        "source"
    )
    assert table.loc["a", "baseline_rate"] == pytest.approx(0.01), (
        "the other policy's run is not a rate baseline"
    )
    assert table.loc["a", "rate_rise"] == pytest.approx(0.03)
    assert table.loc["a", "rate_rise_rel"] == pytest.approx(3.0)
    assert table.loc["a", "baseline_n_read"] == 1000, "volume baselines take every policy"
    assert table.loc["b", "rate_rise_rel"] == pytest.approx(0.2)
    assert table.loc["b", "volume_ratio"] == pytest.approx(3.5)
    assert pd.isna(table.loc["c", "rate_rise_rel"])
    empty = ["baseline_rate", "rate_rise", "rate_rise_rel", "baseline_n_read", "volume_ratio"]
    assert table.loc["new", empty].isna().all() and table.loc["new", "baseline_runs"] == 0


def test_check_history_warns_through_gx(tmp_path):
    corpus = str(tmp_path / "corpus")
    root = tmp_path / "runs" / "_metrics"
    store_runs(str(root), corpus, [{"a": (1000, 400, 4), "b": (1000, 400, 8)} for _ in range(3)])
    settings = AuditSettings(corpus=corpus, out=str(tmp_path / "runs" / "now"), run_id="now")
    decided = pd.DataFrame(
        [
            {"source": "a", "flagged_rate": 0.045, "n_read": 1000},
            {"source": "b", "flagged_rate": 0.02, "n_read": 180},
        ]
    )
    run_dir = tmp_path / "stage"
    run_dir.mkdir()
    check = history.check_history(decided, settings, POLICY, run_dir)
    assert check.root == str(root.resolve())
    assert check.success is False
    assert {w["check"] for w in check.warnings_for("a")} == {"rate_rise", "rate_rise_rel"}
    assert [w["check"] for w in check.warnings_for("b")] == ["volume_ratio"]
    message = check.warnings_for("a")[0]["message"]
    assert "4.50%" in message and "1.00%" in message and "median of 3 earlier runs" in message
    summary = check.summary()
    assert (
        summary["severity"] == "warning"
        and summary["warned_sources"] == ["a", "b"]
        and summary["earlier_runs"] == 3
    )
    result = json.loads((run_dir / summary["result"]).read_text())
    assert {r["expectation_config"]["severity"] for r in result["results"]} == {"warning"}

    first = history.check_history(
        decided,
        AuditSettings(corpus=str(tmp_path / "fresh"), out=settings.out, run_id="x"),
        POLICY,
        run_dir,
    )
    assert first.success and first.warnings == {}, "a first run has nothing to compare with"


def test_limits_come_from_the_suite_and_settings():
    assert history.suite_limits()["max_rate_rise"] == 0.02
    settings = AuditSettings(
        corpus="/c",
        out="/o/r",
        extra={"history": {"max_rate_rise": 0.1}, "metrics_root": "s3://b/m/"},
    )
    assert history.suite_limits(settings)["max_rate_rise"] == 0.1
    assert history.metrics_root(settings) == "s3://b/m"
    assert (
        history.metrics_root(AuditSettings(corpus="/c", out="s3://bucket/runs/r1"))
        == "s3://bucket/runs/_metrics"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_store_on_s3(monkeypatch):
    moto_server = pytest.importorskip("moto.server")
    import boto3

    server = moto_server.ThreadedMotoServer(
        ip_address="127.0.0.1", port=_free_port(), verbose=False
    )
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server._port}"
        for key, value in {
            "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(key, value)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="metrics")
        root = "s3://metrics/audits/_metrics"
        assert history.read_metrics(root, "s3://corpora/c").empty
        store_runs(root, "s3://corpora/c/", [{"a": (10, 10, 1)}, {"a": (12, 12, 2)}])
        keys = [
            o["Key"]
            for o in boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket="metrics")[
                "Contents"
            ]
        ]
        assert sorted(k.rsplit("/", 1)[-1] for k in keys) == ["run0.parquet", "run1.parquet"]
        rows = history.read_metrics(root, "s3://corpora/c")
        assert list(rows["n_flagged"]) == [1, 2]
    finally:
        server.stop()
