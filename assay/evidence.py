"""Masked evidence: the form of a finding that is safe for reports, logs and Data Docs.

A finding's `match` holds the clear text and goes only to the access-controlled samples output.
`mask_finding` gives the string every report shows instead: PII and secret values never appear
in clear; a lexicon hit shows the term with a little context whose digits, e-mail addresses and
long tokens are masked.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np
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
    return mask_match(kind, f.match)


def mask_match(kind: str, match: str) -> str:
    """The masked form of a pattern finding's match (PII, secrets, user regexes) by its kind."""
    masker = _MASKERS.get(kind)
    if masker is not None:
        return masker(match)
    if kind in SECRET_KINDS:
        return mask_secret(match)
    return mask_all(match)


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
    if start > CONTEXT_CHARS:
        lead, left = "…", text[start - CONTEXT_CHARS : start]
    else:
        lead, left = "", text[:start]
    right = text[end : end + CONTEXT_CHARS]
    tail = "…" if end + CONTEXT_CHARS < len(text) else ""
    return f"{lead}{_mask_context(left)}«{term}»{_mask_context(right)}{tail}"


def lexicon_evidence_columns(
    texts: Sequence[str], doc: np.ndarray, start: np.ndarray, end: np.ndarray, terms: list[str]
) -> list[str]:
    """`lexicon_evidence(texts[doc[i]], start[i], end[i], terms[i])` for every hit i at once.

    Which contexts hold something to mask is decided with numpy over the contexts' code points;
    only those go through `_mask_context`, the rest are joined as they are.
    """
    if not len(doc):
        return []
    text_len = np.fromiter(map(len, texts), np.int64, len(texts))[doc]
    left_n = np.minimum(start, CONTEXT_CHARS)
    right_end = end + np.minimum(text_len - end, CONTEXT_CHARS)
    spans = zip(
        doc.tolist(), (start - left_n).tolist(), start.tolist(), end.tolist(), right_end.tolist(),
        strict=True,
    )  # fmt: skip
    lefts, rights = [], []
    for d, a, s, e, b in spans:
        text = texts[d]
        lefts.append(text[a:s])
        rights.append(text[e:b])
    to_mask = _needs_masking(lefts + rights).tolist()
    rows = zip(
        lefts, rights, to_mask[: len(lefts)], to_mask[len(lefts) :],
        (start > CONTEXT_CHARS).tolist(), (right_end < text_len).tolist(), terms, strict=True,
    )  # fmt: skip
    out = []
    for left, right, mask_l, mask_r, lead, tail, term in rows:
        left = _mask_context(left) if mask_l else left.replace("\n", " ")
        right = _mask_context(right) if mask_r else right.replace("\n", " ")
        out.append(f"{'…' if lead else ''}{left}«{term}»{right}{'…' if tail else ''}")
    return out


def _needs_masking(contexts: list[str]) -> np.ndarray:
    """Per context (at most CONTEXT_CHARS long): may `_mask_context` change more than its
    newlines? True when it holds a digit or '@', or may hold a long token."""
    n = np.fromiter(map(len, contexts), np.int64, len(contexts))
    first = np.zeros(len(contexts) + 1, dtype=np.int64)
    np.cumsum(n, out=first[1:])
    codes = np.frombuffer("".join(contexts).encode("utf-32-le", "surrogatepass"), np.uint32)
    sensitive = _prefix_counts(_sensitive_table()[codes])
    spaces = _prefix_counts((codes == 0x20) | (codes == 0x0A))  # a newline becomes a space
    start = first[:-1]
    masked = sensitive[start + n] > sensitive[start]
    # _may_hold_long_token: n >= 20 and no space in the context's [n - 20, 20)
    long_ok = n >= 20
    window_lo = start + np.where(long_ok, n - 20, 0)
    window_hi = start + np.where(long_ok, 20, 0)
    return masked | (long_ok & (spaces[window_hi] == spaces[window_lo]))


def _prefix_counts(flags: np.ndarray) -> np.ndarray:
    """counts[i] = flags[:i].sum(), for i in 0..len(flags)."""
    counts = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(flags, out=counts[1:])
    return counts


@functools.cache
def _sensitive_table() -> np.ndarray:
    """Per code point: does `_DIGIT_OR_AT` match it (read off the regex itself)."""
    table = np.zeros(0x110000, dtype=bool)
    every = "".join(map(chr, range(0x110000)))
    table[[m.start() for m in _DIGIT_OR_AT.finditer(every)]] = True
    return table


def _mask_context(context: str) -> str:
    """Whitespace-separated tokens holding a digit or '@', or 20+ chars long, become '*'s."""
    context = context.replace("\n", " ")
    if _DIGIT_OR_AT.search(context) is None and not _may_hold_long_token(context):
        return context  # the common case: nothing to mask, no token loop
    if " " not in context:  # one token (Chinese, Japanese, ...): long, or holding a digit
        return "*" * min(len(context), 8)
    search = _DIGIT_OR_AT.search  # a token is sensitive when 20+ long, or holding '@' or a digit
    return " ".join(
        [
            "*" * min(len(t), 8) if len(t) >= 20 or (not t.isalpha() and search(t)) else t
            for t in context.split(" ")
        ]
    )


def _digit_ranges() -> str:
    """A regex class body for the characters str.isdigit accepts beyond `\\d` (superscripts,
    circled digits, ...; all below U+20000, as tests/test_evidence.py checks), as ranges:
    re matches a class of ~20 ranges ~4x faster than one of 128 single characters."""
    ranges: list[list[int]] = []
    for cp in range(0x80, 0x20000):
        ch = chr(cp)
        if ch.isdigit() and not ch.isdecimal():
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    return "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges)


# Any character that makes a token sensitive on its own: str.isdigit's digits and '@'.
_DIGIT_OR_AT = re.compile(rf"[\d@{_digit_ranges()}]")


def _may_hold_long_token(context: str) -> bool:
    """False when no run of 20 characters without a space can be in `context`.

    Every 20-character window of a string of n >= 20 characters covers [n - 20, 20), so a space
    there (contexts are 24 characters) rules every window out without looking at the rest.
    """
    n = len(context)
    return n >= 20 and " " not in context[n - 20 : 20]


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
