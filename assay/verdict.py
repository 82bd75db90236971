"""Deciding: per-source verdicts from the summary table, the threshold and the decision rule."""

from __future__ import annotations

import pandas as pd

from assay.decision import decide_at_most
from assay.settings import AuditSettings
from assay.statistics import Proportion, proportion

VERDICTS = ("pass", "fail", "inconclusive")


def source_proportion(
    n_flagged: int, n_sampled: int, n_eligible: int, settings: AuditSettings
) -> Proportion:
    """The flagged rate with its interval; a source sampled whole is a census and exact."""
    if n_sampled and n_sampled == n_eligible:
        rate = n_flagged / n_sampled
        return Proportion(n_flagged, n_sampled, rate, rate, rate, "census", settings.confidence)
    return proportion(n_flagged, n_sampled, settings.confidence, settings.interval_method)


def decide_sources(summary: pd.DataFrame, settings: AuditSettings) -> pd.DataFrame:
    """Add interval bounds, the verdict under the chosen rule and the naive verdict beside it."""
    out = summary.copy()
    lows, highs, methods, verdicts, naive = [], [], [], [], []
    for row in summary.itertuples(index=False):
        p = source_proportion(int(row.n_flagged), int(row.n_sampled), int(row.n_eligible), settings)
        lows.append(p.low)
        highs.append(p.high)
        methods.append(p.method)
        verdicts.append(decide_at_most(p, settings.max_flagged_rate, settings.decision_rule))
        naive.append(decide_at_most(p, settings.max_flagged_rate, "naive"))
    out["rate_low"] = lows
    out["rate_high"] = highs
    out["interval_method"] = methods
    out["verdict"] = verdicts
    out["naive_verdict"] = naive
    return out


def overall_verdict(decided: pd.DataFrame) -> str:
    """The corpus passes only when every source passes; any fail fails it."""
    if decided.empty:
        return "inconclusive"
    if (decided["verdict"] == "fail").any():
        return "fail"
    if (decided["verdict"] == "inconclusive").any():
        return "inconclusive"
    return "pass"
