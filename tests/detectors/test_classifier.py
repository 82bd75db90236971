"""Classifier detector: the packaged model in batches, windows, thresholds; trained models."""

from __future__ import annotations

import csv

import pytest

from assay.classifier_training import main as train_main
from assay.detectors.classifier import ClassifierDetector, load_model, windows


@pytest.fixture(scope="module")
def builtin() -> ClassifierDetector:
    det = ClassifierDetector(
        "clf", "offensive_language", builtin="alt-profanity-check", threshold=0.8
    )
    det.setup()
    return det


def test_builtin_model_scores_in_one_batch(builtin: ClassifierDetector):
    texts = [
        "you are a fucking idiot",
        "the weather is lovely today",
        "",
        "shut up you stupid bitch",
    ]
    results = builtin.scan_batch(texts)
    assert [bool(r) for r in results] == [True, False, False, True]
    f = results[0][0]
    assert f.kind == "classifier" and 0.8 <= f.score <= 1.0
    assert (f.start, f.end) == (0, len(texts[0]))
    assert f.masked.startswith("classifier p=") and "idiot" not in f.masked


def test_threshold_is_respected(builtin: ClassifierDetector):
    text = "this is damn annoying"
    p = builtin.probabilities([text])[0]
    strict = ClassifierDetector(
        "c", "o", builtin="alt-profanity-check", threshold=min(1.0, p + 0.01)
    )
    loose = ClassifierDetector(
        "c", "o", builtin="alt-profanity-check", threshold=max(0.0, p - 0.01)
    )
    assert strict.scan(text) == [] and len(loose.scan(text)) == 1


def test_long_documents_are_scored_per_window():
    harmless = "The committee reviewed the annual budget and approved the new library hours. " * 40
    text = harmless + "fuck you, you worthless piece of shit. " + harmless
    det = ClassifierDetector(
        "c", "o", builtin="alt-profanity-check", threshold=0.8, window_chars=150
    )
    found = det.scan(text)
    assert found, "the offensive window must not be diluted by the harmless text around it"
    assert all("fuck" in text[f.start : f.end] for f in found)


def test_windows_cover_the_text_without_gaps():
    text = "word " * 500
    spans = windows(text, 300)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all(e - s <= 300 for s, e in spans)


def test_model_is_loaded_once_per_process():
    assert load_model("alt-profanity-check") is load_model("alt-profanity-check")


def test_training_writes_a_model_the_detector_loads(tmp_path):
    data = tmp_path / "train.csv"
    rows = [
        ("you are an idiot and a moron", "bad"),
        ("go to hell you jerk", "bad"),
        ("what a stupid idiot", "bad"),
    ]
    rows += [
        ("lovely weather for a walk", "ok"),
        ("the library opens at nine", "ok"),
        ("we had tea and cake", "ok"),
    ]
    with open(data, "w", newline="", encoding="utf-8-sig") as fh:  # a BOM, as real exports have
        w = csv.writer(fh)
        w.writerow(["body", "verdict"])
        w.writerows(rows * 5)
    model = tmp_path / "m.joblib"
    rc = train_main([str(data), "--text-col", "body", "--label-col", "verdict", "--positive-label", "bad",
                     "--out", str(model), "--eval", str(data)])  # fmt: skip
    assert rc == 0 and model.is_file()
    det = ClassifierDetector("c", "o", path=str(model), threshold=0.5)
    scores = det.probabilities(["you idiot moron", "tea at the library"])
    assert scores[0] > 0.5 > scores[1]


def test_training_rejects_missing_columns(tmp_path):
    data = tmp_path / "t.csv"
    data.write_text("a,b\nx,1\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="no column"):
        train_main(
            [
                str(data),
                "--text-col",
                "text",
                "--label-col",
                "b",
                "--positive-label",
                "1",
                "--out",
                str(tmp_path / "m"),
            ]
        )
