"""PII detector: each entity on hand-written matches and near misses, checksums, masking."""

from __future__ import annotations

import time

import pytest

from assay.detectors.pii import luhn_ok, pii_detector, regex_detector

DET = pii_detector("pii", "personal_data")


def _kinds(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.match) for f in DET.scan(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "write to jane.roe+news@mail.example.co.uk today",
            ("email", "jane.roe+news@mail.example.co.uk"),
        ),
        ("邮箱：zhang.san@163.com。", ("email", "zhang.san@163.com")),
        ("card 4111 1111 1111 1111 exp 12/29", ("credit_card", "4111 1111 1111 1111")),
        ("amex 3782-822463-10005", ("credit_card", "3782-822463-10005")),
        ("pay to DE89 3704 0044 0532 0130 00 please", ("iban", "DE89 3704 0044 0532 0130 00")),
        ("iban gb82west12345698765432", ("iban", "gb82west12345698765432")),
        ("from 192.168.10.7 at noon", ("ipv4", "192.168.10.7")),
        ("host 2001:db8:85a3::8a2e:370:7334 up", ("ipv6", "2001:db8:85a3::8a2e:370:7334")),
        ("身份证号11010519491231002X，请核对", ("cn_resident_id", "11010519491231002X")),
        ("SSN 123-45-6789 on file", ("us_ssn", "123-45-6789")),
        ("call +44 20 7946 0958 now", ("phone", "+44 20 7946 0958")),
        ("call (415) 555-0132 now", ("phone", "(415) 555-0132")),
        ("tel 415-555-0132x123", ("phone", "415-555-0132x123")),
        ("Tél : 01 42 68 53 00", ("phone", "01 42 68 53 00")),
        ("手机13812345678联系", ("phone", "13812345678")),
        ("Phone: 467 3395", ("phone", "467 3395")),
    ],
)
def test_entities_found(text: str, expected: tuple[str, str]):
    assert _kinds(text) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails Luhn",
        "order 1234567890123 shipped",  # Luhn-invalid digits
        "pay to DE89 3704 0044 0532 0130 01 please",  # IBAN check fails
        "version 1.2.3.4.5 released",  # dotted number, not an IP
        "std::vector and a::b",  # C++ scopes, not IPv6
        "ID 110105194912310021 wrong check digit",
        "SSN 666-12-3456 and 000-12-3456 and 123-00-4567",  # invalid areas/groups
        "in 2015-12-22 we sold 467 3395 units",  # digits without a phone word
        "the population was 1 234 567 in 2010",
        "user@localhost is not an address",
        "see 3.14159265358979",
    ],
)
def test_near_misses_are_not_reported(text: str):
    assert _kinds(text) == []


def test_offsets_and_masks_never_show_values():
    text = "Mail j.doe@corp.com, card 4111-1111-1111-1111, SSN 123-45-6789, ip 10.1.2.3, IBAN GB82WEST12345698765432"
    found = DET.scan(text)
    assert all(text[f.start : f.end] == f.match for f in found)
    masked = {f.kind: f.masked for f in found}
    assert masked["email"] == "j***@***.com"
    assert masked["credit_card"] == "****-****-****-1111"
    assert masked["us_ssn"] == "***-**-****"
    assert masked["ipv4"] == "10.*.*.*"
    assert masked["iban"].startswith("GB") and "WEST" not in masked["iban"]
    for f in found:
        assert f.match not in f.masked


def test_entity_subset_and_unknown_entity():
    only_email = pii_detector("p", "c", ["email"])
    assert [f.kind for f in only_email.scan("a@b.io 4111 1111 1111 1111")] == ["email"]
    with pytest.raises(ValueError, match="unknown PII entities"):
        pii_detector("p", "c", ["passport"])


def test_luhn():
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


def test_user_regex_rejects_backreferences():
    with pytest.raises(ValueError, match="re2 rejected"):
        regex_detector("r", "c", r"(a+)\1")


def test_catastrophic_pattern_runs_in_linear_time():
    det = regex_detector("r", "c", r"(a+)+$|(x+x+)+y")
    text = "a" * 50_000 + "!" + "x" * 50_000
    t0 = time.perf_counter()
    found = det.scan(text)
    assert time.perf_counter() - t0 < 0.5
    assert found == []


def test_user_regex_findings_are_fully_masked():
    det = regex_detector("ticket", "internal", r"TICKET-\d{4,}")
    (f,) = det.scan("see TICKET-12345 now")
    assert f.kind == "regex:ticket" and f.masked == "******-*****"


# ---- the one-pass fall-back gives what trying each later kind in turn gives ------------------


def _reference_scan(det, text: str):
    """Kinds from the combined match's group name; fall-back: each later kind's own pattern."""
    from assay.detectors.base import Finding
    from assay.detectors.pii import _CharOffsets, compile_re2
    from assay.evidence import mask_finding

    single = [compile_re2(k.pattern) for k in det.kinds]
    data = text.encode("utf-8")
    to_char = _CharOffsets(data, len(data) == len(text))
    out = []
    for m in det._combined.finditer(data):
        idx = int(m.lastgroup[1:]) if len(det.kinds) > 1 else 0
        b_start, b_end = m.span()
        found = det._accept(idx, text, to_char(b_start), to_char(b_end))
        for later in range(idx + 1, len(det.kinds)) if found is None else ():
            m2 = single[later].match(data, b_start)
            if m2 is not None:
                found = det._accept(later, text, to_char(m2.start()), to_char(m2.end()))
                if found is not None:
                    break
        if found is not None:
            k, s, e = found
            f = Finding(det.name, det.category, s, e, text[s:e], "", k.kind)
            out.append(Finding(**{**f.to_dict(), "masked": mask_finding(f)}))
    return out


def test_scan_equals_trying_each_later_kind_in_turn():
    from assay.detectors.secrets import secrets_detector

    texts = [
        "card 4111 1111 1111 1112 fails Luhn, call 415-555-0132 or Phone: 467 3395",
        "order 1234567890123 shipped; tel 0201234567; 手机13812345678联系",
        "ID 110105194912310021 wrong check digit, 身份证号11010519491231002X，请核对",
        "SSN 666-12-3456 and 123-45-6789; ip 10.1.2.3 and 1.2.3.4.5; 2001:db8::1 a::b",
        "pay DE89 3704 0044 0532 0130 01 or DE89 3704 0044 0532 0130 00; j.doe@corp.com",
        "über 电话 01 42 68 53 00 ａｂｃ 4111-1111-1111-1111 “quoted” 555 0199 phone",
        'api_key = "q8Zr2LmX0aB7cD3e" password: "changeme" AKIAZ7Q3W5RT2YUI8OPL',
        "Phone: 441234567890 and call 666-12-3456",  # a failed card and SSN, then phones
        "",
        "no numbers at all",
    ]
    for det in (pii_detector("pii", "p"), secrets_detector("s", "s"), DET):
        det.setup()
        found = [det.scan(t) for t in texts]
        assert found == [_reference_scan(det, t) for t in texts]
    assert sum(len(DET.scan(t)) for t in texts) >= 10
    assert [(f.kind, f.match) for f in DET.scan(texts[7])] == [
        ("phone", "441234567890"),
        ("phone", "666-12-3456"),
    ]


def test_user_regex_named_like_another_kind_is_masked_as_before():
    from assay.evidence import mask_finding

    det = regex_detector("r", "c", r"SECRET\d+", kind="classifier")
    (f,) = det.scan("a SECRET123 b")
    assert f.masked == mask_finding(f)
