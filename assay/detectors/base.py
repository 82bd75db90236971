"""What every detector is: one object that scans a text and returns findings.

Detectors only score. Counting, deciding and masking for reports live elsewhere
(`assay.scoring`, `assay.verdict`, `assay.evidence`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable


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
    """A detector: `setup()` once per worker (build automata, load models), then `scan()`."""

    name: str

    def setup(self) -> None: ...

    def scan(self, text: str) -> list[Finding]: ...
