"""Corpus-level rules (the whole corpus, not per source): the automated scan and the manual review.

TC260: a random sample of >= 4000 documents reviewed by people is >= 96% acceptable; keyword and
classifier checks over >= 10% of the corpus find >= 98% acceptable. Both are decided with an
interval, like the per-source rules.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from assay.decision import decide_at_least
from assay.settings import AuditSettings
from assay.statistics import proportion

RULE_COLUMNS = [
    "rule",
    "n",
    "n_acceptable",
    "acceptable_rate",
    "low",
    "high",
    "threshold",
    "coverage",
    "min_coverage",
    "verdict",
]
MIN_SCAN_FRACTION = 0.10
MIN_REVIEW_SIZE = 4000


def _rule(
    name: str,
    n: int,
    acceptable: int,
    threshold: float,
    coverage: float,
    min_coverage: float,
    settings: AuditSettings,
) -> dict:
    p = proportion(acceptable, n, settings.confidence, settings.interval_method)
    return {
        "rule": name,
        "n": n,
        "n_acceptable": acceptable,
        "acceptable_rate": p.rate if n else 0.0,
        "low": p.low,
        "high": p.high,
        "threshold": threshold,
        "coverage": coverage,
        "min_coverage": min_coverage,
        "verdict": decide_at_least(p, threshold, settings.decision_rule),
    }


def scan_rule(scan: dict, n_eligible: int, settings: AuditSettings) -> dict:
    """The automated scan: share of scanned documents no detector flagged."""
    coverage = scan["n"] / n_eligible if n_eligible else 0.0
    return _rule(
        "automated_scan",
        scan["n"],
        scan["n"] - scan["n_flagged"],
        settings.min_scan_acceptable,
        coverage,
        MIN_SCAN_FRACTION,
        settings,
    )


def review_rule(verdict: dict, settings: AuditSettings) -> dict:
    """The manual review: share of reviewed documents people labelled acceptable."""
    acceptable = verdict["acceptable"]
    return _rule(
        "manual_review",
        acceptable["n"],
        acceptable["k"],
        settings.min_review_acceptable,
        float(acceptable["n"]),
        float(MIN_REVIEW_SIZE),
        settings,
    )


def rules_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=RULE_COLUMNS)


def source_lists(decided: pd.DataFrame) -> dict[str, list[str]]:
    """Which sources a training job may use: allow (pass), deny (fail), review (inconclusive)."""
    pick = {
        verdict: sorted(decided.loc[decided["verdict"] == verdict, "source"].tolist())
        for verdict in ("pass", "fail", "inconclusive")
    }
    return {"allow": pick["pass"], "deny": pick["fail"], "review": pick["inconclusive"]}


def import_review(run_dir: Path, labels_path: Path, settings: AuditSettings) -> dict:
    """Read people's labels for a run's review queue, decide the >= 96% rule, validate with GX."""
    from assay.publish import write_json
    from assay.review import import_labels, review_verdict
    from assay.validation import validate_table

    queue = run_dir / "review" / "review_queue.jsonl"
    labels = import_labels(labels_path, queue=queue if queue.exists() else None)
    verdict = review_verdict(
        labels, settings.min_review_acceptable, settings.confidence, settings.decision_rule
    )
    table = rules_table([review_rule(verdict, settings)])
    outcome = validate_table(
        table, "corpus_audit.corpus", {}, run_dir, f"{settings.run_id}-review", index_column="rule"
    )
    result = {**verdict, "rule": table.iloc[0].to_dict(), "validation": outcome.to_dict()}
    write_json(run_dir / "review" / "review_verdict.json", result)
    return result
