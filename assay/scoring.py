"""Scoring inside Spark: the policy's detectors over Arrow batches of sampled documents.

The scanner (automata, models) is built once per Python worker by `cached_scanner`, never per
document or batch. Scoring only records findings; deciding happens in `assay.verdict`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

FINDING_TYPE = pa.struct(
    [
        ("detector", pa.string()),
        ("category", pa.string()),
        ("kind", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("match", pa.string()),
        ("masked", pa.string()),
        ("score", pa.float64()),
    ]
)
SCORE_FIELDS = [
    ("flagged", pa.bool_()),
    ("categories", pa.list_(pa.string())),
    ("findings", pa.list_(FINDING_TYPE)),
]


def scored_schema(input_schema: pa.Schema) -> pa.Schema:
    """The input columns followed by flagged, categories and findings."""
    return pa.schema(list(input_schema) + [pa.field(n, t) for n, t in SCORE_FIELDS])


def score_texts(texts: list[str], scanner) -> tuple[list[bool], list[list[str]], list[list[dict]]]:
    """Findings for each text, with the sorted categories hit and whether any was hit."""
    results = scanner.scan_batch(texts)
    flagged, categories, findings = [], [], []
    for found in results:
        cats = sorted({f.category for f in found})
        flagged.append(bool(cats))
        categories.append(cats)
        findings.append([f.to_dict() for f in found])
    return flagged, categories, findings


def score_partitions(
    batches: Iterator[pa.RecordBatch], policy_path: str | None, text_column: str = "text"
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: append score columns to each batch."""
    from assay.policy import cached_scanner

    scanner = cached_scanner(policy_path)
    for batch in batches:
        texts = batch.column(text_column).to_pylist()
        flagged, categories, findings = score_texts(texts, scanner)
        arrays = list(batch.columns) + [
            pa.array(flagged, pa.bool_()),
            pa.array(categories, pa.list_(pa.string())),
            pa.array(findings, pa.list_(FINDING_TYPE)),
        ]
        yield pa.RecordBatch.from_arrays(arrays, schema=scored_schema(batch.schema))
