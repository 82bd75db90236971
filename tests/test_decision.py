"""Decision rules: interval vs naive, both directions, and their error rates at the threshold."""

import numpy as np
import pytest
from scipy import stats

from assay.decision import DECISION_RULES, decide_at_least, decide_at_most
from assay.statistics import clopper_pearson, proportion


def test_at_most_interval():
    assert decide_at_most(proportion(40, 4000), 0.05) == "pass"  # ~1%: high ~1.36%
    assert decide_at_most(proportion(400, 4000), 0.05) == "fail"  # ~10%: low ~9.1%
    assert decide_at_most(proportion(200, 4000), 0.05) == "inconclusive"
    assert decide_at_most(proportion(180, 4000), 0.05) == "inconclusive"  # 4.5%, high > 5%


def test_at_most_naive():
    assert decide_at_most(proportion(200, 4000), 0.05, "naive") == "pass"
    assert decide_at_most(proportion(201, 4000), 0.05, "naive") == "fail"
    assert decide_at_most(proportion(180, 4000), 0.05, "naive") == "pass"


def test_at_least_interval_and_naive():
    assert decide_at_least(proportion(3990, 4000), 0.96) == "pass"
    assert decide_at_least(proportion(3700, 4000), 0.96) == "fail"
    assert decide_at_least(proportion(3850, 4000), 0.96) == "inconclusive"  # 96.25%
    assert decide_at_least(proportion(3850, 4000), 0.96, "naive") == "pass"
    assert decide_at_least(proportion(3839, 4000), 0.96, "naive") == "fail"


def test_touching_interval_is_inconclusive():
    p = proportion(0, 10)
    assert decide_at_most(p, p.high) == "inconclusive"
    assert decide_at_most(p, p.high + 1e-9) == "pass"


def test_empty_sample_is_inconclusive_for_every_rule():
    for rule in DECISION_RULES:
        assert decide_at_most(proportion(0, 0), 0.05, rule) == "inconclusive"
        assert decide_at_least(proportion(0, 0), 0.96, rule) == "inconclusive"


def test_bad_settings():
    with pytest.raises(ValueError):
        decide_at_most(proportion(1, 10), 0.05, "vote")
    with pytest.raises(ValueError):
        decide_at_least(proportion(1, 10), 1.5)


def _decision_probabilities(n: int, true_rate: float, threshold: float, rule: str):
    """Exact P(pass), P(fail) of decide_at_most for a sample of n at a true rate."""
    pmf = stats.binom.pmf(np.arange(n + 1), n, true_rate)
    verdicts = np.array([decide_at_most(proportion(k, n), threshold, rule) for k in range(n + 1)])
    return pmf[verdicts == "pass"].sum(), pmf[verdicts == "fail"].sum()


def test_interval_rule_errs_at_most_half_alpha_at_the_threshold():
    p_pass, p_fail = _decision_probabilities(1000, 0.05, 0.05, "interval")
    assert p_pass <= 0.025 and p_fail <= 0.025
    # the naive rule is a coin toss there
    n_pass, n_fail = _decision_probabilities(1000, 0.05, 0.05, "naive")
    assert 0.4 < n_pass < 0.65 and n_pass + n_fail == pytest.approx(1.0)


def test_interval_rule_decides_clear_cases_with_4000():
    assert _decision_probabilities(4000, 0.01, 0.05, "interval")[0] > 0.999
    assert _decision_probabilities(4000, 0.10, 0.05, "interval")[1] > 0.999
    low, high = clopper_pearson(200, 4000)
    assert low < 0.05 < high
