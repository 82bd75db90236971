"""Scale: a corpus with 10,000 sources, a million tiny documents, samples larger than sources.

Figures (each alone on a line as `name: value`):
  sources_10k_run_s, sources_10k_validations    - whole audit (Spark stage + decide + GX + pages)
  datadocs_index_bytes, datadocs_validation_bytes, validation_json_bytes
  datadocs_index_load_ms, datadocs_validation_load_ms, chromium_blank_load_ms (baseline)
  report_html_bytes, report_html_load_ms        - where the run writes a report page
  driver_python_peak_rss_mb, driver_jvm_peak_rss_mb, driver_peak_rss_mb
  million_docs_run_s, million_docs_per_s        - 1,000,000 tiny JSONL documents with ids
  million_docs_no_ids_run_s                     - the same without ids (no duplicate-id rows)
  sample_larger_than_sources_census             - 1 when every 10k-source row is a census

Run: .venv/bin/python bench/bench_scale.py [--sources 10000] [--docs 1000000]
(Spark local[2] unless ASSAY_SPARK_MASTER says otherwise; Chromium from /usr/bin/chromium.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

CHROMIUM = Path(os.environ.get("ASSAY_CHROMIUM", "/usr/bin/chromium"))


def emit(name: str, value) -> None:
    print(f"{name}: {value}", flush=True)


class PeakRss:
    """Peak resident memory of the Spark driver JVM (children of this process), polled."""

    def __init__(self, every_s: float = 0.2) -> None:
        self.jvm_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.every_s = every_s

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(self.every_s):
            for child in me.children(recursive=True):
                try:
                    if "java" in child.name():
                        self.jvm_peak = max(self.jvm_peak, child.memory_info().rss)
                except psutil.Error:
                    pass

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")


def load_ms(page: Path, profile: Path) -> float | None:
    """Wall time for headless Chromium to load `page`, run its scripts and dump the DOM."""
    if not CHROMIUM.exists():
        return None
    started = time.monotonic()
    subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            "--dump-dom", page.resolve().as_uri(),
        ],
        capture_output=True,
        check=True,
        timeout=300,
    )  # fmt: skip
    shutil.rmtree(profile, ignore_errors=True)
    return round((time.monotonic() - started) * 1000)


def audit_once(spark, corpus: Path, out: Path, **kw):
    from assay.run import audit
    from assay.settings import AuditSettings

    settings = AuditSettings(corpus=str(corpus), out=str(out), run_id=out.name, **kw)
    started = time.monotonic()
    result = audit(settings, spark)
    return result, time.monotonic() - started


def bench_sources(spark, work: Path, n_sources: int) -> None:
    corpus = work / "sources"
    write_jsonl(
        corpus / "all.jsonl",
        (
            {
                "id": f"{s}-{d}",
                "source": f"web/site-{s:05d}.example.org",
                "text": f"page {d} of site {s}",
            }
            for s in range(n_sources)
            for d in range(5)
        ),
    )
    with PeakRss() as rss:
        result, seconds = audit_once(spark, corpus, work / "runs" / "sources", sample_size=10)
    emit("sources_10k_n_sources", n_sources)
    emit("sources_10k_run_s", round(seconds, 1))
    run = result.run_dir
    emit("sources_10k_validations", len(list(run.glob("validation.*.json"))))
    emit(
        "sample_larger_than_sources_census",
        int((result.sources["interval_method"] == "census").all()),
    )
    emit(
        "driver_python_peak_rss_mb",
        round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    )
    emit("driver_jvm_peak_rss_mb", round(rss.jvm_peak / 2**20))
    emit(
        "driver_peak_rss_mb",
        round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + rss.jvm_peak / 2**20),
    )
    emit("validation_json_bytes", sum(p.stat().st_size for p in run.glob("validation.*.json")))
    index = result.docs_index
    pages = sorted(p for p in index.parent.glob("validations/**/*.html"))
    emit("datadocs_index_bytes", index.stat().st_size)
    emit("datadocs_validation_bytes", max((p.stat().st_size for p in pages), default=0))
    emit("chromium_blank_load_ms", _blank_ms(work))
    emit("datadocs_index_load_ms", load_ms(index, work / "chr-index"))
    if pages:
        biggest = max(pages, key=lambda p: p.stat().st_size)
        emit("datadocs_validation_load_ms", load_ms(biggest, work / "chr-val"))
    for report in sorted(run.glob("*.html")):
        emit(f"{report.stem}_html_bytes", report.stat().st_size)
        emit(f"{report.stem}_html_load_ms", load_ms(report, work / f"chr-{report.stem}"))


def _blank_ms(work: Path) -> float | None:
    blank = work / "blank.html"
    blank.write_text("<!doctype html><html><head><title>blank</title></head><body></body></html>")
    return load_ms(blank, work / "chr-blank")


def bench_million(spark, work: Path, n_docs: int) -> None:
    for label, with_ids in (("million_docs", True), ("million_docs_no_ids", False)):
        corpus = work / label
        per_file = n_docs // 10
        for f in range(10):
            write_jsonl(
                corpus / f"src-{f % 5}" / f"part-{f}.jsonl",
                (
                    (
                        {"id": f"{f}-{i}", "text": f"tiny {i}"}
                        if with_ids
                        else {"text": f"tiny {f} {i}"}
                    )
                    for i in range(per_file)
                ),
            )
        result, seconds = audit_once(spark, corpus, work / "runs" / label, sample_size=4000)
        assert int(result.sources["n_read"].sum()) == per_file * 10
        emit(f"{label}_run_s", round(seconds, 1))
        if with_ids:
            emit("million_docs_n", per_file * 10)
            emit("million_docs_per_s", round(per_file * 10 / seconds))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--docs", type=int, default=1_000_000)
    args = parser.parse_args()
    from assay.spark import get_spark

    work = Path(tempfile.mkdtemp(prefix="assay-bench-scale-"))
    try:
        spark = get_spark("assay-bench-scale")
        bench_sources(spark, work, args.sources)
        bench_million(spark, work, args.docs)
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
