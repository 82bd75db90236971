"""A real audit of a small corpus (Spark local, GX, metrics store) for the report tests.

The metrics store already holds run r1 (as an earlier audit appends it). Since then `news`
gained e-mail addresses (its flagged rate rose from 0 to 3.3%, still under the 5% threshold: it
passes with a warning) and `forum` tripled in volume, so run r2 carries history warnings and a
trend. One source has a hostile name, to prove every page escapes it. Sample size 400: news
and the hostile source are audited whole.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

HOSTILE = '<img src=x onerror="window.__pwned=1">'
EMAIL = "ana.lopez42@example.org"  # planted clear text: must never reach a page
CLEAN = "The village council reviewed the spring exhibition with help from volunteers."
INSULT = "What a stupid moron, you pathetic loser."


@dataclass(frozen=True)
class Audited:
    root: Path
    corpus: Path
    run: Path
    metrics: Path


def _write(
    path: Path, source: str, n: int, problem_every: int, problem: str, rng: random.Random
) -> None:
    rows = []
    for i in range(n):
        text = f"{CLEAN} Item {rng.randrange(10**6)}."
        if problem_every and i % problem_every == 0:
            text += f" {problem}"
        rows.append(json.dumps({"id": f"{path.stem}-{i}", "source": source, "text": text}))
    path.write_text("\n".join(rows) + "\n")


def build(corpus: Path) -> None:
    rng = random.Random(7)
    corpus.mkdir(parents=True, exist_ok=True)
    _write(corpus / "forum.jsonl", "forum", 900, 6, INSULT, rng)
    _write(corpus / "news.jsonl", "news", 300, 30, f"Write to {EMAIL} for details.", rng)
    _write(corpus / "hostile.jsonl", HOSTILE, 200, 0, "", rng)


@pytest.fixture(scope="session", autouse=True)
def vendored_assets() -> None:
    """Data Docs' CSS/JS, fetched by the build step (`python -m assay.assets`); fetched here if missing."""
    from assay.assets import fetch, vendored

    if not vendored():
        if not shutil.which("npm"):
            pytest.skip("Data Docs assets not fetched and npm absent: run `python -m assay.assets`")
        fetch()


def seed_baseline(metrics: Path, corpus: Path) -> None:
    """Run r1 as the store holds it: the rows an earlier audit of this corpus appended."""
    from assay.history import append_metrics, metrics_frame
    from assay.policy import load_policy

    counts = {"forum": (300, 300, 50), "news": (300, 300, 0), HOSTILE: (200, 200, 0)}
    sources = [
        {
            "source": s,
            "n_read": r,
            "n_eligible": r,
            "n_sampled": n,
            "n_scored": n,
            "n_flagged": k,
            "flagged_rate": k / n,
            "verdict": "pass",
        }
        for s, (r, n, k) in counts.items()
    ]
    verdicts = {
        "run_id": "r1",
        "corpus": str(corpus),
        "policy": {"hash": load_policy(None).hash},
        "settings": {},
        "sources": sources,
    }
    append_metrics(str(metrics), metrics_frame(verdicts, datetime(2026, 1, 1, tzinfo=UTC)))


@pytest.fixture(scope="session")
def audited(spark, tmp_path_factory) -> Audited:
    """A committed run r2 whose output root's metrics store already holds an earlier run r1."""
    from assay.run import audit
    from assay.settings import AuditSettings

    root = tmp_path_factory.mktemp("report")
    corpus = root / "corpus"
    runs = root / "runs"
    build(corpus)
    seed_baseline(runs / "_metrics", corpus)
    audit(
        AuditSettings(
            out=str(runs / "r2"), run_id="r2", corpus=str(corpus), sample_size=400, seed=3
        ),
        spark,
    )
    return Audited(root, corpus, runs / "r2", runs / "_metrics")
