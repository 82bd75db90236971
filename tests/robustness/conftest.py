"""Shared runs for the robustness tests: the catalogue audited in-process, one `assay audit` console
run over hostile, secret-bearing and damaged files, and a headless-Chromium page loader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .cases import (
    MAX_DOCUMENT_BYTES,
    NOT_PARQUET,
    SAMPLE_SIZE,
    SHARD_BYTES,
    Expect,
    build_catalogue,
    corrupt_zstd,
    good,
    jsonl,
    truncated_gzip,
    truncated_zstd,
)

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("ASSAY_CHROMIUM", "/usr/bin/chromium"))

# Planted in source names (they reach Data Docs) and in document texts (samples, review export).
PWN_SCRIPT = "<script>document.title='pwned'</script>"
PWN_IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
PWN_MARKDOWN = "**bold** [click](javascript:alert(1)) `code` \u202eevil"
HOSTILE_SOURCES = (PWN_SCRIPT, PWN_IMG, PWN_MARKDOWN)
# Control characters are not legal XML/SVG text: report code must not pass them through raw.
CONTROL_SOURCES = ("ctrl \x1b[31mred\x07 bell", "nul \x00 inside", "tab\tand\x0bvtab")
# Values the default policy's detectors find; they must never appear in clear outside samples/.
SECRET_VALUES = ("alice.pwn@example.com", "4111 1111 1111 1111", "AKIAQ3EGRGK5TXLPWN7Z")


@dataclass
class CatalogueRun:
    corpus: Path
    expect: dict[str, Expect]
    result: object  # assay.run.RunResult
    verdicts: dict
    manifest: dict
    validation: dict

    def source(self, name: str) -> dict | None:
        return next((s for s in self.verdicts["sources"] if s["source"] == name), None)


def _load(run_dir: Path) -> tuple[dict, dict, dict]:
    verdicts = json.loads((run_dir / "verdicts.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    validation = json.loads((run_dir / verdicts["validation"]["result"]).read_text())
    return verdicts, manifest, validation


@pytest.fixture(scope="session")
def catalogue(spark, tmp_path_factory) -> CatalogueRun:
    """Every malformed-input case in one corpus, audited once through the real Spark pipeline."""
    from assay.run import audit
    from assay.settings import AuditSettings

    base = tmp_path_factory.mktemp("catalogue")
    corpus = base / "corpus"
    expect = build_catalogue(corpus)
    settings = AuditSettings(
        corpus=str(corpus),
        out=str(base / "runs" / "catalogue"),
        run_id="catalogue",
        sample_size=SAMPLE_SIZE,
        max_document_bytes=MAX_DOCUMENT_BYTES,
        shard_bytes=SHARD_BYTES,
    )
    result = audit(settings, spark)
    return CatalogueRun(corpus, expect, result, *_load(result.run_dir))


@dataclass
class ConsoleRun:
    corpus: Path
    run_dir: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def build_console_corpus(root: Path) -> None:
    """Hostile source names and texts carrying PII and secrets, ordinary documents, damaged files."""
    secret_text = "Mail {0} now. Card {1}. key={2} {3} {4} <b>bold</b> # Heading\n| a | b |"
    docs = []
    for s_i, source in enumerate(HOSTILE_SOURCES):
        for i in range(4):
            text = (
                secret_text.format(*SECRET_VALUES, PWN_SCRIPT, PWN_IMG) + f" \x00\x1b[2J {s_i}.{i}"
            )
            docs.append({"id": f"h{s_i}-{i}", "source": source, "text": text})
    (root / "hostile").mkdir(parents=True)
    (root / "hostile" / "docs.jsonl").write_bytes(jsonl(docs))
    (root / "normal").mkdir()
    (root / "normal" / "docs.jsonl").write_bytes(jsonl(good("ok", 30)))
    damaged = root / "damaged"
    damaged.mkdir()
    (damaged / "truncated.jsonl.gz").write_bytes(truncated_gzip(good("tg", 400, pad=40)))
    (damaged / "corrupt.jsonl.zst").write_bytes(corrupt_zstd(good("cz", 200, pad=40)))
    (damaged / "truncated.jsonl.zst").write_bytes(truncated_zstd(good("tz", 10000, pad=40)))
    (damaged / "broken.parquet").write_bytes(NOT_PARQUET)


def console_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    env.update({"PYTHONPATH": str(REPO), "ASSAY_SPARK_LOG_LEVEL": "ERROR", **extra})
    return env


def run_console(args: list[str], timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    """`python -m assay.cli ...` in a fresh process, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "assay.cli", *args],
        cwd=REPO,
        env=console_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def console_run(tmp_path_factory) -> ConsoleRun:
    """One `assay audit` process over the hostile/secret/damaged corpus (exit 2: damaged files)."""
    base = tmp_path_factory.mktemp("console")
    corpus = base / "corpus"
    build_console_corpus(corpus)
    run_dir = base / "runs" / "console"
    started = time.monotonic()
    proc = run_console(
        [
            "audit", str(corpus), "--out", str(run_dir), "--run-id", "console",
            "--sample-size", "20",
        ]
    )  # fmt: skip
    return ConsoleRun(
        corpus, run_dir, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started
    )


def require_chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} not found: install Debian's chromium package (apt-get install -y chromium)"
        )
    return CHROMIUM


def load_page(page: Path, profile: Path, timeout: float = 90) -> tuple[str, float]:
    """The page's DOM after headless Chromium loaded it and ran its scripts, and the load time (s)."""
    chromium = require_chromium()
    profile.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(chromium), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            "--virtual-time-budget=3000", "--dump-dom", page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, f"chromium failed on {page}: {proc.stderr[-2000:]}"
    assert "<html" in proc.stdout.lower(), f"chromium returned no DOM for {page}"
    shutil.rmtree(profile, ignore_errors=True)
    return proc.stdout, elapsed
