"""Two real audits of a small corpus (Spark local, GX, metrics store) for the report tests.

Run 1 is the baseline. Before run 2 `news` gains e-mail addresses (its flagged rate rises from
0 to 3.3%, still under the 5% threshold: it passes with a warning) and `forum` triples in
volume, so run 2 carries history warnings and a trend. One source has a hostile name, to prove
every page escapes it. Sample size 400: news and the hostile source are audited whole.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
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
    first: Path
    second: Path
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


def build(corpus: Path, second: bool) -> None:
    rng = random.Random(7)
    corpus.mkdir(parents=True, exist_ok=True)
    _write(corpus / "forum.jsonl", "forum", 900 if second else 300, 6, INSULT, rng)
    _write(
        corpus / "news.jsonl",
        "news",
        300,
        30 if second else 0,
        f"Write to {EMAIL} for details.",
        rng,
    )
    _write(corpus / "hostile.jsonl", HOSTILE, 200, 0, "", rng)


@pytest.fixture(scope="session", autouse=True)
def vendored_assets() -> None:
    """Data Docs' CSS/JS, fetched by the build step (`python -m assay.assets`); fetched here if missing."""
    from assay.assets import fetch, vendored

    if not vendored():
        if not shutil.which("npm"):
            pytest.skip("Data Docs assets not fetched and npm absent: run `python -m assay.assets`")
        fetch()


@pytest.fixture(scope="session")
def audited(spark, tmp_path_factory) -> Audited:
    """Two committed runs under one output root, and the metrics store beside them."""
    from assay.run import audit
    from assay.settings import AuditSettings

    root = tmp_path_factory.mktemp("report")
    corpus = root / "corpus"
    runs = root / "runs"
    build(corpus, second=False)
    common = {"corpus": str(corpus), "sample_size": 400, "seed": 3}
    audit(AuditSettings(out=str(runs / "r1"), run_id="r1", **common), spark)
    build(corpus, second=True)
    audit(AuditSettings(out=str(runs / "r2"), run_id="r2", **common), spark)
    return Audited(root, corpus, runs / "r1", runs / "r2", runs / "_metrics")
