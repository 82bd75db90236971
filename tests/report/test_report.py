"""The run report, Data Docs and verdicts of two real audits; pages checked in headless Chromium."""

from __future__ import annotations

import functools
import html
import http.server
import json
import re
import threading
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from assay.report import render_report

from .browser import ARTIFACTS, Browser, chromium_path
from .conftest import EMAIL, HOSTILE

REMOTE_LOAD = re.compile(
    r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(?:https?:)?//', re.IGNORECASE
)
CHECKS = {
    "jquery": "typeof window.jQuery",
    "bootstrap_table": "!!(window.jQuery && window.jQuery.fn.bootstrapTable)",
    "styled": "getComputedStyle(document.body).fontFamily",
    "stylesheets": "document.styleSheets.length",
    "pwned": "window.__pwned === 1",
    "anchors": "Array.from(document.querySelectorAll('a[href]')).map(a => a.href)",
}


def _verdicts(run: Path) -> dict:
    return json.loads((run / "verdicts.json").read_text())


def _site(run: Path) -> Path:
    return run / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site"


def _validation_page(run: Path, suite: str) -> Path:
    first, _, second = suite.partition(".")
    pages = sorted(_site(run).glob(f"validations/{first}/{second}/*/*/*.html"))
    assert pages, f"no Data Docs page for {suite}"
    return pages[-1]


def test_warnings_are_recorded_and_do_not_fail(audited):
    second = _verdicts(audited.run)
    by = {s["source"]: s for s in second["sources"]}
    assert {w["check"] for w in by["news"]["warnings"]} == {"rate_rise", "rate_rise_rel"}
    assert [w["check"] for w in by["forum"]["warnings"]] == ["volume_ratio"]
    assert by[HOSTILE]["warnings"] == []
    assert all(w["severity"] == "warning" for s in second["sources"] for w in s["warnings"])
    # news rose from 0% to 3.3%: warned, yet under the 5% threshold it passes and fails nothing.
    assert by["news"]["verdict"] == "pass" and by["news"]["flagged_rate"] == pytest.approx(10 / 300)
    assert "news" not in second["validation"]["failing_sources"]
    history = second["history"]
    assert history["severity"] == "warning" and history["success"] is False
    assert history["warned_sources"] == ["forum", "news"] and history["earlier_runs"] == 1
    result = json.loads((audited.run / history["result"]).read_text())
    failed = [r for r in result["results"] if not r["success"]]
    assert failed and all(r["expectation_config"]["severity"] == "warning" for r in failed)


def test_metrics_store_has_one_file_per_run(audited):
    from assay.history import read_metrics

    files = sorted(p.name for p in audited.metrics.rglob("*.parquet"))
    assert files == ["r1.parquet", "r2.parquet"]
    rows = read_metrics(str(audited.metrics), str(audited.corpus))
    assert sorted(rows["run_id"].unique()) == ["r1", "r2"]
    assert set(rows["source"]) == {"forum", "news", HOSTILE}
    r2 = rows[rows["run_id"] == "r2"].set_index("source")
    assert r2.loc["forum", "n_read"] == 900 and r2.loc["news", "n_warnings"] == 2


def test_report_page_content(audited):
    page = (audited.run / "report.html").read_text()
    assert HOSTILE not in page and html.escape(HOSTILE) in page
    assert not REMOTE_LOAD.search(page), "the report must load nothing from the network"
    assert page.count('<img class="chart"') == 4, "rate, categories, samples and trend charts"
    assert "a***@***.org" in page, "masked evidence is shown"
    for label, target in (
        ("Data Docs", "gx/gx/uncommitted/data_docs/local_site/index.html"),
        ("verdicts.json", "verdicts.json"),
    ):
        assert f'href="{target}">{label}</a>' in page
        assert (audited.run / target).exists()
    first = render_report(_verdicts(audited.run), pd.DataFrame(), {}, {})
    assert "first recorded run" in first and first.count('<img class="chart"') == 3


def test_no_clear_text_evidence_on_any_page(audited):
    for run in (audited.run,):
        for path in run.rglob("*"):
            if (
                path.is_file()
                and "samples" not in path.parts
                and path.suffix in {".html", ".json", ".svg"}
            ):
                assert EMAIL not in path.read_text(errors="replace"), f"clear-text match in {path}"


def test_data_docs_are_offline_and_show_sources(audited):
    site = _site(audited.run)
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 5
    for page in pages:
        text = page.read_text()
        assert not REMOTE_LOAD.search(text), f"remote asset in {page.relative_to(site)}"
        assert HOSTILE not in text, f"unescaped source name in {page.relative_to(site)}"
    assert (site / "static/vendor/jquery@3.7.1/dist/jquery.min.js").is_file()
    assert (site / "static/vendor/bootstrap@4.3.1/dist/css/bootstrap.min.css").is_file()
    sources = _validation_page(audited.run, "corpus_audit.sources").read_text()
    section = sources[sources.index("section-2") :]
    for expected in (
        "Sources",
        "Scored",
        "news",
        "forum",
        html.escape(HOSTILE),
        "a***@***.org",
        "badge-danger",
        "rose",
    ):
        assert expected in section, expected
    assert section.index(">forum<") < section.index(">news<"), "failing sources first"


def _serve(root: Path):
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_pages_in_headless_chromium(audited):
    chromium_path()
    run = audited.run
    pages = {
        "report": run / "report.html",
        "docs_index": _site(run) / "index.html",
        "docs_sources": _validation_page(run, "corpus_audit.sources"),
        "docs_history": _validation_page(run, "corpus_audit.history"),
    }
    server = _serve(audited.root)  # like an S3 static-website prefix: the output root over HTTP
    base = f"http://127.0.0.1:{server.server_address[1]}"
    figures = []
    try:
        with Browser() as browser:
            for name, path in pages.items():
                for mode, url in (
                    ("file", path.as_uri()),
                    ("http", f"{base}/{path.relative_to(audited.root).as_posix()}"),
                ):
                    loaded = browser.load(
                        url, screenshot=f"{name}.png" if mode == "file" else None, evaluate=CHECKS
                    )
                    assert loaded.errors == [], f"{name} over {mode}: {loaded.errors}"
                    allowed = ("file://", "data:") if mode == "file" else (base, "data:")
                    outside = [u for u in loaded.requests if not u.startswith(allowed)]
                    assert outside == [], f"{name} over {mode} asked the network for {outside}"
                    assert loaded.values["pwned"] is False
                    if name.startswith("docs"):
                        assert (
                            loaded.values["jquery"] == "function"
                            and loaded.values["bootstrap_table"] is True
                        )
                        assert loaded.values["stylesheets"] >= 7
                    if mode == "http":
                        local = [a for a in loaded.values["anchors"] if a.startswith(base)]
                        for link in local:
                            with urllib.request.urlopen(link.split("#")[0], timeout=10) as response:  # noqa: S310 - loopback
                                assert response.status == 200, link
                    figures.append(f"{name}_{mode}_load_ms: {loaded.load_ms:.0f}")
                figures.append(f"{name}_bytes: {path.stat().st_size}")
    finally:
        server.shutdown()
    for name in pages:
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 20_000, f"{name}.png looks empty"
    figures.append(
        f"run_folder_docs_bytes: {sum(p.stat().st_size for p in _site(run).rglob('*') if p.is_file())}"
    )
    (ARTIFACTS / "report_figures.txt").write_text("\n".join(figures) + "\n")
    print("\n".join(figures))
