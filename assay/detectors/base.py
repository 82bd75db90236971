"""What every detector is: one object that scans a text and returns findings.

Detectors only score. Counting, deciding and masking for reports live elsewhere
(`assay.scoring`, `assay.verdict`, `assay.evidence`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Finding:
    """One piece of evidence: a detector hit a category at [start, end) of the scanned text.

    `match` is the matched text in clear; it is written only to the access-controlled samples
    output. `masked` is the form safe for reports, logs and Data Docs.
    """

    detector: str
    category: str
    start: int
    end: int
    match: str
    masked: str
    kind: str = ""  # e.g. the lexicon term, "email", "iban", "aws_access_key"
    score: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Detector(Protocol):
    """A detector: `setup()` once per worker (build automata, load models), then `scan()`.

    Detectors may also offer `scan_batch(texts)` (findings per text: models cost per call) or
    `scan_columns(texts)` (a `FindingColumns`: many hits, no object per hit); the scanner uses
    the most columnar one a detector has.
    """

    name: str

    def setup(self) -> None: ...

    def scan(self, text: str) -> list[Finding]: ...


@dataclass
class FindingColumns:
    """The findings of a batch of texts as columns: row r is a finding in text `doc[r]`.

    The same fields as `Finding`, one list or array each, so detectors that find many hits
    (a 10,000-term lexicon finds thousands per megabyte) hand them on without a Python object
    per hit. `to_lists` gives the `Finding`s per text; `FindingColumns.of` the reverse.
    """

    doc: np.ndarray  # int64: the text's index in the batch
    start: np.ndarray  # int64
    end: np.ndarray  # int64
    detector: list[str]
    category: list[str]
    kind: list[str]
    match: list[str]
    masked: list[str]
    score: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.doc)

    @classmethod
    def empty(cls) -> FindingColumns:
        no = np.zeros(0, dtype=np.int64)
        return cls(no, no, no, [], [], [], [], [], np.zeros(0, dtype=np.float64))

    @classmethod
    def of(cls, per_text: Sequence[Sequence[Finding]]) -> FindingColumns:
        """Columns of findings given per text (text i's findings get doc i), in that order."""
        flat = [f for found in per_text for f in found]
        if not flat:
            return cls.empty()
        doc = np.repeat(np.arange(len(per_text), dtype=np.int64), [len(f) for f in per_text])
        return cls(
            doc,
            np.fromiter((f.start for f in flat), np.int64, len(flat)),
            np.fromiter((f.end for f in flat), np.int64, len(flat)),
            [f.detector for f in flat],
            [f.category for f in flat],
            [f.kind for f in flat],
            [f.match for f in flat],
            [f.masked for f in flat],
            np.fromiter((f.score for f in flat), np.float64, len(flat)),
        )

    @classmethod
    def concat(cls, parts: Sequence[FindingColumns]) -> FindingColumns:
        """The rows of `parts`, one after the other."""
        parts = [p for p in parts if len(p)]
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.empty()
        return cls(
            *(np.concatenate([getattr(p, n) for p in parts]) for n in ("doc", "start", "end")),
            *([x for p in parts for x in getattr(p, n)] for n in _STRING_FIELDS),
            np.concatenate([p.score for p in parts]),
        )

    def take(self, rows: np.ndarray) -> FindingColumns:
        """The given rows, in that order."""
        picked = rows.tolist()
        return FindingColumns(
            self.doc[rows],
            self.start[rows],
            self.end[rows],
            *(_pick(getattr(self, n), picked) for n in _STRING_FIELDS),
            self.score[rows],
        )

    def in_text_order(self) -> FindingColumns:
        """Sorted by (doc, start, end, detector), ties kept in their order (a stable sort)."""
        if len(self) < 2:
            return self
        _, ranks = sorted_ranks(self.detector)
        order = np.lexsort((ranks, self.end, self.start, self.doc))
        if (order[1:] > order[:-1]).all():
            return self
        return self.take(order)

    def to_lists(self, n_texts: int) -> list[list[Finding]]:
        """The findings of each of `n_texts` texts, in row order."""
        out: list[list[Finding]] = [[] for _ in range(n_texts)]
        rows = zip(
            self.doc.tolist(), self.detector, self.category, self.start.tolist(),
            self.end.tolist(), self.match, self.masked, self.kind, self.score.tolist(),
            strict=True,
        )  # fmt: skip
        for doc, *fields in rows:
            out[doc].append(Finding(*fields))
        return out


_STRING_FIELDS = ("detector", "category", "kind", "match", "masked")


def _pick(values: list[str], rows: list[int]) -> list[str]:
    return [values[i] for i in rows]


def sorted_ranks(values: list[str]) -> tuple[list[str], np.ndarray]:
    """(the distinct values, sorted; each value's position among them, as an int64 array)."""
    names = sorted(set(values))
    if len(names) <= 1:
        return names, np.zeros(len(values), dtype=np.int64)
    rank = {n: r for r, n in enumerate(names)}
    return names, np.fromiter(map(rank.__getitem__, values), np.int64, len(values))
