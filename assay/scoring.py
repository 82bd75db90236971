"""Scoring inside Spark: the policy's detectors over Arrow batches of sampled documents.

The scanner (automata, models) is built once per Python worker by `cached_scanner`, never per
document or batch. Scoring only records findings; deciding happens in `assay.verdict`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa

from assay.detectors.base import FindingColumns, sorted_ranks

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


def score_arrays(
    texts: Sequence[str], scanner, finding_type: pa.StructType = FINDING_TYPE
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """`score_texts` as Arrow columns (flagged, categories, findings), built column by column.

    Same values as `pa.array(...)` over `score_texts`' lists, without an object per finding:
    the scanner's `FindingColumns` become the struct's fields, per-text counts the offsets.
    """
    found = scanner.scan_columns(texts)
    n = len(texts)
    counts = np.bincount(found.doc, minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    fields = [pa.array(getattr(found, f.name), f.type) for f in finding_type]
    structs = pa.StructArray.from_arrays(fields, fields=list(finding_type))
    cat_docs, cat_values = _categories(found)
    cat_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(cat_docs, minlength=n), out=cat_offsets[1:])
    return (
        pa.array(counts > 0, pa.bool_()),
        pa.ListArray.from_arrays(pa.array(cat_offsets), pa.array(cat_values, pa.string())),
        pa.ListArray.from_arrays(pa.array(offsets), structs),
    )


def _categories(found: FindingColumns) -> tuple[np.ndarray, list[str]]:
    """(text, category) pairs of the findings, once each, sorted by text then category."""
    names, ranks = sorted_ranks(found.category)
    if not names:
        return np.zeros(0, dtype=np.int64), []
    pairs = np.unique(found.doc * len(names) + ranks)
    return pairs // len(names), [names[r] for r in (pairs % len(names)).tolist()]


def score_partitions(
    batches: Iterator[pa.RecordBatch], policy_path: str | None, text_column: str = "text"
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: append score columns to each batch."""
    from assay.policy import cached_scanner

    scanner = cached_scanner(policy_path)
    for batch in batches:
        texts = batch.column(text_column).to_pylist()
        arrays = list(batch.columns) + list(score_arrays(texts, scanner))
        yield pa.RecordBatch.from_arrays(arrays, schema=scored_schema(batch.schema))


# Per-document attributes of the automated scan: evidence spans without the matched text.
ATTRIBUTE_FINDING = pa.struct([f for f in FINDING_TYPE if f.name != "match"])
ATTRIBUTE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("doc_id", pa.string()),
        ("shard", pa.int32()),
        ("locator", pa.int64()),
        ("flagged", pa.bool_()),
        ("categories", pa.list_(pa.string())),
        ("findings", pa.list_(ATTRIBUTE_FINDING)),
    ]
)
SCAN_BATCH = 512


def scan_shard(shard, settings) -> Iterator[pa.RecordBatch]:
    """Score the documents of a shard that fall in the seeded scan fraction (attributes only)."""
    import numpy as np

    from assay.batches import read_batches
    from assay.corpus import ShardReadError
    from assay.policy import cached_scanner
    from assay.sample import in_fraction_mask, scan_keys

    scanner = cached_scanner(settings.policy)
    try:
        for batch in read_batches(shard, settings):
            if not len(batch):
                continue
            if settings.scan_fraction >= 1.0:  # every document: no key to compute
                picked = np.arange(len(batch))
            else:
                chosen = np.zeros(len(batch), dtype=bool)
                for source, rows in batch.by_source():
                    keys = scan_keys(settings.seed, source, batch.doc_id.take(pa.array(rows)))
                    chosen[rows[in_fraction_mask(keys, settings.scan_fraction)]] = True
                picked = np.flatnonzero(chosen)
            for start in range(0, len(picked), SCAN_BATCH):
                yield _attributes(batch, picked[start : start + SCAN_BATCH], shard.index, scanner)
    except ShardReadError:
        pass  # the read pass reports the shard's error; the scan covers what could be read


def _attributes(batch, rows: np.ndarray, shard_index: int, scanner) -> pa.RecordBatch:
    flagged, categories, findings = score_arrays(
        _rows_of(batch.text, rows).to_pylist(), scanner, ATTRIBUTE_FINDING
    )
    return pa.RecordBatch.from_arrays(
        [
            _rows_of(batch.source, rows),
            _rows_of(batch.doc_id, rows),
            pa.array([shard_index] * len(rows), pa.int32()),
            pa.array(batch.locator[rows], pa.int64()),
            flagged,
            categories,
            findings,
        ],
        schema=ATTRIBUTE_SCHEMA,
    )


def _rows_of(column: pa.Array, rows: np.ndarray) -> pa.Array:
    """`column[rows]` for increasing rows: a zero-copy slice when they are a run (every row,
    when the scan takes the whole corpus)."""
    if rows[-1] - rows[0] + 1 == len(rows):
        return column.slice(int(rows[0]), len(rows))
    return column.take(pa.array(rows))
