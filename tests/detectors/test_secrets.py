"""Secrets detector: known prefixes, high-entropy assignments, placeholders, masking."""

from __future__ import annotations

import pytest

from assay.detectors.secrets import secrets_detector, shannon_entropy

DET = secrets_detector("secrets", "secrets")

# Assembled at run time so that no scanner mistakes this test file for a leak.
AWS = "AKIA" + "Z7Q3W5RT2YUI8OPL"
GITHUB = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A"
SLACK = "xoxb-" + "2389471092-2389471092384-Zx8Kq2LmP0aBcDeF"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
GOOGLE = "AIza" + "SyD3x8Kq2LmP0aBcDeF7gHiJkLmNoPqRsTu"
JWT = (
    "eyJhbGciOiJIUzI1NiJ9."
    + "eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    + "dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA..."


@pytest.mark.parametrize(
    ("text", "kind", "mask"),
    [
        (f"aws_access_key_id={AWS}", "aws_access_key", "AKIA****"),
        (f"token {GITHUB} end", "github_token", "ghp_****"),
        (f"slack: {SLACK}", "slack_token", "xoxb-****"),
        (f"Stripe.api_key = {STRIPE};", "stripe_key", "sk_live_****"),
        (f"key={GOOGLE}&q=1", "google_api_key", "AIza****"),
        (f"Authorization: Bearer {JWT}", "jwt", "eyJ****"),
        (PEM, "private_key", "-----BEGIN RSA PRIVATE KEY----- ****"),
        ('api_key = "q8Zr2LmX0aB7cD3e"', "generic_secret", 'api_key = "****"'),
        ("DB_PASSWORD: 'Tr0ub4dor&3xZq'", "generic_secret", "DB_PASSWORD : '****'"),
    ],
)
def test_secret_kinds_found_and_masked(text: str, kind: str, mask: str):
    found = DET.scan(text)
    assert [(f.kind, f.masked) for f in found] == [(kind, mask)]
    if kind != "private_key":  # the match is the PEM header itself, which is not secret
        assert found[0].match not in found[0].masked


@pytest.mark.parametrize(
    "text",
    [
        'api_key = "your_api_key_here"',
        'password = "changeme"',
        'token: "${SECRET_TOKEN}"',
        'secret = "xxxxxxxxxxxx"',
        'password = "aaaaaaaaaaaa1"',  # low entropy
        "AKIA is a prefix but AKIA123 is too short",
        "the word skeleton and sk_live_short",
        "a normal sentence about api keys and passwords",
    ],
)
def test_placeholders_and_near_misses_are_ignored(text: str):
    assert DET.scan(text) == []


def test_high_entropy_bare_tokens_only_when_enabled():
    token = "Zx8Kq2LmP0aBcDeF7gHiJkLmNoPqRsTu9vWy"
    assert DET.scan(f"value {token} here") == []
    det = secrets_detector("s", "secrets", ["high_entropy"])
    assert [f.kind for f in det.scan(f"value {token} here")] == ["high_entropy"]
    assert det.scan("value " + "abcdefgh" * 5 + " here") == []


def test_entropy():
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown secret kinds"):
        secrets_detector("s", "c", ["ssh_password"])
