"""Plain-text reports for terminals and task logs."""

from __future__ import annotations

import pandas as pd


def verdict_table(sources: pd.DataFrame) -> str:
    """A fixed-width table of sources, their counts, rates with intervals and verdicts."""
    header = f"{'source':<32} {'read':>8} {'rejected':>8} {'sampled':>8} {'scored':>8} {'flagged':>8} {'rate':>7} {'interval':>17} {'verdict':<12}"
    lines = [header, "-" * len(header)]
    for r in sources.itertuples(index=False):
        name = r.source if len(r.source) <= 32 else r.source[:29] + "..."
        interval = f"[{r.rate_low:6.2%},{r.rate_high:6.2%}]"
        lines.append(
            f"{name:<32} {r.n_read:>8} {r.n_rejected:>8} {r.n_sampled:>8} {r.n_scored:>8} {r.n_flagged:>8} "
            f"{r.flagged_rate:>7.2%} {interval:>17} {r.verdict:<12}"
        )
    return "\n".join(lines)
