"""Batched SPRT: states, boundaries, error rates at p0/p1 and expected sample sizes."""

import math

import numpy as np
import pytest

from assay.decision import decide_at_most
from assay.sequential import (
    SprtPlan,
    boundaries,
    expected_sample_size,
    next_n,
    plan_for,
    run_sequential,
    simulate,
    sprt_state,
)
from assay.statistics import proportion

PLAN = plan_for(0.05)
N_SIM = 20_000


def test_default_plan():
    assert (PLAN.p0, PLAN.p1) == pytest.approx((0.04, 0.06))
    assert (PLAN.alpha, PLAN.beta, PLAN.batch_size, PLAN.max_n) == (0.025, 0.025, 200, 4000)
    assert PLAN.upper == pytest.approx(math.log(39)) and PLAN.lower == pytest.approx(-math.log(39))
    explicit = plan_for(0.05, p0=0.02, p1=0.08)
    assert (explicit.p0, explicit.p1) == (0.02, 0.08)
    assert PLAN.to_dict()["threshold"] == 0.05


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p0": 0.06, "p1": 0.04},
        {"p0": 0.06, "p1": 0.08},
        {"alpha": 0.0},
        {"beta": 0.6},
        {"batch_size": 0},
        {"batch_size": 5000},
    ],
)
def test_plan_validation(kwargs):
    with pytest.raises(ValueError):
        plan_for(0.05, **kwargs)


def test_states_after_one_batch():
    assert sprt_state(1, 200, PLAN) == "accept"  # 0.5% after one batch is clearly under 5%
    assert sprt_state(2, 200, PLAN) == "continue"
    assert sprt_state(18, 200, PLAN) == "continue"
    assert sprt_state(19, 200, PLAN) == "reject"
    assert sprt_state(0, 100, PLAN) == "continue"  # 100 clean docs are not yet enough
    with pytest.raises(ValueError):
        sprt_state(5, 4, PLAN)


def test_fallback_at_max_n_and_when_exhausted():
    # at max_n the fixed-sample interval rule decides what the SPRT could not
    k_mid = 200
    assert PLAN.lower < PLAN.llr(k_mid, 4000) < PLAN.upper
    assert sprt_state(k_mid, 4000, PLAN) == "inconclusive"
    assert sprt_state(190, 3800, PLAN) == "continue"
    # a small source that ran out: fixed rule on all it has
    assert sprt_state(0, 150, PLAN, exhausted=True) == "accept"
    assert decide_at_most(proportion(0, 150), 0.05) == "pass"
    assert sprt_state(7, 150, PLAN, exhausted=True) == "inconclusive"


def test_boundaries_agree_with_state():
    for n in (200, 400, 1000, 2600):
        acc, rej = boundaries(n, PLAN)
        for k in range(0, n + 1):
            state = sprt_state(k, n, PLAN)
            expected = "accept" if k <= acc else "reject" if k >= rej else "continue"
            assert state == expected, (n, k)
    assert boundaries(200, PLAN) == (1, 19)
    assert boundaries(50, PLAN)[0] == -1  # nothing accepts after 50 documents


def test_next_n_rounds():
    assert [next_n(n, PLAN) for n in (0, 150, 200, 3900)] == [200, 200, 400, 4000]
    odd = SprtPlan(0.05, 0.04, 0.06, 0.025, 0.025, 300, 1000)
    assert next_n(900, odd) == 1000


def test_run_sequential_on_flags():
    rng = np.random.default_rng(5)
    clean = run_sequential(rng.random(10_000) < 0.01, PLAN)
    assert (clean.decision, clean.stopped_by) == ("pass", "sprt")
    assert clean.n_used % 200 == 0 and clean.batches == clean.n_used // 200
    dirty = run_sequential(rng.random(10_000) < 0.10, PLAN)
    assert (dirty.decision, dirty.stopped_by) == ("fail", "sprt")
    assert dirty.k_used >= 0.05 * dirty.n_used
    small = run_sequential([False] * 120, PLAN)
    assert (small.decision, small.n_used, small.stopped_by) == ("pass", 120, "exhausted")
    # exactly 5% in every batch: never crosses, falls back at max_n
    flat = run_sequential(([True] + [False] * 19) * 300, PLAN)
    assert (flat.decision, flat.n_used, flat.k_used, flat.stopped_by) == (
        "inconclusive",
        4000,
        200,
        "max_n",
    )
    assert run_sequential([], PLAN).decision == "inconclusive"


def test_error_rates_within_alpha_beta():
    se = math.sqrt(0.025 * 0.975 / N_SIM)
    at_p0 = simulate(PLAN.p0, PLAN, N_SIM, seed=11)
    at_p1 = simulate(PLAN.p1, PLAN, N_SIM, seed=12)
    assert at_p0.p_fail <= PLAN.alpha + 3 * se, at_p0
    assert at_p1.p_pass <= PLAN.beta + 3 * se, at_p1
    wide = plan_for(0.05, alpha=0.1, beta=0.1, relative_margin=0.5, batch_size=20)
    se = math.sqrt(0.1 * 0.9 / N_SIM)
    assert simulate(wide.p0, wide, N_SIM, seed=13).p_fail <= 0.1 + 3 * se
    assert simulate(wide.p1, wide, N_SIM, seed=14).p_pass <= 0.1 + 3 * se


def test_simulation_matches_run_sequential():
    rng = np.random.default_rng(21)
    runs = [run_sequential(rng.random(4000) < 0.045, PLAN) for _ in range(400)]
    sim = simulate(0.045, PLAN, N_SIM, seed=22)
    mean_n = np.mean([r.n_used for r in runs])
    p_pass = np.mean([r.decision == "pass" for r in runs])
    assert mean_n == pytest.approx(sim.mean_n, rel=0.12)
    assert p_pass == pytest.approx(sim.p_pass, abs=0.07)


def test_expected_sample_sizes():
    sizes = {r: expected_sample_size(r, PLAN, N_SIM, seed=3) for r in (0.01, 0.03, 0.05, 0.10)}
    for rate, n in sizes.items():
        print(f"expected_sample_size_at_{rate:.0%}: {n:.0f}")
    assert sizes[0.01] <= 0.6 * PLAN.max_n and sizes[0.10] <= 0.6 * PLAN.max_n
    assert sizes[0.05] > sizes[0.03] > sizes[0.01]
    assert sizes[0.05] <= PLAN.max_n
    assert expected_sample_size(0.01, PLAN, 1000, seed=3) == expected_sample_size(
        0.01, PLAN, 1000, seed=3
    )
