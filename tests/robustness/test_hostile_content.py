"""Hostile content: pages stay inert in a real browser, detected secrets never leak in clear, and a
catastrophic policy regex cannot stall a run (RE2)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from .cases import good, jsonl
from .conftest import (
    CHROMIUM,
    CONTROL_SOURCES,
    HOSTILE_SOURCES,
    REPO,
    SECRET_VALUES,
    console_env,
    load_page,
    require_chromium,
)

EXECUTED = re.compile(r"<title>\s*pwned|data-pwned=\"1\"|<script>document\.title='pwned'")


def _html_pages(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.rglob("*.html") if "/static/" not in p.as_posix())


def test_every_page_of_the_run_is_inert_and_shows_the_text(console_run, tmp_path):
    require_chromium()
    pages = _html_pages(console_run.run_dir)
    assert pages, "the run wrote no HTML page"
    shown = 0
    for i, page in enumerate(pages):
        dom, _ = load_page(page, tmp_path / f"profile{i}")
        hit = EXECUTED.search(dom)
        assert hit is None, (
            f"{page}: planted markup was interpreted: {dom[max(0, hit.start() - 200) : hit.end() + 200]}"
        )
        if "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom:
            assert "&lt;img src=x onerror=" in dom
            shown += 1
    assert shown, f"no page shows the hostile source names as text: {[p.name for p in pages]}"


def test_hostile_sources_were_decided_and_listed(console_run):
    verdicts = json.loads((console_run.run_dir / "verdicts.json").read_text())
    rows = {r["source"]: r for r in verdicts["sources"]}
    for source in HOSTILE_SOURCES:
        assert rows[source]["n_read"] == 4 and rows[source]["verdict"] == "fail"
        assert {"personal_data", "secrets"} <= set(rows[source]["flagged_by_category"])
    assert set(HOSTILE_SOURCES) <= set(verdicts["validation"]["failing_sources"])


def _clear_values() -> list[bytes]:
    values = [v.encode() for v in SECRET_VALUES]
    return values + [v.replace(" ", "").encode() for v in SECRET_VALUES if " " in v]


def _file_text(path: Path) -> bytes:
    if path.suffix == ".parquet":
        return json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False).encode()
    return path.read_bytes()


def test_detected_secrets_never_appear_in_clear_outside_samples(console_run):
    checked = 0
    for path in sorted(p for p in console_run.run_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(console_run.run_dir).as_posix()
        if rel.startswith("samples/"):
            continue
        data = _file_text(path)
        for value in _clear_values():
            assert value not in data, f"{rel} holds {value!r} in clear"
        checked += 1
    assert checked >= 5
    for stream in (console_run.stdout, console_run.stderr):
        for value in _clear_values():
            assert value.decode() not in stream, "the console printed a secret in clear"
    # the values did reach the pipeline: the access-controlled samples hold them
    samples = _file_text(next((console_run.run_dir / "samples").glob("*.parquet")))
    assert all(v in samples for v in _clear_values()[:3])


_FINALIZE = """
import sys
from assay.run import finalize
from assay.settings import AuditSettings
result = finalize(AuditSettings.from_json(sys.argv[1]))
print("exit", result.exit_code)
"""


def test_control_characters_in_source_names_neither_crash_nor_run(spark, tmp_path):
    """Spark stage here; deciding and the pages in a child process, so an abort cannot hide."""
    from assay.run import spark_stage
    from assay.settings import AuditSettings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    docs = [
        {"id": f"{i}-{j}", "source": source, "text": f"mail {SECRET_VALUES[0]} \x1b[2J\x00 {j}"}
        for i, source in enumerate(CONTROL_SOURCES)
        for j in range(3)
    ]
    (corpus / "a.jsonl").write_bytes(jsonl(docs))
    settings = AuditSettings(
        corpus=str(corpus), out=str(tmp_path / "runs" / "ctrl"), run_id="ctrl", sample_size=5
    )
    spark_stage(settings, spark)
    proc = subprocess.run(
        [sys.executable, "-c", _FINALIZE, settings.to_json()],
        cwd=REPO, env=console_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    why = [line for line in proc.stderr.splitlines() if "panicked" in line or "Error" in line][:4]
    assert proc.returncode == 0, (
        f"deciding/publishing died (code {proc.returncode}): {why or proc.stderr[-1500:]}"
    )
    assert "Traceback" not in proc.stderr
    verdicts = json.loads((tmp_path / "runs" / "ctrl" / "verdicts.json").read_text())
    assert sorted(r["source"] for r in verdicts["sources"]) == sorted(CONTROL_SOURCES)
    if CHROMIUM.exists():  # the inertness check proper is above; here: the pages still load
        for i, page in enumerate(_html_pages(tmp_path / "runs" / "ctrl")):
            dom, _ = load_page(page, tmp_path / f"profile{i}")
            assert EXECUTED.search(dom) is None


BACKTRACKING_POLICY = """\
name: catastrophic
version: 1
categories:
  - id: runs_of_a
    title: Runs of the letter a
    detectors:
      - name: nested_plus
        type: regex
        pattern: '(a+)+$'
      - name: overlapping
        type: regex
        pattern: '(x+x+)+y'
"""


def test_python_re_really_backtracks_on_these_inputs():
    """Guard: under a backtracking engine the pattern stalls on the planted text."""
    probe = "import re; re.match(r'(a+)+$', 'a' * 40 + 'b')"
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", probe], timeout=2)


def test_a_catastrophic_regex_and_a_50_mb_document_do_not_stall_a_run(spark, tmp_path):
    from assay.run import audit
    from assay.settings import AuditSettings

    corpus = tmp_path / "corpus"
    (corpus / "bait").mkdir(parents=True)
    bait = [{"id": f"b{i}", "text": "a" * 20_000 + "b"} for i in range(5)] + [
        {"id": "x", "text": "x" * 20_000},
        {"id": "hit", "text": "aaaa"},
    ]
    (corpus / "bait" / "a.jsonl").write_bytes(jsonl(bait + good("bait", 3)))
    (corpus / "huge").mkdir()
    huge = {
        "id": "huge",
        "text": ("fifty megabytes of ordinary prose. " * 1_500_000)[: 50 * 1024 * 1024],
    }
    (corpus / "huge" / "a.jsonl").write_bytes(jsonl([huge]))
    policy = tmp_path / "policy.yaml"
    policy.write_text(BACKTRACKING_POLICY)
    settings = AuditSettings(
        corpus=str(corpus),
        out=str(tmp_path / "runs" / "re2"),
        run_id="re2",
        sample_size=20,
        policy=str(policy),
    )
    started = time.monotonic()
    result = audit(settings, spark)
    elapsed = time.monotonic() - started
    assert elapsed < 240, f"the run took {elapsed:.0f}s"
    rows = {r["source"]: r for r in result.sources.to_dict(orient="records")}
    assert rows["bait"]["n_read"] == 10 and rows["bait"]["n_flagged"] == 1  # only "aaaa" matches
    assert rows["huge"]["n_eligible"] == 1 and rows["huge"]["n_sampled"] == 1
    sample = pq.read_table(result.run_dir / "samples", filters=[("source", "=", "huge")])
    assert len(sample.column("text")[0].as_py()) == 50 * 1024 * 1024
