"""`airflow dags test corpus_audit`: the real DAG, Airflow on SQLite, Spark local, end to end."""

from __future__ import annotations

import json

import pytest

from assay.local_airflow import airflow_env, dags_test, migrate

CLEAN = "The library opened a reading programme for the coming season."
DIRTY = "Shut up, you pathetic loser."


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    env = airflow_env(home)
    migrate(env)
    return env


def test_dag_run_writes_verdicts_gx_result_and_data_docs(airflow_home, tmp_path):
    corpus = tmp_path / "corpus"
    for source, every in (("clean", 0), ("planted", 4)):
        (corpus / source).mkdir(parents=True)
        lines = [
            json.dumps(
                {"id": f"{source}-{i}", "text": DIRTY if every and i % every == 0 else CLEAN}
            )
            for i in range(200)
        ]
        (corpus / source / "part.jsonl").write_text("\n".join(lines) + "\n")
    output_root = tmp_path / "runs"
    done = dags_test(
        "corpus_audit",
        {"corpus": str(corpus), "output_root": str(output_root), "sample_size": 150, "seed": 5},
        airflow_home,
    )
    runs = (
        [p for p in output_root.iterdir() if not p.name.startswith((".", "_"))]
        if output_root.exists()
        else []
    )
    assert len(runs) == 1, done.stdout[-4000:] + done.stderr[-4000:]
    run = runs[0]
    verdicts = json.loads((run / "verdicts.json").read_text())
    by_source = {s["source"]: s for s in verdicts["sources"]}
    assert by_source["clean"]["verdict"] == "pass"
    assert by_source["planted"]["verdict"] == "fail"
    assert by_source["planted"]["n_sampled"] == 150
    assert (run / "validation.corpus_audit.sources.json").exists()
    assert (run / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").exists()
    # The gate task turns the run red and names the failing source.
    log = done.stdout + done.stderr
    assert "sources not passing: planted" in log
