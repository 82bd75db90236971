"""Review queue: masked export, label import with validation, verdict on the labels."""

import csv
import json

import pandas as pd
import pytest

from assay.review import (
    LabelError,
    detector_accuracy,
    excerpt,
    export_review_queue,
    import_labels,
    mask_spans,
    review_id,
    review_verdict,
)

EMAIL = "jane.roe@example.org"
KEY = "AKIAIOSFODNN7EXAMPLE"


def _finding(text, value, category, kind, masked, detector="pii"):
    start = text.index(value)
    return {
        "detector": detector,
        "category": category,
        "kind": kind,
        "start": start,
        "end": start + len(value),
        "match": value,
        "masked": masked,
        "score": 1.0,
    }


def _sample() -> pd.DataFrame:
    t1 = "Contact " + EMAIL + " about the invoice. " + "filler " * 200 + "key " + KEY
    t2 = '=HYPERLINK("http://x") plain text, nothing found'
    t3 = "a perfectly clean document"
    return pd.DataFrame(
        {
            "doc_id": ["d1", "d2", "d3"],
            "source": ["web", "web", "-forum"],
            "text": [t1, t2, t3],
            "findings": [
                [
                    _finding(t1, EMAIL, "pii", "email", "j***@***.org"),
                    _finding(t1, KEY, "secret", "aws_access_key", "AKIA****", "secrets"),
                ],
                [],
                None,
            ],
        }
    )


def test_mask_spans_merges_overlaps_and_hides_values():
    text = "id 123-45-6789 end"
    f1 = {"start": 3, "end": 14, "category": "pii", "masked": "***-**-6789", "kind": "ssn"}
    f2 = {"start": 7, "end": 9, "category": "pii", "masked": "**", "kind": "x"}
    masked, first = mask_spans(text, [f2, f1])
    assert masked == "id [pii: ***-**-6789] end" and first == 3
    assert "45" not in masked
    assert mask_spans(text, [{"start": 3, "end": 99, "kind": "ssn"}]) is None


def test_excerpt_is_capped_and_withheld_when_unlocatable():
    text = "x" * 1000 + " secret=" + KEY + " " + "y" * 1000
    f = _finding(text, KEY, "secret", "aws_access_key", "AKIA****")
    ex = excerpt(text, [f], max_chars=120)
    assert KEY not in ex and "[secret: AKIA****]" in ex
    assert ex.startswith("…") and ex.endswith("…") and len(ex) <= 122
    assert excerpt(text, [{"kind": "email", "category": "pii"}]).startswith("[excerpt withheld")
    doc_level = {"kind": "classifier", "category": "offensive", "start": 0, "end": len(text)}
    assert excerpt("short text", [doc_level]) == "short text"


def test_export_masks_and_writes_both_formats(tmp_path):
    paths = export_review_queue(_sample(), tmp_path)
    assert paths["rows"] == 3
    raw = (tmp_path / "review_queue.csv").read_text() + (
        tmp_path / "review_queue.jsonl"
    ).read_text()
    assert EMAIL not in raw and KEY not in raw
    assert "j***@***.org" in raw
    rows = [json.loads(line) for line in (tmp_path / "review_queue.jsonl").read_text().splitlines()]
    assert [r["review_id"] for r in rows] == [
        review_id("web", "d1"),
        review_id("web", "d2"),
        review_id("-forum", "d3"),
    ]
    assert rows[0]["findings"][0] == {
        "detector": "pii",
        "category": "pii",
        "kind": "email",
        "masked": "j***@***.org",
    }
    assert "match" not in rows[0]["findings"][0] and all(r["label"] == "" for r in rows)
    assert rows[0]["flagged"] and not rows[2]["flagged"]
    with (tmp_path / "review_queue.csv").open(newline="") as fh:
        cells = list(csv.DictReader(fh))
    assert cells[1]["excerpt"].startswith("'=HYPERLINK")  # no live formula in a spreadsheet
    assert cells[2]["source"] == "'-forum"
    assert review_id("web", "d1") == review_id("web", "d1") != review_id("web2", "d1")


def _fill(path, labels):
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row, label in zip(rows, labels, strict=True):
        row["label"] = label
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_label_round_trip_csv_and_jsonl(tmp_path):
    export_review_queue(_sample(), tmp_path)
    queue = tmp_path / "review_queue.csv"
    filled = tmp_path / "filled.csv"
    filled.write_text(queue.read_text())
    _fill(filled, ["Problematic ", "acceptable", "ACCEPTABLE"])
    labels = import_labels(filled, queue=queue)
    assert list(labels["label"]) == ["problematic", "acceptable", "acceptable"]
    assert list(labels["source"]) == ["web", "web", "-forum"]
    assert list(labels["flagged"]) == [True, False, False]
    jsonl = tmp_path / "filled.jsonl"
    rows = [json.loads(x) for x in (tmp_path / "review_queue.jsonl").read_text().splitlines()]
    for r, lab in zip(rows, ["problematic", "acceptable", "acceptable"], strict=True):
        r["label"] = lab
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert import_labels(jsonl, queue=tmp_path / "review_queue.jsonl").equals(labels)


def test_label_import_lists_every_problem(tmp_path):
    export_review_queue(_sample(), tmp_path)
    queue = tmp_path / "review_queue.csv"
    filled = tmp_path / "filled.csv"
    filled.write_text(queue.read_text().replace(review_id("web", "d2"), "ffff0000ffff0000"))
    _fill(filled, ["ok", "acceptable", ""])
    with pytest.raises(LabelError) as err:
        import_labels(filled, queue=queue)
    message = str(err.value)
    assert "'ok'" in message and "ffff0000ffff0000" in message
    assert "unlabelled" in message and review_id("-forum", "d3") in message
    _fill(filled, ["acceptable", "acceptable", ""])
    with pytest.raises(LabelError, match="not in the queue"):
        import_labels(filled, queue=queue, allow_unlabelled=True)
    with pytest.raises(LabelError, match="csv or .jsonl"):
        import_labels(tmp_path / "labels.xlsx")


def test_review_verdict_and_detector_accuracy():
    n = 4000
    labels = pd.DataFrame(
        {
            "review_id": [str(i) for i in range(n)],
            "source": ["a" if i % 2 else "b" for i in range(n)],
            "flagged": [i < 60 or 3990 <= i for i in range(n)],
            "label": ["problematic" if i < 80 else "acceptable" for i in range(n)],
        }
    )
    verdict = review_verdict(labels)
    assert verdict["acceptable"]["rate"] == pytest.approx(0.98)
    assert verdict["acceptable"]["low"] > 0.96 and verdict["decision"] == "pass"
    assert set(verdict["by_source"]) == {"a", "b"}
    worse = labels.assign(label=["problematic" if i < 200 else "acceptable" for i in range(n)])
    assert review_verdict(worse)["decision"] == "fail"  # 95% acceptable, high < 96%
    accuracy = detector_accuracy(labels)
    assert accuracy["sensitivity"]["rate"] == pytest.approx(60 / 80)
    assert accuracy["specificity"]["rate"] == pytest.approx(1 - 10 / 3920)
