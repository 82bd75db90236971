"""Run folders uploaded with _COMPLETE last; concurrent Data Docs rebuilds never lose a run."""

from __future__ import annotations

import threading
import time

from assay import outputs, s3
from assay.settings import AuditSettings

from .conftest import put


def test_local_out_mirrors_s3_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_WORK_DIR", str(tmp_path))
    s3_run = AuditSettings(corpus="/c", out="s3://b/audits/r1", run_id="r1")
    assert outputs.local_out(s3_run) == tmp_path / "b" / "audits" / "r1"
    assert str(outputs.local_out(AuditSettings(corpus="/c", out="/x/r1", run_id="r1"))) == "/x/r1"
    assert outputs.output_root("s3://b/audits/r1") == "s3://b/audits"
    params = AuditSettings.from_params(
        {"corpus": "s3://c/p", "output_root": "s3://b/audits/", "run_id": "r2"}
    )
    assert params.out == "s3://b/audits/r2"


def test_publish_run_uploads_everything_and_completes_last(bucket, s3_env, tmp_path, monkeypatch):
    run = tmp_path / "r1"
    (run / "samples").mkdir(parents=True)
    (run / "verdicts.json").write_text("{}")
    (run / "samples" / "part-00000.parquet").write_bytes(b"x" * 10)
    (run / "_COMPLETE").write_text("")
    order: list[str] = []
    upload, write = s3.upload_file, s3.write_bytes
    monkeypatch.setattr(s3, "upload_file", lambda path, uri: (order.append(uri), upload(path, uri)))
    monkeypatch.setattr(
        s3, "write_bytes", lambda uri, data, **kw: (order.append(uri), write(uri, data, **kw))[1]
    )
    uploaded = outputs.publish_run(run, f"s3://{bucket}/audits/r1")
    assert order == uploaded and order[-1] == f"s3://{bucket}/audits/r1/_COMPLETE"
    keys = sorted(u.rsplit("/r1/", 1)[1] for u, _, _ in s3.list_keys(f"s3://{bucket}/audits/r1/"))
    assert keys == ["_COMPLETE", "samples/part-00000.parquet", "verdicts.json"]


def test_concurrent_rebuilds_switch_the_index_one_at_a_time(bucket, s3_env, monkeypatch):
    root = f"s3://{bucket}/audits"
    builds: list[list[str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def fake_build(root_uri, runs, build_uri):
        with lock:
            builds.append(sorted(runs))
        time.sleep(0.3)  # every writer reads the index before any switches it
        put(f"{build_uri}/index.html", b"<html></html>")

    monkeypatch.setattr(outputs, "_build_and_upload", fake_build)

    def one_run(name: str) -> None:
        put(f"{root}/{name}/verdicts.json", b"{}")
        put(f"{root}/{name}/_COMPLETE", b"")
        barrier.wait()
        outputs.rebuild_data_docs(root)

    threads = [threading.Thread(target=one_run, args=(f"run-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    current = outputs.current_build(root)
    assert current["runs"] == [f"run-{i}" for i in range(4)]
    assert len(builds) > 4  # some writers lost the conditional switch and rebuilt
    index = s3.get_bytes(f"{root}/data_docs/index.html")[0].decode()
    assert f"builds/{current['build']}/index.html" in index
    assert s3.get_bytes(f"{root}/data_docs/builds/{current['build']}/index.html") is not None
    # An unfinished run (no _COMPLETE) is not listed.
    put(f"{root}/half/verdicts.json", b"{}")
    outputs.rebuild_data_docs(root)
    assert "half" not in outputs.current_build(root)["runs"]


def test_replaced_builds_are_pruned_after_the_grace_period(bucket, s3_env, monkeypatch):
    root = f"s3://{bucket}/pruned"
    monkeypatch.setattr(
        outputs,
        "_build_and_upload",
        lambda root_uri, runs, build_uri: put(f"{build_uri}/index.html", b"<html></html>"),
    )
    put(f"{root}/r1/_COMPLETE", b"")
    outputs.rebuild_data_docs(root)
    outputs.rebuild_data_docs(root)
    builds = lambda: {  # noqa: E731
        u.split("/builds/")[1].split("/")[0]
        for u, _, _ in s3.list_keys(f"{root}/data_docs/builds/")
    }
    assert len(builds()) == 2  # the replaced build is kept while readers may still be on it
    monkeypatch.setattr(outputs, "BUILD_GRACE_SECONDS", 0)
    outputs.rebuild_data_docs(root)
    assert builds() == {outputs.current_build(root)["build"]}
