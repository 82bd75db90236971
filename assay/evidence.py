"""Masked evidence: the form of a finding that is safe for reports, logs and Data Docs.

A finding's `match` holds the clear text and goes only to the access-controlled samples output.
`mask_finding` gives the string every report shows instead: PII and secret values never appear
in clear; a lexicon hit shows the term with a little context whose digits, e-mail addresses and
long tokens are masked.
"""

from __future__ import annotations

import re2

from assay.detectors.base import Finding

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_DIGIT = re2.compile(r"\d", _OPTIONS)
_ALNUM = re2.compile(r"[\pL\pN]", _OPTIONS)

CONTEXT_CHARS = 24  # per side, for lexicon evidence
SECRET_PREFIXES = (
    "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xoxb-", "xoxp-",
    "xoxa-", "xoxr-", "xoxs-", "sk_live_", "rk_live_", "sk_test_", "AIza", "eyJ", "glpat-",
    "sk-",
)  # fmt: skip


def mask_finding(f: Finding, text: str | None = None) -> str:
    """The masked evidence for `f`; with `text`, lexicon hits get a masked context."""
    kind = f.kind
    if kind.startswith("lexicon:"):
        return _mask_lexicon(f, text)
    if kind == "classifier":
        return f"classifier p={f.score:.2f} over {f.end - f.start} chars"
    masker = _MASKERS.get(kind)
    if masker is not None:
        return masker(f.match)
    if kind in SECRET_KINDS:
        return mask_secret(f.match)
    return mask_all(f.match)


def mask_all(value: str) -> str:
    """Every letter and digit replaced by '*', separators kept (capped at 32 chars)."""
    masked = _ALNUM.sub("*", value)
    return masked if len(masked) <= 32 else masked[:32] + "…"


def mask_email(value: str) -> str:
    """`john.doe@example.com` -> `j***@***.com`."""
    local, _, domain = value.rpartition("@")
    tld = domain.rsplit(".", 1)[-1] if "." in domain else ""
    return f"{local[:1]}***@***.{tld}" if tld else f"{local[:1]}***@***"


def mask_keep_last_digits(value: str, keep: int) -> str:
    """Mask every digit but the last `keep` ones, keeping separators."""
    digits = sum(ch.isdigit() for ch in value)
    out, seen = [], 0
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - keep else "*")
        elif ch.isalpha():
            out.append("*")
        else:
            out.append(ch)
    return "".join(out)


def mask_card(value: str) -> str:
    """`4111 1111 1111 1234` -> `**** **** **** 1234`."""
    return mask_keep_last_digits(value, 4)


def mask_iban(value: str) -> str:
    """Country code kept, the rest masked but the last two characters."""
    compact = value.replace(" ", "")
    return compact[:2] + "*" * max(0, len(compact) - 4) + compact[-2:]


def mask_ipv4(value: str) -> str:
    """`192.168.10.7` -> `192.*.*.*`."""
    return value.split(".", 1)[0] + ".*.*.*"


def mask_ipv6(value: str) -> str:
    """First group kept: `2001:****`."""
    return value.split(":", 1)[0] + ":****"


def mask_secret(value: str) -> str:
    """Known prefix kept (`AKIA****`); private keys show their header only."""
    if value.startswith("-----BEGIN"):
        return value.split("\n", 1)[0][:64] + " ****"
    for prefix in SECRET_PREFIXES:
        if value.startswith(prefix):
            return prefix + "****"
    return value[:2] + "****" if len(value) > 12 else "****"


def mask_assignment(value: str) -> str:
    """`api_key = "abcd..."` -> `api_key = "****"` (the name kept, the value masked)."""
    for sep in ("=", ":"):
        if sep in value:
            name, _, rest = value.partition(sep)
            quote = rest.strip()[:1] if rest.strip()[:1] in "'\"`" else ""
            return f"{name.strip()} {sep} {quote}****{quote}"
    return "****"


def _mask_lexicon(f: Finding, text: str | None) -> str:
    term = f.kind.removeprefix("lexicon:")
    if text is None:
        return f"«{term}»"
    return lexicon_evidence(text, f.start, f.end, term)


def lexicon_evidence(text: str, start: int, end: int, term: str) -> str:
    """`…context «term» context…` with digits, e-mails and long tokens in the context masked."""
    left = _mask_context(text[max(0, start - CONTEXT_CHARS) : start])
    right = _mask_context(text[end : end + CONTEXT_CHARS])
    lead = "…" if start > CONTEXT_CHARS else ""
    tail = "…" if end + CONTEXT_CHARS < len(text) else ""
    return f"{lead}{left}«{term}»{right}{tail}"


def _mask_context(context: str) -> str:
    """Whitespace-separated tokens holding a digit or '@', or 20+ chars long, become '*'s."""
    tokens = context.replace("\n", " ").split(" ")
    return " ".join("*" * min(len(t), 8) if _sensitive_token(t) else t for t in tokens)


def _sensitive_token(token: str) -> bool:
    """20+ characters, or holding '@' or a digit (plain words are ruled out first, cheaply)."""
    if len(token) >= 20:
        return True
    if token.isalpha():
        return False
    return "@" in token or any(c.isdigit() for c in token)


_MASKERS = {
    "email": mask_email,
    "phone": lambda v: mask_keep_last_digits(v, 2),
    "credit_card": mask_card,
    "iban": mask_iban,
    "ipv4": mask_ipv4,
    "ipv6": mask_ipv6,
    "cn_resident_id": lambda v: v[:2] + "*" * (len(v) - 2),
    "us_ssn": lambda v: _DIGIT.sub("*", v),
    "generic_secret": mask_assignment,
}
SECRET_KINDS = frozenset(
    {
        "aws_access_key", "github_token", "slack_token", "stripe_key", "google_api_key",
        "private_key", "jwt", "gitlab_token", "openai_key", "high_entropy",
    }
)  # fmt: skip
