"""Secrets detector: credentials by their issuers' known prefixes, and high-entropy assignments.

Known-prefix tokens (AWS, GitHub, GitLab, Slack, Stripe, Google, OpenAI, JWT, PEM private
keys) are reported as they are; a generic `api_key = "..."` assignment only when the value
looks random (Shannon entropy) and is not a placeholder. All patterns run on google-re2.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from assay.detectors.pii import PatternDetector, PatternKind, compile_re2

MIN_ASSIGNMENT_ENTROPY = 3.0  # bits per character
MIN_TOKEN_ENTROPY = 4.0


def shannon_entropy(value: str) -> float:
    """Bits per character of `value`'s character distribution."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


_PLACEHOLDER = compile_re2(
    r"(?i)^(?:x+|\*+|\.+|<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|%\(?\w+\)?s?|your[_\-]?\w*|changeme"
    r"|example\w*|dummy\w*|test\w*|placeholder|redacted|none|null|secret|password)$"
)
_ASSIGNED_VALUE = compile_re2(r"[:=]\s*[\"'`]?([^\"'`\s]+)")


def valid_assignment(value: str, text: str, start: int, end: int) -> bool:
    """The assigned value looks random: long enough, mixed, not a placeholder."""
    m = _ASSIGNED_VALUE.search(value)
    if m is None:
        return False
    secret = m.group(1)
    if _PLACEHOLDER.search(secret):
        return False
    has_digit = any(ch.isdigit() for ch in secret)
    has_alpha = any(ch.isalpha() for ch in secret)
    return has_digit and has_alpha and shannon_entropy(secret) >= MIN_ASSIGNMENT_ENTROPY


def valid_token(value: str, text: str, start: int, end: int) -> bool:
    """A long bare token is a secret only when it is very random and mixes letters and digits."""
    return (
        any(ch.isdigit() for ch in value)
        and any(ch.isupper() for ch in value)
        and any(ch.islower() for ch in value)
        and shannon_entropy(value) >= MIN_TOKEN_ENTROPY
    )


_KEY_NAMES = (
    r"api[_\-]?key|apikey|api[_\-]?secret|secret[_\-]?key|client[_\-]?secret|access[_\-]?token"
    r"|auth[_\-]?token|bearer[_\-]?token|private[_\-]?key|password|passwd|pwd|secret|token"
)

SECRET_KINDS: dict[str, PatternKind] = {
    "private_key": PatternKind(
        "private_key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    ),
    "aws_access_key": PatternKind("aws_access_key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    "github_token": PatternKind(
        "github_token", r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b|\bgithub_pat_[A-Za-z0-9_]{22,255}\b"
    ),
    "gitlab_token": PatternKind("gitlab_token", r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    "slack_token": PatternKind("slack_token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,250}"),
    "stripe_key": PatternKind("stripe_key", r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,247}\b"),
    "google_api_key": PatternKind("google_api_key", r"\bAIza[0-9A-Za-z_\-]{35}"),
    "openai_key": PatternKind(
        "openai_key",
        r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}",
    ),
    "jwt": PatternKind(
        "jwt", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    ),
    "generic_secret": PatternKind(
        "generic_secret",
        rf"(?i)\b(?:[a-z0-9_\-]*(?:{_KEY_NAMES}))[\"']?\s*(?:=|:|:=|=>)\s*[\"'`][^\"'`\s]{{8,200}}[\"'`]",
        valid_assignment,
    ),
    "high_entropy": PatternKind("high_entropy", r"\b[A-Za-z0-9+/_\-]{32,128}={0,2}", valid_token),
}
DEFAULT_SECRET_KINDS = tuple(k for k in SECRET_KINDS if k != "high_entropy")


def secrets_detector(
    name: str, category: str, kinds: Sequence[str] | None = None
) -> PatternDetector:
    """The secrets detector for `kinds` (default: all but the noisy bare `high_entropy`)."""
    wanted = list(kinds or DEFAULT_SECRET_KINDS)
    unknown = set(wanted) - set(SECRET_KINDS)
    if unknown:
        raise ValueError(f"unknown secret kinds {sorted(unknown)}; known: {list(SECRET_KINDS)}")
    return PatternDetector(name, category, [SECRET_KINDS[k] for k in SECRET_KINDS if k in wanted])
