"""Intervals: known values, edge cases, and coverage checked by simulation and exactly."""

import math

import numpy as np
import pytest
from scipy import stats

from assay.statistics import (
    Proportion,
    clopper_pearson,
    prevalence,
    proportion,
    rogan_gladen,
    wilson,
)

GRID = [(30, 0.05), (100, 0.01), (200, 0.1), (500, 0.03), (1000, 0.5), (4000, 0.05)]


def _table(n: int, method) -> tuple[np.ndarray, np.ndarray]:
    """Interval for every possible k of n, so simulated draws can be looked up."""
    rows = np.array([method(k, n) for k in range(n + 1)])
    return rows[:, 0], rows[:, 1]


def test_known_value_200_of_4000():
    p = proportion(200, 4000)
    assert p.rate == 0.05
    assert p.low == pytest.approx(0.04345, abs=1e-4)
    assert p.high == pytest.approx(0.05721, abs=1e-4)
    ref = stats.binomtest(200, 4000).proportion_ci(confidence_level=0.95, method="exact")
    assert (p.low, p.high) == pytest.approx((ref.low, ref.high), rel=1e-9)


def test_wilson_matches_scipy():
    for k, n in [(0, 10), (3, 10), (10, 10), (200, 4000), (1, 4000)]:
        ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
        assert wilson(k, n, 0.9) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_edges():
    assert clopper_pearson(0, 50)[0] == 0.0
    assert clopper_pearson(0, 50)[1] == pytest.approx(1 - 0.025 ** (1 / 50))
    assert clopper_pearson(50, 50) == (pytest.approx(0.025 ** (1 / 50)), 1.0)
    assert wilson(0, 50)[0] == 0.0 and wilson(50, 50)[1] == 1.0
    empty = proportion(0, 0)
    assert math.isnan(empty.rate) and (empty.low, empty.high) == (0.0, 1.0)
    assert empty.to_dict()["rate"] is None
    for bad in [(-1, 5), (6, 5), (1, -1)]:
        with pytest.raises(ValueError):
            proportion(*bad)
    with pytest.raises(ValueError):
        proportion(1, 5, method="wald")
    with pytest.raises(ValueError):
        proportion(1, 5, confidence=1.0)


def test_wider_confidence_is_wider():
    a, b = proportion(40, 1000, 0.9), proportion(40, 1000, 0.99)
    assert b.low < a.low < 0.04 < a.high < b.high


def test_to_dict_is_plain():
    d = proportion(3, 7, method="wilson").to_dict()
    assert d == {
        "k": 3,
        "n": 7,
        "rate": 3 / 7,
        "low": d["low"],
        "high": d["high"],
        "method": "wilson",
        "confidence": 0.95,
    }
    assert isinstance(proportion(3, 7), Proportion)


@pytest.mark.parametrize("n,p", GRID)
def test_clopper_pearson_coverage_monte_carlo(n, p):
    draws = 20_000
    rng = np.random.default_rng(1234 + n)
    k = rng.binomial(n, p, size=draws)
    low, high = _table(n, clopper_pearson)
    covered = np.mean((low[k] <= p) & (p <= high[k]))
    se = math.sqrt(0.95 * 0.05 / draws)
    assert covered >= 0.95 - 3 * se, covered


@pytest.mark.parametrize("n,p", GRID)
def test_clopper_pearson_exact_coverage_at_least_nominal(n, p):
    low, high = _table(n, clopper_pearson)
    pmf = stats.binom.pmf(np.arange(n + 1), n, p)
    assert pmf[(low <= p) & (p <= high)].sum() >= 0.95 - 1e-9


def test_wilson_near_nominal_on_average():
    # Wilson can dip below 95% at single (n, p) but averages close to nominal.
    rng = np.random.default_rng(7)
    coverages = []
    for n, p in GRID:
        k = rng.binomial(n, p, size=20_000)
        low, high = _table(n, wilson)
        coverages.append(np.mean((low[k] <= p) & (p <= high[k])))
    assert min(coverages) > 0.90, coverages
    assert abs(np.mean(coverages) - 0.95) < 0.015, coverages


def test_rogan_gladen_recovers_planted_prevalence():
    se, sp, true_p, n = 0.8, 0.97, 0.10, 200_000
    p_obs = se * true_p + (1 - sp) * (1 - true_p)
    k = np.random.default_rng(3).binomial(n, p_obs)
    corrected = rogan_gladen(int(k), n, se, sp)
    assert corrected.low <= true_p <= corrected.high
    assert corrected.rate == pytest.approx(true_p, abs=0.005)
    raw = proportion(int(k), n)
    assert not raw.low <= true_p <= raw.high  # the uncorrected rate is biased


def test_rogan_gladen_clips_and_validates():
    assert rogan_gladen(0, 100, 0.9, 0.95).rate == 0.0  # fewer flags than false positives
    assert rogan_gladen(100, 100, 0.9, 0.95).rate == 1.0
    perfect = rogan_gladen(7, 100, 1.0, 1.0)
    assert (perfect.rate, perfect.low, perfect.high) == pytest.approx(
        (0.07, *clopper_pearson(7, 100))
    )
    with pytest.raises(ValueError):
        rogan_gladen(1, 10, 0.5, 0.5)
    with pytest.raises(ValueError):
        rogan_gladen(1, 10, 1.2, 0.9)
    assert math.isnan(rogan_gladen(0, 0, 0.9, 0.9).rate)


def test_prevalence_uses_correction_only_when_given():
    assert prevalence(5, 100).method == "clopper-pearson"
    assert prevalence(5, 100, sensitivity=0.9).method == "rogan-gladen/clopper-pearson"
