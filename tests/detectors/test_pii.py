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
