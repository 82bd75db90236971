"""Scoring inside Spark: the policy's detectors over Arrow batches of sampled documents.

The scanner (automata, models) is built once per Python worker by `cached_scanner`, never per
document or batch. Scoring only records findings; deciding happens in `assay.verdict`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import accumulate
from operator import attrgetter

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


def score_arrays(
    texts: Sequence[str], scanner, finding_type: pa.StructType = FINDING_TYPE
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """`score_texts` as Arrow columns (flagged, categories, findings), built column by column.

    Same values as `pa.array(...)` over `score_texts`' lists, without a dict per finding:
    each struct field is one flat list read off the findings, the lists are offsets.
    """
    results = scanner.scan_batch(texts)
    offsets = list(accumulate(map(len, results), initial=0))
    flat = [f for found in results for f in found]
    fields = [pa.array(list(map(attrgetter(f.name), flat)), f.type) for f in finding_type]
    structs = pa.StructArray.from_arrays(fields, fields=list(finding_type))
    categories = [sorted({f.category for f in found}) if found else [] for found in results]
    cat_offsets = list(accumulate(map(len, categories), initial=0))
    cat_values = pa.array([c for cats in categories for c in cats], pa.string())
    return (
        pa.array([bool(found) for found in results], pa.bool_()),
        pa.ListArray.from_arrays(pa.array(cat_offsets, pa.int32()), cat_values),
        pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), structs),
    )


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
            chosen = np.zeros(len(batch), dtype=bool)
            for source, rows in batch.by_source():
                keys = scan_keys(settings.seed, source, batch.doc_id.take(pa.array(rows)))
                chosen[rows[in_fraction_mask(keys, settings.scan_fraction)]] = True
            picked = np.flatnonzero(chosen)
            for start in range(0, len(picked), SCAN_BATCH):
                yield _attributes(batch, picked[start : start + SCAN_BATCH], shard.index, scanner)
    except ShardReadError:
        pass  # the read pass reports the shard's error; the scan covers what could be read


def _attributes(batch, rows, shard_index: int, scanner) -> pa.RecordBatch:
    take = pa.array(rows)
    flagged, categories, findings = score_arrays(
        batch.text.take(take).to_pylist(), scanner, ATTRIBUTE_FINDING
    )
    return pa.RecordBatch.from_arrays(
        [
            batch.source.take(take),
            batch.doc_id.take(take),
            pa.array([shard_index] * len(rows), pa.int32()),
            pa.array(batch.locator[rows], pa.int64()),
            flagged,
            categories,
            findings,
        ],
        schema=ATTRIBUTE_SCHEMA,
    )
