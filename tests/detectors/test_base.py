"""FindingColumns: findings as columns convert both ways and sort like the per-text lists."""

from __future__ import annotations

import random

import numpy as np

from assay.detectors.base import Finding, FindingColumns


def _random_findings(n_texts: int, seed: int) -> list[list[Finding]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n_texts):
        found = []
        for _ in range(rng.choice([0, 0, 1, 3, 8])):
            s = rng.randint(0, 5)  # few positions: many ties on (start, end, detector)
            found.append(
                Finding(
                    rng.choice(["pii", "lexicon", "b", "a"]), rng.choice(["x", "y"]), s,
                    s + rng.randint(1, 3), f"m{rng.random()}", "*", rng.choice(["k1", "k2"]),
                    rng.random(),
                )
            )  # fmt: skip
        out.append(found)
    return out


def test_columns_round_trip_to_the_same_findings():
    per_text = _random_findings(50, seed=1)
    cols = FindingColumns.of(per_text)
    assert len(cols) == sum(map(len, per_text))
    assert cols.to_lists(len(per_text)) == per_text
    assert FindingColumns.of([[], []]).to_lists(2) == [[], []]


def test_text_order_is_the_stable_sort_of_each_texts_findings():
    per_text = _random_findings(200, seed=2)
    want = [sorted(found, key=lambda f: (f.start, f.end, f.detector)) for found in per_text]
    shuffled = FindingColumns.of(per_text)
    assert shuffled.in_text_order().to_lists(len(per_text)) == want
    # rows arriving detector by detector (as the scanner concatenates them) sort the same way
    by_detector = FindingColumns.concat(
        [
            FindingColumns.of([[f for f in found if f.detector == d] for found in per_text])
            for d in ("pii", "lexicon", "b", "a")
        ]
    )
    assert by_detector.in_text_order().to_lists(len(per_text)) == [
        sorted(
            sorted(found, key=lambda f: ("pii", "lexicon", "b", "a").index(f.detector)),
            key=lambda f: (f.start, f.end, f.detector),
        )
        for found in per_text
    ]


def test_take_and_concat_keep_rows_aligned():
    cols = FindingColumns.of(_random_findings(30, seed=3))
    rows = np.arange(len(cols))[::-1]
    back = cols.take(rows)
    assert back.match == cols.match[::-1]
    assert back.doc.tolist() == cols.doc.tolist()[::-1]
    both = FindingColumns.concat([cols, FindingColumns.empty(), back])
    assert len(both) == 2 * len(cols)
    assert both.kind == cols.kind + back.kind
    assert both.score.tolist() == cols.score.tolist() + back.score.tolist()
