"""Turn a measured proportion and a policy threshold into "pass", "fail" or "inconclusive".

Decision rules (a setting, `DECISION_RULES`):

- "interval" (default): decide only when the whole confidence interval lies on one side of the
  threshold. If the interval straddles (or touches) the threshold the sample cannot tell, and
  the verdict is "inconclusive": score more documents or review by hand. With the default 95%
  two-sided Clopper-Pearson interval, a source whose true rate sits exactly at the threshold is
  wrongly passed (or wrongly failed) at most 2.5% of the time.
- "naive": compare the sample's point rate with the threshold and ignore sampling error. Always
  decides, but near the threshold it is a coin toss: a source at exactly the threshold passes
  about half the time. Offered because simple tooling does this; not recommended for audits.

With no sample at all (n == 0) both rules answer "inconclusive".
"""

from __future__ import annotations

from assay.statistics import Proportion

DECISION_RULES = ("interval", "naive")
PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


def _check(threshold: float, rule: str) -> None:
    if rule not in DECISION_RULES:
        raise ValueError(f"unknown decision rule {rule!r}; choose one of {DECISION_RULES}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")


def decide_at_most(p: Proportion, threshold: float, rule: str = "interval") -> str:
    """For "the problematic rate must be <= threshold" (e.g. at most 5% of a source flagged).

    interval: pass when high < threshold, fail when low > threshold, else inconclusive.
    naive: pass when rate <= threshold, else fail.
    """
    _check(threshold, rule)
    if p.n == 0:
        return INCONCLUSIVE
    if rule == "naive":
        return PASS if p.rate <= threshold else FAIL
    if p.high < threshold:
        return PASS
    if p.low > threshold:
        return FAIL
    return INCONCLUSIVE


def decide_at_least(p: Proportion, threshold: float, rule: str = "interval") -> str:
    """For "the acceptable rate must be >= threshold" (e.g. 96% of reviewed samples clean).

    interval: pass when low > threshold, fail when high < threshold, else inconclusive.
    naive: pass when rate >= threshold, else fail.
    """
    _check(threshold, rule)
    if p.n == 0:
        return INCONCLUSIVE
    if rule == "naive":
        return PASS if p.rate >= threshold else FAIL
    if p.low > threshold:
        return PASS
    if p.high < threshold:
        return FAIL
    return INCONCLUSIVE
