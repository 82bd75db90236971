"""The scheduled corpus-audit DAGs parse: a cron variant and one scheduled on the corpus Asset."""

from __future__ import annotations

from pathlib import Path

import pytest

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "corpus_audit_scheduled.py"


@pytest.fixture(scope="module")
def dags(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow")))
    monkeypatch_module.setenv("ASSAY_SCHEDULED_CORPUS", "s3://corpus-bucket/web/")
    monkeypatch_module.setenv("ASSAY_SCHEDULED_OUTPUT_ROOT", "s3://audit-bucket/runs")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_cron_and_asset_variants(dags):
    from airflow.sdk import Asset

    nightly, on_update = dags["corpus_audit_nightly"], dags["corpus_audit_on_update"]
    assert nightly.timetable.expression == "0 2 * * *"
    assets = list(on_update.timetable.asset_condition.objects)
    assert assets == [Asset(name="assay_corpus", uri="s3://corpus-bucket/web/", group="corpus")]
    for dag in (nightly, on_update):
        assert [t.task_id for t in dag.topological_sort()] == [
            "prepare",
            "sample_and_score",
            "decide_and_publish",
            "gate",
        ]
        assert dag.params["incremental"] is True
        assert (
            dag.get_task("sample_and_score")._pre_execute_hook.__name__
            == "spark_submit_pre_execute"
        )
        (outlet,) = dag.get_task("decide_and_publish").outlets
        assert outlet.uri == "s3://audit-bucket/runs"
