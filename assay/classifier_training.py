"""Train a TF-IDF + logistic-regression text classifier from a labelled CSV, for a policy.

    python -m assay.classifier_training data.csv --text-col TEXT --label-col label \\
        --positive-label 1 --out model.joblib [--analyzer char_wb] [--eval dev.csv]

The model file holds {"vectorizer", "model", "meta"} and is what a policy's
`type: classifier` detector loads with `path: model.joblib`. Character n-grams (the default)
work for any script, Chinese included; `--analyzer word` suits space-delimited languages.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path


def read_labelled(
    path: Path, text_col: str, label_col: str, positive: str
) -> tuple[list[str], list[int]]:
    """Texts and 0/1 labels from a CSV (BOM and any line ending tolerated)."""
    texts, labels = [], []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {text_col, label_col} - set(reader.fieldnames or [])
        if missing:
            raise SystemExit(
                f"{path}: no column(s) {sorted(missing)}; columns are {reader.fieldnames}"
            )
        for row in reader:
            text = row[text_col]
            if text is None or not text.strip():
                continue
            texts.append(text)
            labels.append(1 if str(row[label_col]).strip() == positive else 0)
    if len(set(labels)) < 2:
        raise SystemExit(
            f"{path}: labels must contain both the positive label {positive!r} and others"
        )
    return texts, labels


def train(texts: Sequence[str], labels: Sequence[int], analyzer: str = "char_wb", seed: int = 0):
    """(vectorizer, model) fitted on the texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    ngrams = (1, 3) if analyzer.startswith("char") else (1, 2)
    vectorizer = TfidfVectorizer(
        analyzer=analyzer, ngram_range=ngrams, min_df=2, sublinear_tf=True, max_features=400_000
    )
    X = vectorizer.fit_transform(texts)
    model = LogisticRegression(max_iter=2000, C=4.0, class_weight="balanced", random_state=seed)
    model.fit(X, list(labels))
    return vectorizer, model


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: train, optionally evaluate on a held-out CSV, write the joblib model."""
    import joblib

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("csv", type=Path, help="labelled training data (CSV with a header)")
    p.add_argument("--text-col", required=True)
    p.add_argument("--label-col", required=True)
    p.add_argument(
        "--positive-label", required=True, help="the label value that means 'in the category'"
    )
    p.add_argument("--out", type=Path, required=True, help="model file to write (.joblib)")
    p.add_argument("--analyzer", default="char_wb", choices=["char_wb", "char", "word"])
    p.add_argument(
        "--eval", type=Path, help="held-out CSV with the same columns: prints precision/recall"
    )
    p.add_argument("--threshold", type=float, default=0.5, help="threshold for the --eval figures")
    args = p.parse_args(argv)

    texts, labels = read_labelled(args.csv, args.text_col, args.label_col, args.positive_label)
    vectorizer, model = train(texts, labels, args.analyzer)
    meta = {
        "trained_on": args.csv.name,
        "train_sha256": hashlib.sha256(args.csv.read_bytes()).hexdigest(),
        "n_train": len(texts),
        "n_positive": int(sum(labels)),
        "analyzer": args.analyzer,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump({"vectorizer": vectorizer, "model": model, "meta": meta}, args.out, compress=3)
    print(f"model: {args.out}")
    print(f"n_train: {len(texts)}")
    if args.eval:
        ev_texts, ev_labels = read_labelled(
            args.eval, args.text_col, args.label_col, args.positive_label
        )
        probs = model.predict_proba(vectorizer.transform(ev_texts))[:, 1]
        pred = [int(p >= args.threshold) for p in probs]
        tp = sum(1 for y, q in zip(ev_labels, pred, strict=True) if y and q)
        fp = sum(1 for y, q in zip(ev_labels, pred, strict=True) if not y and q)
        fn = sum(1 for y, q in zip(ev_labels, pred, strict=True) if y and not q)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        print(f"eval_precision: {precision:.3f}")
        print(f"eval_recall: {recall:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
