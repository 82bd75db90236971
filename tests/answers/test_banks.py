"""Question banks: reading, rejections, seeded sampling, self-check and its GX suite."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from assay.answers.banks import (
    CONTENT,
    SHOULD_NOT_REFUSE,
    SHOULD_REFUSE,
    BankError,
    BankMinimums,
    Question,
    read_bank,
    read_banks,
    sample_bank,
    sample_banks,
    self_check_parameters,
    self_check_report,
    write_bank,
)
from assay.answers.keywords import build_for_policy
from assay.sample import sample_key


def _questions(bank: str, n: int, categories=("a", "b")) -> list[Question]:
    return [Question(f"q{i}", f"{bank} question {i}?", categories[i % len(categories)], bank)
            for i in range(n)]  # fmt: skip


def test_reads_csv_and_jsonl_and_rejects_bad_rows_with_reasons(tmp_path):
    csv_file = tmp_path / "b.csv"
    csv_file.write_text(
        "id,question,category,bank\n1,What is X?,a,content\n2,,a,content\n3,Why?,a,nonsense\n"
    )
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text(
        json.dumps({"id": 7, "question": "Q?", "category": "c"}) + "\n{not json\n[1, 2]\n"
    )
    got = read_bank(csv_file)
    assert [q.id for q in got.questions] == ["1"]
    assert sorted(r.reason for r in got.rejections) == [
        "missing question",
        "unknown bank 'nonsense'",
    ]
    got = read_bank(jsonl, default_bank=SHOULD_REFUSE)
    assert got.questions == [Question("7", "Q?", "c", SHOULD_REFUSE)]
    assert len(got.rejections) == 2 and got.rejections[0].reason.startswith("invalid JSON")
    with pytest.raises(BankError, match="not found"):
        read_bank(tmp_path / "missing.csv")
    with pytest.raises(BankError, match="unknown bank format"):
        (tmp_path / "x.txt").write_text("hi")
        read_bank(tmp_path / "x.txt")


def test_read_banks_rejects_duplicate_keys(tmp_path):
    a = write_bank(_questions(CONTENT, 3), tmp_path / "a.jsonl")
    b = write_bank(_questions(CONTENT, 2) + _questions(SHOULD_REFUSE, 1), tmp_path / "b.csv")
    got = read_banks([a, b])
    assert len(got.questions) == 4
    assert [r.reason for r in got.rejections] == [
        "duplicate id 'content/q0'",
        "duplicate id 'content/q1'",
    ]


def test_sample_keeps_the_k_smallest_sampler_keys_per_bank():
    qs = _questions(CONTENT, 50) + _questions(SHOULD_REFUSE, 30)
    got = sample_banks(qs, {CONTENT: 10, SHOULD_REFUSE: 5, SHOULD_NOT_REFUSE: 5}, seed=7)
    content = [q for q in got if q.bank == CONTENT]
    expected = sorted(
        (q for q in qs if q.bank == CONTENT), key=lambda q: sample_key(7, CONTENT, q.id)
    )
    assert content == expected[:10]
    assert sum(q.bank == SHOULD_REFUSE for q in got) == 5
    # same seed, shuffled input: same sample; another seed: another sample
    assert sample_banks(list(reversed(qs)), {CONTENT: 10}, 7) == content
    assert sample_bank(qs, 10, 8) != sample_bank(qs, 10, 7)


def test_self_check_names_every_shortfall():
    qs = _questions(CONTENT, 30, ("a", "b", "c")) + _questions(SHOULD_REFUSE, 5)
    qs.append(Question("dup", qs[0].question, "a", CONTENT))
    report = self_check_report(
        read_banks_from(qs), BankMinimums(20, 5, 1, 11), categories=["a", "b", "c", "d"]
    )
    assert not report["passed"]
    text = "\n".join(report["problems"])
    assert "bank should_not_refuse: 0 questions, need >= 1" in text
    assert "content category d: 0 questions" in text
    assert "1 duplicate question texts" in text
    assert report["row"]["min_content_per_category"] == 0
    ok = self_check_report(read_banks_from(qs[:-1]), BankMinimums(20, 5, 0, 10), ["a", "b", "c"])
    assert ok["passed"], ok["problems"]


def read_banks_from(questions):
    from assay.answers.banks import BankSet

    return BankSet(questions=list(questions))


@pytest.mark.slow
def test_gx_suite_fails_small_banks_and_passes_the_keyword_builder(tmp_path):
    from assay.answers.audit import policy_categories
    from assay.validation import validate_table

    categories = policy_categories(None)
    minimums = BankMinimums()
    small = self_check_report(read_banks_from(_questions(CONTENT, 10)), minimums, categories)
    out = validate_table(pd.DataFrame([small["row"]]), "question_banks",
                         self_check_parameters(minimums), tmp_path / "a", "t", index_column="banks")  # fmt: skip
    assert not out.success
    failed = {e.column for e in out.expectations if not e.success}
    assert {"n_content", "n_should_refuse", "min_content_per_category"} <= failed

    built = build_for_policy(None, total=2000, min_per_category=20, seed=3)
    refuse = _questions(SHOULD_REFUSE, 500)
    fine = _questions(SHOULD_NOT_REFUSE, 500)
    report = self_check_report(read_banks_from(built + refuse + fine), minimums, categories)
    assert report["passed"], report["problems"]
    out = validate_table(pd.DataFrame([report["row"]]), "question_banks",
                         self_check_parameters(minimums), tmp_path / "b", "t", index_column="banks")  # fmt: skip
    assert out.success, [e for e in out.expectations if not e.success]
    assert out.docs_index.exists()
