"""Pattern detectors on google-re2: personal data (PII) with checksums, and user regexes.

One combined re2 pattern per detector (re2's Python call costs ~2-3 us, so one pass beats one
pass per entity type). Each alternative is a named group; a candidate is kept only when its
validator agrees (Luhn for cards, mod 97 for IBANs, the check digit of a Chinese resident ID,
the valid ranges of a US SSN, a phone context word for bare digit groups). re2 runs in linear
time, so no pattern, built-in or from a policy, can hang on a hostile input.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import re2

from assay.detectors.base import Finding
from assay.evidence import mask_finding, mask_match

Validator = Callable[[str, str, int, int], bool]  # (value, text, start, end) -> keep?


def re2_options() -> re2.Options:
    """re2 options shared by every pattern: quiet on errors, bounded memory."""
    opts = re2.Options()
    opts.log_errors = False
    opts.max_mem = 64 << 20
    return opts


def compile_re2(pattern: str) -> re2._Regexp:
    """Compile with re2; raises ValueError naming what re2 rejected (backreferences, lookaround)."""
    try:
        return re2.compile(pattern, re2_options())
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(
            f"re2 rejected the pattern ({detail}); re2 has no backreferences or lookaround"
        ) from None


@dataclass(frozen=True)
class PatternKind:
    """One kind of entity: an re2 pattern without capturing groups, and an optional validator."""

    kind: str
    pattern: str
    validate: Validator | None = None


class PatternDetector:
    """Runs one combined re2 pattern; each match is attributed to its kind and validated."""

    def __init__(self, name: str, category: str, kinds: Sequence[PatternKind]) -> None:
        self.name = name
        self.category = category
        self.kinds = list(kinds)
        self._combined = None

    def setup(self) -> None:
        """Compile the combined pattern and, for fall-backs, the kinds after each kind."""
        if self._combined is not None:
            return
        if len(self.kinds) == 1:  # a user pattern may hold groups of its own: do not wrap it
            self._combined = compile_re2(self.kinds[0].pattern)
            self._kind_of_group = {}
        else:
            self._combined = self._alternation(0)
            # m.lastgroup rebuilds the name table on every call; the group number is enough
            self._kind_of_group = {
                g: int(name[1:]) for name, g in self._combined.groupindex.items()
            }
        # _after[i]: the kinds after i as one alternation (None for the last kind)
        self._after = [self._alternation(i + 1) for i in range(len(self.kinds))]

    def _alternation(self, first: int):
        """One pattern for kinds[first:], each a named group `k<index>`, in order."""
        if first >= len(self.kinds):
            return None
        groups = [f"(?P<k{i}>{self.kinds[i].pattern})" for i in range(first, len(self.kinds))]
        return compile_re2("|".join(groups))

    def scan(self, text: str) -> list[Finding]:
        """Validated findings, in text order.

        re2 runs on the UTF-8 bytes: its Python wrapper re-encodes a str on every match
        call, which made scanning str ~15x slower on ASCII text.
        """
        if self._combined is None:
            self.setup()
        data = text.encode("utf-8")
        to_char = _CharOffsets(data, len(data) == len(text))
        out: list[Finding] = []
        kind_of_group = self._kind_of_group
        for m in self._combined.finditer(data):
            idx = kind_of_group[m.lastindex] if kind_of_group else 0
            b_start, b_end = m.span()
            found = self._accept(idx, text, to_char(b_start), to_char(b_end))
            if found is None:
                found = self._fallback(idx, data, text, b_start, to_char)
            if found is not None:
                k, s, e = found
                match = text[s:e]
                out.append(
                    Finding(
                        self.name, self.category, s, e, match, self._mask(k.kind, match), k.kind
                    )
                )
        return out

    def _mask(self, kind: str, match: str) -> str:
        """`mask_finding` of the finding, without building it twice."""
        if kind.startswith("lexicon:") or kind == "classifier":  # a user regex's kind may be
            return mask_finding(Finding(self.name, self.category, 0, len(match), match, "", kind))
        return mask_match(kind, match)

    def _accept(self, idx: int, text: str, start: int, end: int):
        k = self.kinds[idx]
        if k.validate is None or k.validate(text[start:end], text, start, end):
            return k, start, end
        return None

    def _fallback(self, failed: int, data: bytes, text: str, b_start: int, to_char):
        """A candidate failed its check: let the later kinds try at the same position.

        Kind by kind, in order, the first whose own match there passes its check; one anchored
        match of the later kinds' alternation finds the next kind that matches there (re2's
        alternation prefers the earlier alternative, each matching as it would alone).
        """
        while (after := self._after[failed]) is not None:
            m = after.match(data, b_start)
            if m is None:
                return None
            idx = int(m.lastgroup[1:])
            found = self._accept(idx, text, to_char(m.start()), to_char(m.end()))
            if found is not None:
                return found
            failed = idx
        return None


class _CharOffsets:
    """Byte offset -> character offset in UTF-8 data, incrementally for increasing offsets."""

    def __init__(self, data: bytes, ascii_only: bool) -> None:
        self.data = data
        self.ascii_only = ascii_only
        self.byte = 0
        self.char = 0

    def __call__(self, b: int) -> int:
        if self.ascii_only:
            return b
        if b < self.byte:  # rare: a fall-back went back
            self.byte = self.char = 0
        self.char += len(self.data[self.byte : b].decode("utf-8"))
        self.byte = b
        return self.char


# ---- validators -------------------------------------------------------------------------


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def luhn_ok(number: str) -> bool:
    """The Luhn (mod 10) checksum of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def valid_card(value: str, text: str, start: int, end: int) -> bool:
    """12-19 digits, an issuer's first digit (1-6), not one repeated digit, Luhn-valid."""
    d = _digits(value)
    return (
        12 <= len(d) <= 19
        and d[0] in "123456"
        and len(set(d)) > 1
        and luhn_ok(d)
        and _free_standing(text, start, end)
    )


# IBAN lengths by country (ISO 13616 registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def valid_iban(value: str, text: str, start: int, end: int) -> bool:
    """Known country, its registered length, and the ISO 7064 mod-97 check."""
    iban = value.replace(" ", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_CHECK = "10X98765432"


def valid_cn_resident_id(value: str, text: str, start: int, end: int) -> bool:
    """GB 11643 check digit (ISO 7064 MOD 11-2) of an 18-character resident ID."""
    v = value.upper()
    total = sum(int(ch) * w for ch, w in zip(v[:17], _CN_WEIGHTS, strict=True))
    return _CN_CHECK[total % 11] == v[17]


def valid_us_ssn(value: str, text: str, start: int, end: int) -> bool:
    """Area not 000, 666 or 900-999; group not 00; serial not 0000."""
    d = _digits(value)
    area, group, serial = int(d[:3]), int(d[3:5]), int(d[5:])
    return 0 < area < 900 and area != 666 and group != 0 and serial != 0


def valid_ipv4(value: str, text: str, start: int, end: int) -> bool:
    """Not a piece of a longer dotted number (a version string, a phone number)."""
    before = text[start - 1] if start else ""
    after = text[end : end + 2]
    return before not in ".-" and not (after[:1] in ".-" and after[1:2].isdigit())


def valid_ipv6(value: str, text: str, start: int, end: int) -> bool:
    """A real IPv6 address with at least three groups ("a::b" in C++ is not one)."""
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return value.count(":") >= 7 or sum(1 for g in value.split(":") if g) >= 3


_PHONE_CONTEXT = compile_re2(
    r"(?i)\b(?:phone|tel|telephone|mobile|cell|cellphone|fax|call|calls|called|dial|sms|text"
    r"|message|messages|whatsapp|contact|reach|desk|office|hotline|ring|answering)\b"
    r"|电话|手机|联系|致电|热线|传真"
)
_DATE_LIKE = compile_re2(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4})$")


def _free_standing(text: str, start: int, end: int) -> bool:
    """Not glued to more digits or a decimal point on either side."""
    before = text[start - 1] if start else ""
    after = text[end : end + 2]
    if before.isdigit() or (before in ".," and start > 1 and text[start - 2].isdigit()):
        return False
    return not (after[:1].isdigit() or (after[:1] in ".," and after[1:2].isdigit()))


def valid_phone(value: str, text: str, start: int, end: int) -> bool:
    """8-15 digits, not glued to other numbers."""
    return 8 <= len(_digits(value)) <= 15 and _free_standing(text, start, end)


def valid_national_phone(value: str, text: str, start: int, end: int) -> bool:
    """Trunk-prefixed national numbers have 10-12 digits (0X XX XX XX XX, 07700 900 123)."""
    digits = len(_digits(value))
    if 10 <= digits <= 12 and _free_standing(text, start, end):
        return True
    return valid_phone_with_context(value, text, start, end)


def valid_phone_with_context(value: str, text: str, start: int, end: int) -> bool:
    """Bare digit groups count as a phone number only near a phone word, and never as a date."""
    if not 7 <= len(_digits(value)) <= 13 or _DATE_LIKE.search(value):
        return False
    if not _free_standing(text, start, end):
        return False
    window = text[max(0, start - 48) : start] + " " + text[end : end + 16]
    return _PHONE_CONTEXT.search(window) is not None


# ---- the built-in PII kinds ----------------------------------------------------------------

_EXT = r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?"  # an extension: 555-0132x123
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_H = r"[0-9A-Fa-f]{1,4}"

PII_KINDS: dict[str, list[PatternKind]] = {
    "email": [
        PatternKind(
            "email",
            r"[\pL\pN._%+\-]+@[\pL\pN](?:[\pL\pN\-]*[\pL\pN])?(?:\.[\pL\pN](?:[\pL\pN\-]*[\pL\pN])?)*\.\pL{2,24}\b",
        )
    ],
    "iban": [
        PatternKind(
            "iban",
            r"\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?\b",
            valid_iban,
        )
    ],
    "credit_card": [
        PatternKind(
            "credit_card",
            r"\b(?:\d{12,19}|\d{4}(?:[ \-]\d{4}){2,3}(?:[ \-]\d{1,3})?|\d{4}[ \-]\d{6}[ \-]\d{4,5})\b",
            valid_card,
        )
    ],
    "cn_resident_id": [
        PatternKind(
            "cn_resident_id",
            r"\b[1-8]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]\b",
            valid_cn_resident_id,
        )
    ],
    "us_ssn": [PatternKind("us_ssn", r"\b\d{3}-\d{2}-\d{4}\b|\b\d{3} \d{2} \d{4}\b", valid_us_ssn)],
    "ipv6": [
        PatternKind(
            "ipv6",
            rf"(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,6}}(?::{_H}){{1,6}}|(?:{_H}:){{1,7}}:|::(?:{_H}:){{0,6}}{_H}",
            valid_ipv6,
        )
    ],
    "ipv4": [PatternKind("ipv4", rf"\b{_OCTET}(?:\.{_OCTET}){{3}}\b", valid_ipv4)],
    "phone": [
        # international: +CC or 00CC, optional (0) trunk, 2-5 digit groups
        PatternKind(
            "phone",
            r"(?:\+|\b00)[1-9]\d{0,2}[ .\-]?(?:\(0?\d{1,4}\)[ .\-]?)?\d{1,5}(?:[ .\-]?\d{2,5}){1,4}"
            + _EXT,
            valid_phone,
        ),
        # North American: (NXX) NXX-XXXX, NXX-NXX-XXXX, NXX.NXX.XXXX
        PatternKind(
            "phone",
            r"(?:\(\d{3}\) ?|\b\d{3}[\-.])\d{3}[\-.]\d{4}" + _EXT + r"\b",
            valid_phone,
        ),
        # national with trunk prefix 0: 0X XX XX XX XX, 0XXX XXX XXX, (0X) XXXX XXXX
        PatternKind(
            "phone",
            r"(?:\(0[1-9]\d{0,3}\)|\b0[1-9]\d{0,3})(?:[ .\-]?\d{2,4}){2,4}\b",
            valid_national_phone,
        ),
        # Chinese mobile numbers
        PatternKind("phone", r"\b1[3-9]\d{9}\b", valid_phone),
        # bare digit groups: only next to a phone word
        PatternKind(
            "phone",
            r"(?:\(\d{2,4}\) ?|\b)\d{2,4}(?:[ .\-]\d{2,6}){1,4}\b|\b\d{7,12}\b",
            valid_phone_with_context,
        ),
    ],
}
PII_ORDER = ("email", "iban", "credit_card", "cn_resident_id", "us_ssn", "ipv6", "ipv4", "phone")


def pii_detector(
    name: str, category: str, entities: Sequence[str] | None = None
) -> PatternDetector:
    """The built-in PII detector for `entities` (default: all of PII_ORDER)."""
    wanted = set(entities or PII_ORDER)
    unknown = wanted - set(PII_ORDER)
    if unknown:
        raise ValueError(f"unknown PII entities {sorted(unknown)}; known: {list(PII_ORDER)}")
    kinds = [k for e in PII_ORDER if e in wanted for k in PII_KINDS[e]]
    return PatternDetector(name, category, kinds)


def regex_detector(
    name: str, category: str, pattern: str, kind: str | None = None
) -> PatternDetector:
    """A user-supplied re2 pattern as a detector (its matches are fully masked in reports)."""
    compile_re2(pattern)  # fail early, with re2's reason
    return PatternDetector(name, category, [PatternKind(kind or f"regex:{name}", pattern)])
