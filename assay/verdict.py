"""Deciding: per-source verdicts from the summary table, the threshold and the decision rule."""

from __future__ import annotations

import pandas as pd

from assay.decision import decide_at_most
from assay.settings import AuditSettings
from assay.statistics import Proportion, proportion

VERDICTS = ("pass", "fail", "inconclusive")


def source_proportion(
    n_flagged: int, n_scored: int, n_eligible: int, settings: AuditSettings
) -> Proportion:
    """The flagged rate with its interval; a source scored whole is a census and exact."""
    if n_scored and n_scored == n_eligible:
        rate = n_flagged / n_scored
        return Proportion(n_flagged, n_scored, rate, rate, rate, "census", settings.confidence)
    return proportion(n_flagged, n_scored, settings.confidence, settings.interval_method)


def decide_sources(
    summary: pd.DataFrame, settings: AuditSettings, sequential: dict | None = None
) -> pd.DataFrame:
    """Add interval bounds, the verdict under the chosen rule and the naive verdict beside it.

    With sequential sampling a source's verdict is its SPRT decision (error rates alpha and
    beta); a census, where every document of the source was scored, is decided exactly.
    """
    out = summary.copy()
    outcomes = (sequential or {}).get("sources", {})
    lows, highs, methods, verdicts, naive, stopped = [], [], [], [], [], []
    for row in summary.itertuples(index=False):
        p = source_proportion(int(row.n_flagged), int(row.n_scored), int(row.n_eligible), settings)
        lows.append(p.low)
        highs.append(p.high)
        methods.append(p.method)
        seq = outcomes.get(row.source)
        if seq is not None and p.method != "census":
            verdicts.append(seq["decision"])
            stopped.append(seq["stopped_by"])
        else:
            verdicts.append(decide_at_most(p, settings.max_flagged_rate, settings.decision_rule))
            stopped.append("census" if p.method == "census" else "fixed")
        naive.append(decide_at_most(p, settings.max_flagged_rate, "naive"))
    out["decided_by"] = stopped
    out["rate_low"] = lows
    out["rate_high"] = highs
    out["interval_method"] = methods
    out["verdict"] = verdicts
    out["naive_verdict"] = naive
    return out


def worst_verdict(verdicts: list[str]) -> str:
    """fail over inconclusive over pass."""
    for verdict in ("fail", "inconclusive"):
        if verdict in verdicts:
            return verdict
    return "pass"


def overall_verdict(decided: pd.DataFrame) -> str:
    """The corpus passes only when every source passes; any fail fails it."""
    if decided.empty:
        return "inconclusive"
    if (decided["verdict"] == "fail").any():
        return "fail"
    if (decided["verdict"] == "inconclusive").any():
        return "inconclusive"
    return "pass"


def category_stats(
    decided: pd.DataFrame, settings: AuditSettings, detector_error=None
) -> dict[str, dict[str, dict]]:
    """Per source and category: n, k, rate, Clopper-Pearson and Wilson intervals, and the
    Rogan-Gladen corrected prevalence where the policy records the detector's error rates.

    `detector_error(category)` returns (sensitivity, specificity) or None.
    """
    from assay.statistics import clopper_pearson, prevalence, wilson

    out: dict[str, dict[str, dict]] = {}
    for row in decided.itertuples(index=False):
        n = int(row.n_scored)
        cats: dict[str, dict] = {}
        for category, k in sorted((row.flagged_by_category or {}).items()):
            k = int(k)
            entry = {
                "n": n,
                "k": k,
                "rate": k / n if n else None,
                "clopper_pearson": list(clopper_pearson(k, n, settings.confidence)),
                "wilson": list(wilson(k, n, settings.confidence)),
            }
            error = detector_error(category) if detector_error else None
            if error is not None and n:
                corrected = prevalence(k, n, error[0], error[1], settings.confidence)
                entry["corrected"] = {
                    "rate": corrected.rate,
                    "low": corrected.low,
                    "high": corrected.high,
                    "sensitivity": error[0],
                    "specificity": error[1],
                    "method": "rogan-gladen",
                }
            cats[category] = entry
        out[row.source] = cats
    return out
