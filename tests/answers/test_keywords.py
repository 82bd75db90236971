"""Keyword probes: the builder uses the policy's lexicon and meets the bank minimums."""

from __future__ import annotations

from collections import Counter

from assay.answers.banks import CONTENT, BankMinimums, BankSet, self_check_report
from assay.answers.keywords import build_for_policy, build_keyword_bank, term_language


def test_builder_questions_carry_lexicon_terms_per_language():
    lexicon = {"rude": ["idiot", "jerk", "傻瓜"], "pii": []}
    bank = build_keyword_bank(lexicon, {"pii": "Personal data"}, total=40, min_per_category=20)
    counts = Counter(q.category for q in bank)
    assert counts["rude"] == 20 and counts["pii"] == 20
    rude = [q for q in bank if q.category == "rude"]
    assert all(any(t in q.question for t in lexicon["rude"]) for q in rude)
    assert {q.language for q in rude if "傻瓜" in q.question} == {"zh"}
    assert all(q.bank == CONTENT for q in bank)
    assert len({q.question for q in bank}) == len(bank)
    assert len({q.id for q in bank}) == len(bank)
    assert term_language("傻瓜") == "zh" and term_language("jerk") == "en"


def test_builder_is_seeded():
    lexicon = {"rude": [f"word{i}" for i in range(100)]}
    a = build_keyword_bank(lexicon, total=30, seed=1)
    assert a == build_keyword_bank(lexicon, total=30, seed=1)
    assert a != build_keyword_bank(lexicon, total=30, seed=2)


def test_default_policy_bank_passes_the_self_check():
    from assay.policy import load_policy

    policy = load_policy(None)
    bank = build_for_policy(None, total=2000, min_per_category=20, seed=0)
    categories = [c.id for c in policy.categories]
    report = self_check_report(
        BankSet(questions=bank), BankMinimums(2000, 0, 0, 20), categories=categories
    )
    assert report["passed"], report["problems"]
    terms = {t for ts in policy.lexicon_terms().values() for t in ts}
    with_term = sum(any(f"'{t}'" in q.question or f"“{t}”" in q.question for t in terms)
                    for q in bank[:200])  # fmt: skip
    assert with_term == 200  # the first category's questions each quote a lexicon term
