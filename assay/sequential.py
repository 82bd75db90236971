"""Sequential sampling: score a source's sample in batches and stop as soon as the verdict is clear.

Wald's sequential probability ratio test (SPRT) compares two hypotheses about a source whose
problematic rate p must stay at or below a threshold t:

- H0: p <= p0 (clearly under the threshold: the source passes), and
- H1: p >= p1 (clearly over it: the source fails),

with p0 < t < p1. Between p0 and p1 lies the indifference zone, where either verdict is
tolerated. After each batch the log-likelihood ratio of the k flagged documents among the n
scored so far is compared with two boundaries, log((1-beta)/alpha) and log(beta/(1-alpha)).

In plain words:
- alpha is the chance of failing a source that is in fact clean enough (true rate p0 or lower);
- beta is the chance of passing a source that is in fact too dirty (true rate p1 or higher).

Documents are scored in the sampler's random order (ranks 1..n from a seeded hash), so any
prefix of that order is itself a simple random sample. Boundaries are checked only after each
batch (group-sequential use of the SPRT); checking less often only overshoots the boundaries,
which lowers the error rates and costs at most one batch of extra samples.

A source that has not decided after `max_n` documents (its rate is inside the indifference
zone) falls back to the fixed-sample rule: `decide_at_most` on all `max_n` documents, which can
answer "inconclusive". A source with fewer than `max_n` documents that runs out does the same on
everything it has.

The API works on cumulative counts so a Spark driver can go in rounds: score ranks 1..b of every
source, call `sprt_state(k, n, plan)` per source, score ranks b+1..2b of those still "continue",
and so on (`next_n` says how far the next round goes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from assay.decision import decide_at_most
from assay.statistics import proportion

ACCEPT, REJECT, CONTINUE, INCONCLUSIVE = "accept", "reject", "continue", "inconclusive"
VERDICT = {ACCEPT: "pass", REJECT: "fail", INCONCLUSIVE: "inconclusive"}


@dataclass(frozen=True)
class SprtPlan:
    """SPRT settings for one threshold: H0 p <= p0 vs H1 p >= p1, checked every batch_size."""

    threshold: float
    p0: float
    p1: float
    alpha: float
    beta: float
    batch_size: int
    max_n: int = 4000

    def __post_init__(self) -> None:
        if not 0.0 < self.p0 < self.p1 < 1.0:
            raise ValueError(f"need 0 < p0 < p1 < 1, got p0={self.p0}, p1={self.p1}")
        if not self.p0 <= self.threshold <= self.p1:
            raise ValueError(f"threshold {self.threshold} must lie in [p0, p1]")
        if not (0.0 < self.alpha < 0.5 and 0.0 < self.beta < 0.5):
            raise ValueError(f"alpha and beta must be in (0, 0.5), got {self.alpha}, {self.beta}")
        if not 1 <= self.batch_size <= self.max_n:
            raise ValueError(f"need 1 <= batch_size <= max_n, got {self.batch_size}, {self.max_n}")

    @property
    def step_flagged(self) -> float:
        """Log-likelihood-ratio increment for a flagged document (> 0)."""
        return math.log(self.p1 / self.p0)

    @property
    def step_clean(self) -> float:
        """Log-likelihood-ratio increment for a clean document (< 0)."""
        return math.log((1.0 - self.p1) / (1.0 - self.p0))

    @property
    def upper(self) -> float:
        """Reject H0 (the source fails) at or above this log-likelihood ratio."""
        return math.log((1.0 - self.beta) / self.alpha)

    @property
    def lower(self) -> float:
        """Accept H0 (the source passes) at or below this log-likelihood ratio."""
        return math.log(self.beta / (1.0 - self.alpha))

    def llr(self, k: int, n: int) -> float:
        """Log-likelihood ratio of H1 to H0 after k flagged among n scored."""
        return k * self.step_flagged + (n - k) * self.step_clean

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SequentialResult:
    """How a source's sequential test ended: verdict, documents used, rounds."""

    decision: str  # "pass", "fail" or "inconclusive"
    n_used: int
    k_used: int
    batches: int
    stopped_by: str  # "sprt", "max_n" (fixed-sample fallback) or "exhausted" (source ran out)

    def to_dict(self) -> dict:
        return asdict(self)


def plan_for(
    threshold: float,
    alpha: float = 0.025,
    beta: float = 0.025,
    relative_margin: float = 0.2,
    batch_size: int = 200,
    max_n: int = 4000,
    p0: float | None = None,
    p1: float | None = None,
) -> SprtPlan:
    """SPRT plan around a threshold: p0 = t(1 - margin), p1 = t(1 + margin) unless given.

    Defaults (see docs/STATISTICS.md): margin 0.2 makes the indifference zone 4%..6% at t = 5%,
    about the band where the fixed 4000-document interval rule is inconclusive; alpha = beta =
    0.025 match that rule's one-sided error at the threshold; batches of 200 keep Spark rounds
    to at most 20.
    """
    if not 0.0 < relative_margin < 1.0:
        raise ValueError(f"relative_margin must be in (0, 1), got {relative_margin}")
    p0 = threshold * (1.0 - relative_margin) if p0 is None else p0
    p1 = min(threshold * (1.0 + relative_margin), 0.999) if p1 is None else p1
    return SprtPlan(threshold, p0, p1, alpha, beta, batch_size, max_n)


def sprt_state(k: int, n: int, plan: SprtPlan, exhausted: bool = False) -> str:
    """State after k flagged among the first n documents of a source's random order.

    "accept" (source passes), "reject" (fails) or "continue". Once n reaches plan.max_n, or
    the source has no more documents (`exhausted`), the fixed-sample rule decides instead and
    the state is "accept", "reject" or "inconclusive".
    """
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    llr = plan.llr(k, n)
    if llr >= plan.upper:
        return REJECT
    if llr <= plan.lower:
        return ACCEPT
    if n >= plan.max_n or exhausted:
        fixed = decide_at_most(proportion(k, n), plan.threshold)
        return {"pass": ACCEPT, "fail": REJECT}.get(fixed, INCONCLUSIVE)
    return CONTINUE


def next_n(n: int, plan: SprtPlan) -> int:
    """How many documents a source still at "continue" after n should have after the next round."""
    return min((n // plan.batch_size + 1) * plan.batch_size, plan.max_n)


def boundaries(n: int, plan: SprtPlan) -> tuple[int, int]:
    """(accept_max_k, reject_min_k) at n: accept when k <= the first, reject when k >= the second.

    Handy for a SQL/Spark filter; accept_max_k is -1 when no k accepts yet, reject_min_k is
    n + 1 when no k rejects yet. Agrees with `sprt_state` before the fallback.
    """
    slope = plan.step_flagged - plan.step_clean
    acc = math.floor((plan.lower - n * plan.step_clean) / slope)
    rej = math.ceil((plan.upper - n * plan.step_clean) / slope)
    # guard against floating-point rounding at the exact boundary
    while acc >= 0 and plan.llr(acc, n) > plan.lower:
        acc -= 1
    while acc + 1 <= n and plan.llr(acc + 1, n) <= plan.lower:
        acc += 1
    while rej <= n and plan.llr(rej, n) < plan.upper:
        rej += 1
    while rej - 1 >= 0 and plan.llr(rej - 1, n) >= plan.upper:
        rej -= 1
    return max(-1, min(acc, n)), max(0, min(rej, n + 1))


def run_sequential(flags_in_order: Sequence[bool], plan: SprtPlan) -> SequentialResult:
    """Run the batched SPRT over one source's flags, given in the sampler's rank order."""
    flags = np.asarray(flags_in_order, dtype=bool)
    available = min(len(flags), plan.max_n)
    cumulative = np.cumsum(flags[:available], dtype=np.int64)
    n, batches = 0, 0
    while True:
        n = min(next_n(n, plan), available)
        batches += 1
        k = int(cumulative[n - 1]) if n else 0
        exhausted = n >= len(flags)
        state = sprt_state(k, n, plan, exhausted=exhausted)
        if state != CONTINUE:
            llr = plan.llr(k, n)
            if plan.lower < llr < plan.upper:
                stopped_by = "max_n" if n >= plan.max_n else "exhausted"
            else:
                stopped_by = "sprt"
            return SequentialResult(VERDICT[state], n, k, batches if n else 0, stopped_by)


@dataclass(frozen=True)
class OperatingPoint:
    """Simulated behaviour of a plan at one true rate."""

    rate: float
    mean_n: float
    p_pass: float
    p_fail: float
    p_inconclusive: float
    n_sim: int

    def to_dict(self) -> dict:
        return asdict(self)


def simulate(rate: float, plan: SprtPlan, n_sim: int = 10_000, seed: int = 0) -> OperatingPoint:
    """Monte Carlo of the batched SPRT on an unlimited source with a true rate (vectorised)."""
    ends = np.minimum(
        np.arange(1, math.ceil(plan.max_n / plan.batch_size) + 1) * plan.batch_size, plan.max_n
    )
    sizes = np.diff(np.concatenate([[0], ends]))
    rng = np.random.default_rng(seed)
    k = np.cumsum(rng.binomial(sizes, rate, size=(n_sim, len(sizes))), axis=1)
    llr = k * plan.step_flagged + (ends - k) * plan.step_clean
    rejected, accepted = llr >= plan.upper, llr <= plan.lower
    stopped = rejected | accepted
    decided = stopped.any(axis=1)
    first = np.where(decided, stopped.argmax(axis=1), len(ends) - 1)
    rows = np.arange(n_sim)
    n_used = ends[first]
    fail = decided & rejected[rows, first]
    passed = decided & accepted[rows, first]
    # undecided at max_n: the fixed-sample rule on all max_n documents
    for k_final in np.unique(k[~decided, -1]):
        verdict = decide_at_most(proportion(int(k_final), plan.max_n), plan.threshold)
        hit = ~decided & (k[:, -1] == k_final)
        fail |= hit & (verdict == "fail")
        passed |= hit & (verdict == "pass")
    return OperatingPoint(
        rate,
        float(n_used.mean()),
        float(passed.mean()),
        float(fail.mean()),
        float((~passed & ~fail).mean()),
        n_sim,
    )


def expected_sample_size(rate: float, plan: SprtPlan, n_sim: int = 10_000, seed: int = 0) -> float:
    """Mean number of documents the batched SPRT scores per source at a true rate."""
    return simulate(rate, plan, n_sim, seed).mean_n
