"""Masked evidence never shows PII or secret values in clear."""

from __future__ import annotations

import pytest

from assay.detectors.base import Finding
from assay.evidence import mask_finding


def _f(kind: str, match: str, start: int = 0, score: float = 1.0) -> Finding:
    return Finding("d", "c", start, start + len(match), match, "", kind, score)


@pytest.mark.parametrize(
    ("kind", "value", "masked"),
    [
        ("email", "john.doe@example.com", "j***@***.com"),
        ("credit_card", "4111 1111 1111 1234", "**** **** **** 1234"),
        ("credit_card", "4111111111111234", "************1234"),
        ("phone", "+44 20 7946 0958", "+** ** **** **58"),
        ("iban", "DE89 3704 0044 0532 0130 00", "DE" + "*" * 18 + "00"),
        ("ipv4", "192.168.1.20", "192.*.*.*"),
        ("ipv6", "2001:db8::1", "2001:****"),
        ("us_ssn", "123-45-6789", "***-**-****"),
        ("cn_resident_id", "11010519491231002X", "11****************"),
        ("aws_access_key", "AKIAZ7Q3W5RT2YUI8OPL", "AKIA****"),
        ("github_token", "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A", "ghp_****"),
        ("generic_secret", 'api_key = "q8Zr2LmX0aB7cD3e"', 'api_key = "****"'),
        ("regex:tickets", "TICKET-12345", "******-*****"),
    ],
)
def test_masks(kind: str, value: str, masked: str):
    assert mask_finding(_f(kind, value)) == masked


def test_lexicon_evidence_shows_term_and_masked_context():
    text = "Reply to ann@x.org or 555-0199: you are a total moron and we know your card 4111111111111111"
    start = text.index("moron")
    f = Finding("lex", "offensive", start, start + 5, "moron", "", "lexicon:moron")
    masked = mask_finding(f, text)
    assert "«moron»" in masked
    for secret in ("ann@x.org", "555-0199", "4111111111111111"):
        assert secret not in masked
    assert mask_finding(f) == "«moron»"


def test_classifier_evidence_has_no_text():
    f = _f("classifier", "some offensive sentence here", score=0.934)
    assert mask_finding(f) == "classifier p=0.93 over 28 chars"


# ---- the fast checks rule out only what the token-by-token masking would leave alone ---------


def _mask_context_token_by_token(context: str) -> str:
    """The reference: every whitespace-separated token checked on its own."""
    tokens = context.replace("\n", " ").split(" ")
    sensitive = [len(t) >= 20 or "@" in t or any(c.isdigit() for c in t) for t in tokens]
    return " ".join(
        "*" * min(len(t), 8) if s else t for t, s in zip(tokens, sensitive, strict=True)
    )


def test_digit_class_is_exactly_str_isdigit_and_at_over_all_of_unicode():
    from assay.evidence import _DIGIT_OR_AT

    wrong = [
        hex(cp)
        for cp in range(0x110000)
        if (_DIGIT_OR_AT.search(chr(cp)) is not None) != (chr(cp).isdigit() or chr(cp) == "@")
    ]
    assert wrong == []


def test_mask_context_equals_the_token_by_token_masking():
    import random

    from assay.evidence import _mask_context

    rng = random.Random(7)
    alphabet = list("abcXYZ  \n.-_'") + list("0@²①٣你好“”éß") + ["\u00a0", "\t"]
    contexts = [
        "",
        "plain words only here and",
        "你他妈的真是个傻逼啊这是什么东西呢我不知道呀",
        "call 555 123 4567 now pl",
        "mail ann@x.org or later",
        "x" * 19 + " abcd",
        "abcd " + "x" * 19,
        "y" * 24,
        "a\nb" + "z" * 21,
        "footnote² and ① here",
    ]
    for _ in range(5000):
        contexts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))))
    for context in contexts:
        assert _mask_context(context) == _mask_context_token_by_token(context), context


def test_long_token_check_never_misses_a_run_of_twenty():
    import random

    from assay.evidence import _may_hold_long_token

    rng = random.Random(3)
    for _ in range(20000):
        s = "".join(
            rng.choice("ab ") if rng.random() < 0.1 else "a" for _ in range(rng.randint(0, 30))
        )
        if any(len(t) >= 20 for t in s.split(" ")):
            assert _may_hold_long_token(s), s


def test_lexicon_evidence_columns_equal_one_call_per_hit():
    import random

    import numpy as np

    from assay.evidence import lexicon_evidence, lexicon_evidence_columns

    rng = random.Random(3)
    alphabet = list("abc XYZ  \n.-_'") + list("0@²①٣你好“”éß") + ["\u00a0", "\t", "\U0001d400"]
    texts = [
        "".join(rng.choice(alphabet + ["x" * 21, "bad"]) for _ in range(rng.randint(0, 80)))
        for _ in range(400)
    ]
    texts += ["", "bad", "\x00bad\x00", "\ud800bad 1"]
    doc, start, end, terms = [], [], [], []
    for d, text in enumerate(texts):
        for _ in range(rng.randint(0, 6)):
            if text:
                s = rng.randrange(len(text))
                doc.append(d), start.append(s), end.append(rng.randint(s + 1, len(text)))
                terms.append(rng.choice(["bad", "你好", "x"]))
    got = lexicon_evidence_columns(
        texts, np.array(doc, np.int64), np.array(start, np.int64), np.array(end, np.int64), terms
    )
    want = [
        lexicon_evidence(texts[d], s, e, t)
        for d, s, e, t in zip(doc, start, end, terms, strict=True)
    ]
    assert len(want) > 1000
    assert got == want
    assert any("*" in w for w in want) and any("*" not in w for w in want)
