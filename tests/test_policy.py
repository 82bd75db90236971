"""Policy files: validation with file+line errors, content hash, scanner, self-check table."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from assay.policy import PolicyError, cached_scanner, load_policy, self_check_table


def _write(tmp_path: Path, body: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


MINIMAL = """\
    name: test
    version: "1"
    categories:
      - id: offensive
        title: Offensive
        detectors:
          - name: words
            type: lexicon
            sources:
              - path: words.txt
              - terms: [dunderhead]
      - id: internal
        title: Internal identifiers
        detectors:
          - name: tickets
            type: regex
            pattern: 'TICKET-\\d{4,}'
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    # BOM, CRLF, comments, blanks and a duplicate: the mess real word lists have
    (tmp_path / "words.txt").write_bytes(
        "\ufeff# my list\r\nnincompoop\r\n\r\nNincompoop\r\nnumbskull\r\n".encode()
    )
    _write(tmp_path, MINIMAL)
    return tmp_path


def test_default_policy_loads_and_scans():
    policy = load_policy(None)
    assert policy.name == "assay-default"
    assert [c.id for c in policy.categories] == ["offensive_language", "personal_data", "secrets"]
    assert len(policy.hash) == 64
    found = policy.scanner().scan("mail j.doe@corp.com, you fucking moron")
    assert {f.category for f in found} == {"offensive_language", "personal_data"}
    assert [f.start for f in found] == sorted(f.start for f in found)


def test_default_policy_has_no_political_or_identity_terms():
    terms = {t.lower() for t in load_policy(None).lexicon_terms()["offensive_language"]}
    assert not terms & {"gay", "lesbians", "negro", "hitler", "nazi", "god", "queer", "homo"}


def test_user_policy_reads_lexicon_files_and_inline_terms(policy_dir: Path):
    policy = load_policy(policy_dir / "policy.yaml")
    assert policy.lexicon_terms()["offensive"] == ["nincompoop", "numbskull", "dunderhead"]
    found = policy.scanner().scan("What a NINCOMPOOP, see TICKET-12345")
    assert [(f.category, f.kind) for f in found] == [
        ("offensive", "lexicon:nincompoop"),
        ("internal", "regex:tickets"),
    ]


def test_hash_covers_referenced_file_content(policy_dir: Path):
    before = load_policy(policy_dir / "policy.yaml").hash
    assert load_policy(policy_dir / "policy.yaml").hash == before  # deterministic
    (policy_dir / "words.txt").write_text("nincompoop\nblockhead\n", encoding="utf-8")
    assert load_policy(policy_dir / "policy.yaml").hash != before


def test_detector_error_read_from_policy(policy_dir: Path):
    assert load_policy(policy_dir / "policy.yaml").detector_error("offensive") is None
    se, sp = load_policy(None).detector_error("offensive_language")
    assert 0.5 < se <= 1 and 0.5 < sp <= 1


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        (
            "name: t\nversion: 1\ncategories:\n  - id: a\n    title: A\n    detectors:\n      - name: x\n        type: lexicon\n        sources: [{terms: [a]}]\n        leetspeek: true\n",
            10,
            "unknown key 'leetspeek'",
        ),
        (
            "name: t\nversion: 1\ncategories:\n  - id: a\n    title: A\n    detectors:\n      - name: c\n        type: classifier\n        builtin: alt-profanity-check\n",
            7,
            "missing key 'threshold'",
        ),
        (
            "name: t\nversion: 1\ncategories:\n  - id: a\n    title: A\n    detectors:\n      - name: r\n        type: regex\n        pattern: '(a+)\\1'\n",
            9,
            "re2 rejected",
        ),
        (
            "name: t\nversion: 1\ncategories:\n  - id: a\n    title: A\n    detectors:\n      - name: x\n        type: lexicon\n        sources: [{path: missing.txt}]\n",
            9,
            "not found",
        ),
        (
            "name: t\nversion: 1\ncategories:\n  - id: a\n    title: A\n    detectors:\n      - name: x\n        type: lexicon\n        sources: [{package: no_such_pkg/words.txt}]\n",
            9,
            "not installed",
        ),
        (
            "name: t\nversion: 1\ncategories:\n  - id: a\n    title: A\n    detectors:\n      - name: x\n        type: pii\n        entities: [email, passport]\n",
            9,
            "unknown PII entities",
        ),
        (
            "name: t\nversion: 1\ncategories:\n  - id: a\n    title: A\n    detectors:\n      - name: x\n        type: pii\n    - name: y\n",
            9,
            "invalid YAML",
        ),
        ("name: t\nversion: 1\nversion: 2\ncategories: []\n", 3, "appears twice"),
        (
            "name: t\nversion: 1\ncategories:\n  - id: Bad-Id\n    title: A\n    detectors: [{name: p, type: pii}]\n",
            4,
            "wrong form",
        ),
    ],
)
def test_malformed_policy_gives_one_error_with_file_line_and_fix(
    tmp_path: Path, body: str, line: int, needle: str
):
    path = tmp_path / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert needle in message and "Fix:" in message
    assert message.count("\n") == 0


def test_pathological_regex_in_policy_is_bounded(tmp_path: Path):
    path = _write(
        tmp_path,
        """\
        name: t
        version: 1
        categories:
          - id: a
            title: A
            detectors:
              - name: evil
                type: regex
                pattern: '(a|aa)+$|(x+x+)+y'
        """,
    )
    scanner = load_policy(path).scanner()
    text = "a" * 100_000 + "!" + "x" * 100_000
    t0 = time.perf_counter()
    assert scanner.scan(text) == []
    assert time.perf_counter() - t0 < 0.5


def test_scan_batch_equals_scan_and_tolerates_nulls():
    scanner = load_policy(None).scanner()
    texts = ["you stupid fucking idiot", "nothing here", "", None, "ip 10.0.0.1"]
    batch = scanner.scan_batch(texts)
    assert batch == [scanner.scan(t or "") for t in texts]
    assert batch[3] == []


def test_lone_surrogates_are_scanned_as_replacement_characters():
    scanner = load_policy(None).scanner()
    text = "\ud800 fuck mail ann@corp.com \udfff"
    found = scanner.scan(text)
    kinds = {f.kind for f in found}
    assert {"lexicon:fuck", "email"} <= kinds
    for f in found:  # offsets still point into the original text
        if f.kind != "classifier":
            assert text[f.start : f.end] == f.match
    assert scanner.scan_batch([text, "fuck"])[1] == scanner.scan("fuck")


def test_cached_scanner_builds_once_and_rebuilds_after_an_edit(policy_dir: Path):
    path = policy_dir / "policy.yaml"
    first = cached_scanner(path)
    assert cached_scanner(str(path)) is first
    body = path.read_text() + "\n# edited\n"
    path.write_text(body)
    import os

    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert cached_scanner(path) is not first


def test_self_check_table_shows_a_lexicon_below_minimums(policy_dir: Path):
    table = self_check_table(
        load_policy(policy_dir / "policy.yaml"), common_words=["nincompoops", "dunderheads"]
    )
    row = table.set_index("category").loc["offensive"]
    assert row["n_terms"] == 3 and row["n_terms"] < 100
    assert row["n_duplicates"] == 1  # "Nincompoop" folds onto "nincompoop"
    assert row["n_common_word_substrings"] == 2
    assert table.set_index("category").loc["internal", "has_lexicon"] == False  # noqa: E712
    assert list(table.columns[:2]) == ["category", "title"]


def test_self_check_of_default_policy_reports_the_shortfall_honestly():
    table = self_check_table(load_policy(None))
    total = int(table["n_terms"].sum())
    assert 500 < total < 10_000  # packaged lists only: below TC260's 10,000; operators add theirs
