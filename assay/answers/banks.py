"""Question banks: reading them, sampling them with the corpus sampler, and their self-check.

A bank file is CSV or JSONL with fields id, question, category and bank, where bank is one of
`content` (questions probing each policy category; answers must be acceptable),
`should_refuse` and `should_not_refuse`. A file may hold one bank or all three. Rows that
cannot be used are kept as rejections with a reason, so counts always add up.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from assay.sample import sample_key

CONTENT, SHOULD_REFUSE, SHOULD_NOT_REFUSE = "content", "should_refuse", "should_not_refuse"
BANKS = (CONTENT, SHOULD_REFUSE, SHOULD_NOT_REFUSE)
FIELDS = ("id", "question", "category", "bank")


class BankError(ValueError):
    """A bank file that cannot be read at all; the message names the file and the fix."""


@dataclass(frozen=True)
class Question:
    """One question of a bank."""

    id: str
    question: str
    category: str
    bank: str
    language: str = ""

    @property
    def key(self) -> str:
        """Unique across banks: answers and checkpoints are keyed by it."""
        return f"{self.bank}/{self.id}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Rejection:
    """A row of a bank file that was not used, and why."""

    path: str
    row: int
    reason: str


@dataclass
class BankSet:
    """Questions read from one or more bank files, plus rejected rows."""

    questions: list[Question] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def bank(self, name: str) -> list[Question]:
        return [q for q in self.questions if q.bank == name]


def _records(path: Path) -> Iterable[tuple[int, dict | None, str]]:
    """(row number, record or None, problem) for every row of a CSV or JSONL file."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        with path.open(encoding="utf-8-sig") as handle:
            for n, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield n, None, f"invalid JSON ({exc.msg})"
                    continue
                yield (n, rec, "") if isinstance(rec, dict) else (n, None, "not a JSON object")
    elif suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            for n, rec in enumerate(reader, 2):
                yield n, rec, ""
    else:
        raise BankError(f"{path}: unknown bank format {suffix!r}. Fix: use .csv, .tsv or .jsonl.")


def read_bank(path: str | Path, default_bank: str = "") -> BankSet:
    """Read one bank file; `default_bank` fills rows that lack a bank field."""
    file = Path(path)
    if not file.is_file():
        raise BankError(f"{file}: bank file not found. Fix: check the path.")
    out = BankSet()
    for n, rec, problem in _records(file):
        if rec is None:
            out.rejections.append(Rejection(str(file), n, problem))
            continue
        values = {k: str(rec.get(k) or "").strip() for k in FIELDS}
        values["bank"] = values["bank"] or default_bank
        missing = [k for k in FIELDS if not values[k]]
        if missing:
            out.rejections.append(Rejection(str(file), n, f"missing {', '.join(missing)}"))
        elif values["bank"] not in BANKS:
            out.rejections.append(Rejection(str(file), n, f"unknown bank {values['bank']!r}"))
        else:
            lang = str(rec.get("language") or "").strip()
            out.questions.append(Question(**values, language=lang))
    return out


def read_banks(paths: Sequence[str | Path]) -> BankSet:
    """Read several bank files; a question key seen twice is rejected the second time."""
    out, seen = BankSet(), set()
    for path in paths:
        part = read_bank(path)
        out.rejections.extend(part.rejections)
        for q in part.questions:
            if q.key in seen:
                out.rejections.append(Rejection(str(path), 0, f"duplicate id {q.key!r}"))
                continue
            seen.add(q.key)
            out.questions.append(q)
    return out


def write_bank(questions: Iterable[Question], path: str | Path) -> Path:
    """Write questions as JSONL (or CSV when the path ends in .csv)."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    rows = [q.to_dict() for q in questions]
    if file.suffix.lower() == ".csv":
        with file.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=[*FIELDS, "language"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        with file.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    return file


def sample_bank(questions: Sequence[Question], n: int, seed: int) -> list[Question]:
    """The n questions with the smallest sampler keys, per bank (the corpus sampler's rule)."""
    out: list[Question] = []
    for bank in BANKS:
        members = [q for q in questions if q.bank == bank]
        keyed = sorted(members, key=lambda q: (sample_key(seed, bank, q.id), q.id))
        out.extend(keyed[:n])
    return out


def sample_banks(questions: Sequence[Question], sizes: dict[str, int], seed: int) -> list[Question]:
    """Per-bank samples of the given sizes (a bank's whole set when it is smaller)."""
    out: list[Question] = []
    for bank in BANKS:
        members = [q for q in questions if q.bank == bank]
        out.extend(sample_bank(members, int(sizes.get(bank, 0)), seed))
    return out


# ---- self-check -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankMinimums:
    """How big and how broad banks must be (TC260 defaults)."""

    content: int = 2000
    should_refuse: int = 500
    should_not_refuse: int = 500
    per_category: int = 20

    def of(self, bank: str) -> int:
        return int(getattr(self, bank))


def bank_counts(questions: Sequence[Question]) -> dict[str, Counter]:
    """Bank -> category -> number of questions."""
    out: dict[str, Counter] = {b: Counter() for b in BANKS}
    for q in questions:
        out[q.bank][q.category] += 1
    return out


def self_check_row(
    banks: BankSet, minimums: BankMinimums, categories: Sequence[str] | None = None
) -> dict:
    """One row for the GX suite `question_banks`: sizes, coverage and data quality."""
    counts = bank_counts(banks.questions)
    content = counts[CONTENT]
    expected = list(categories) if categories else sorted(content)
    per_category = {c: content.get(c, 0) for c in expected}
    texts = Counter((q.bank, q.question.strip().lower()) for q in banks.questions)
    return {
        "banks": "all",
        "n_content": sum(content.values()),
        "n_should_refuse": sum(counts[SHOULD_REFUSE].values()),
        "n_should_not_refuse": sum(counts[SHOULD_NOT_REFUSE].values()),
        "min_content_per_category": min(per_category.values()) if per_category else 0,
        "n_categories_below_minimum": sum(v < minimums.per_category for v in per_category.values()),
        "n_unknown_categories": len(set(content) - set(expected)) if categories else 0,
        "n_duplicate_questions": sum(v - 1 for v in texts.values() if v > 1),
        "n_rejected_rows": len(banks.rejections),
    }


def self_check_parameters(minimums: BankMinimums) -> dict:
    """The suite's $PARAMETER values."""
    return {
        "min_content": minimums.content,
        "min_should_refuse": minimums.should_refuse,
        "min_should_not_refuse": minimums.should_not_refuse,
        "min_per_category": minimums.per_category,
    }


def self_check_report(
    banks: BankSet, minimums: BankMinimums, categories: Sequence[str] | None = None
) -> dict:
    """The self-check as data: the suite row, per-bank-per-category counts, problems in words."""
    row = self_check_row(banks, minimums, categories)
    counts = bank_counts(banks.questions)
    problems = []
    for bank in BANKS:
        n = row[f"n_{bank}"]
        if n < minimums.of(bank):
            problems.append(f"bank {bank}: {n} questions, need >= {minimums.of(bank)}")
    expected = list(categories) if categories else sorted(counts[CONTENT])
    for cat in expected:
        n = counts[CONTENT].get(cat, 0)
        if n < minimums.per_category:
            problems.append(
                f"content category {cat}: {n} questions, need >= {minimums.per_category}"
            )
    if row["n_unknown_categories"]:
        unknown = sorted(set(counts[CONTENT]) - set(expected))
        problems.append(f"content categories not in the policy: {', '.join(unknown[:10])}")
    if row["n_duplicate_questions"]:
        problems.append(f"{row['n_duplicate_questions']} duplicate question texts within a bank")
    if row["n_rejected_rows"]:
        reasons = Counter(r.reason for r in banks.rejections).most_common(5)
        problems.append(
            f"{row['n_rejected_rows']} unusable rows ("
            + "; ".join(f"{r}: {c}" for r, c in reasons)
            + ")"
        )
    return {
        "row": row,
        "minimums": asdict(minimums),
        "counts": {b: dict(sorted(c.items())) for b, c in counts.items()},
        "problems": problems,
        "passed": not problems,
    }
