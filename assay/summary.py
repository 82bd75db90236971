"""The per-source table: what was read, rejected, sampled and flagged. Counting, not deciding."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

SUMMARY_COLUMNS = [
    "source",
    "n_read",
    "n_rejected",
    "n_eligible",
    "n_sampled",
    "n_scored",
    "n_flagged",
    "flagged_rate",
    "rejected_rate",
    "n_accounted",
    "rejected_by_reason",
    "flagged_by_category",
]


def summarise(counts: list[dict], sample_stats: list[dict]) -> pd.DataFrame:
    """One row per source, sorted by source; every count an integer, rates NaN-free."""
    read: dict[str, int] = defaultdict(int)
    eligible: dict[str, int] = defaultdict(int)
    rejected: dict[str, dict[str, int]] = defaultdict(dict)
    for row in counts:
        read[row["source"]] += row["n"]
        if row["reason"]:
            rejected[row["source"]][row["reason"]] = row["n"]
        else:
            eligible[row["source"]] += row["n"]
    stats = {s["source"]: s for s in sample_stats}
    rows = []
    for source in sorted(read):
        n_rejected = sum(rejected[source].values())
        s = stats.get(source, {})
        n_sampled, n_flagged = int(s.get("n_sampled", 0)), int(s.get("n_flagged") or 0)
        n_scored = int(s.get("n_scored", n_sampled))
        rows.append(
            {
                "source": source,
                "n_read": read[source],
                "n_rejected": n_rejected,
                "n_eligible": eligible[source],
                "n_sampled": n_sampled,
                "n_scored": n_scored,
                "n_flagged": n_flagged,
                "flagged_rate": n_flagged / n_scored if n_scored else 0.0,
                "rejected_rate": n_rejected / read[source] if read[source] else 0.0,
                "n_accounted": eligible[source] + n_rejected,
                "rejected_by_reason": dict(sorted(rejected[source].items())),
                "flagged_by_category": dict(sorted(s.get("flagged_by_category", {}).items())),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
