"""Proportions with confidence intervals: the numbers every verdict rests on.

A rate measured on a sample is an estimate; the interval says how far the true rate of the
whole source can plausibly be from it. Two intervals are offered:

- Clopper-Pearson ("exact"): built from the binomial distribution itself. Its coverage is at
  least the nominal confidence for every true rate and sample size (it is conservative), so a
  verdict drawn from it never overstates certainty. The default.
- Wilson (score interval): narrower, coverage close to nominal on average but it can dip below
  nominal for some rates. Offered for comparison and for dashboards.

`rogan_gladen` corrects a rate measured by an imperfect detector for the detector's known
sensitivity and specificity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy import stats

METHODS = ("clopper-pearson", "wilson")


@dataclass(frozen=True)
class Proportion:
    """k of n sampled items had the property; `rate` estimates it, [low, high] brackets it."""

    k: int
    n: int
    rate: float
    low: float
    high: float
    method: str
    confidence: float

    def to_dict(self) -> dict:
        """Plain dict for JSON; an undefined rate (n == 0) becomes None."""
        out = asdict(self)
        if math.isnan(out["rate"]):
            out["rate"] = None
        return out


def _check(k: int, n: int, confidence: float) -> None:
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided exact interval from beta quantiles; (0, 1) when n == 0."""
    _check(k, n, confidence)
    if n == 0:
        return 0.0, 1.0
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1.0 - tail, k + 1, n - k))
    return low, high


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Wilson score interval; (0, 1) when n == 0."""
    _check(k, n, confidence)
    if n == 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # Exact end points at k == 0 and k == n (rounding would otherwise leave 1e-17 residues).
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def proportion(
    k: int, n: int, confidence: float = 0.95, method: str = "clopper-pearson"
) -> Proportion:
    """The rate k/n with its interval; n == 0 gives rate nan and interval (0, 1)."""
    if method == "clopper-pearson":
        low, high = clopper_pearson(k, n, confidence)
    elif method == "wilson":
        low, high = wilson(k, n, confidence)
    else:
        raise ValueError(f"unknown interval method {method!r}; choose one of {METHODS}")
    rate = k / n if n else math.nan
    return Proportion(int(k), int(n), rate, low, high, method, confidence)


def _rg_correct(p: float, sensitivity: float, specificity: float) -> float:
    """Rogan-Gladen point correction, clipped to [0, 1]."""
    return min(1.0, max(0.0, (p + specificity - 1.0) / (sensitivity + specificity - 1.0)))


def rogan_gladen(
    k: int, n: int, sensitivity: float, specificity: float, confidence: float = 0.95
) -> Proportion:
    """True prevalence from a detector's flag rate k/n, corrected for its errors.

    A detector with sensitivity Se (share of truly problematic items it flags) and
    specificity Sp (share of clean items it leaves alone) flags, in expectation,
    p_obs = Se * p + (1 - Sp) * (1 - p). Solving for p gives the Rogan-Gladen estimate
    p = (p_obs + Sp - 1) / (Se + Sp - 1), clipped to [0, 1].

    Interval: the Clopper-Pearson interval of p_obs mapped through the same (increasing)
    correction and clipped. It treats Se and Sp as known exactly; their own uncertainty (from
    the validation set that measured them) is not propagated, so the interval is too narrow
    when Se/Sp were measured on few items. `method` records "rogan-gladen/clopper-pearson".
    """
    for name, value in (("sensitivity", sensitivity), ("specificity", specificity)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if sensitivity + specificity <= 1.0:
        raise ValueError(
            "Rogan-Gladen needs sensitivity + specificity > 1 (a detector better than chance); "
            f"got {sensitivity} + {specificity}"
        )
    raw_low, raw_high = clopper_pearson(k, n, confidence)
    rate = _rg_correct(k / n, sensitivity, specificity) if n else math.nan
    return Proportion(
        int(k),
        int(n),
        rate,
        _rg_correct(raw_low, sensitivity, specificity),
        _rg_correct(raw_high, sensitivity, specificity),
        "rogan-gladen/clopper-pearson",
        confidence,
    )


def prevalence(
    k: int,
    n: int,
    sensitivity: float | None = None,
    specificity: float | None = None,
    confidence: float = 0.95,
) -> Proportion:
    """Flag rate of a source: Rogan-Gladen corrected when the policy gives Se and Sp, else raw."""
    if sensitivity is None and specificity is None:
        return proportion(k, n, confidence)
    return rogan_gladen(
        k,
        n,
        1.0 if sensitivity is None else sensitivity,
        1.0 if specificity is None else specificity,
        confidence,
    )
