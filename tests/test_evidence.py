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
