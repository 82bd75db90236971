"""Accuracy of the default policy's detectors on the labelled data in ../shared/data.

    .venv/bin/python bench/bench_accuracy.py [--data ../shared/data] [--out bench/out]

Prints one `name: value` line per figure:
- PII precision/recall per entity type on pii_presidio_synth (span overlap, same type);
- offensive-language precision/recall/F1 on davidson (offensive + hate vs neither) and on
  COLD dev (Chinese) for the lexicon alone, the classifier alone and both combined (either
  fires); on COLD the English built-in classifier is reported, and a character n-gram model
  trained on COLD train with `assay.classifier_training` (written under --out, not committed);
- document-level sensitivity/specificity per category (`detector_error_*`), the figures
  that go into the policy's `detector_error` for Rogan-Gladen correction.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assay.detectors.classifier import ClassifierDetector  # noqa: E402
from assay.policy import load_policy  # noqa: E402

PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "ip",
    "US_SSN": "us_ssn",
}


def _kind_group(kind: str) -> str:
    return "ip" if kind in ("ipv4", "ipv6") else kind


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * p * r / (p + r) if tp and p + r else 0.0
    return p, r, f1


def pii_accuracy(data: Path, scanner) -> dict[str, float]:
    """Per-entity precision/recall and document-level Se/Sp on the Presidio synthetic set."""
    records = json.loads((data / "pii_presidio_synth" / "synth_dataset_v2.dev.json").read_text())
    pii = [d for d in scanner.detectors if d.category == "personal_data"]
    tp_pred, n_pred, tp_gold, n_gold = (defaultdict(int) for _ in range(4))
    doc = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for r in records:
        text = r["full_text"]
        gold = [
            (PRESIDIO_TYPES[s["entity_type"]], s["start_position"], s["end_position"])
            for s in r["spans"]
            if s["entity_type"] in PRESIDIO_TYPES
        ]
        found = [(_kind_group(f.kind), f.start, f.end) for d in pii for f in d.scan(text)]
        for k, s, e in found:
            n_pred[k] += 1
            tp_pred[k] += any(gk == k and s < ge and gs < e for gk, gs, ge in gold)
        for gk, gs, ge in gold:
            n_gold[gk] += 1
            tp_gold[gk] += any(k == gk and s < ge and gs < e for k, s, e in found)
        key = ("t" if bool(found) == bool(gold) else "f") + ("p" if found else "n")
        doc[key] += 1
    out = {}
    for k in sorted(set(PRESIDIO_TYPES.values())):
        out[f"pii_{k}_precision"] = tp_pred[k] / n_pred[k] if n_pred[k] else float("nan")
        out[f"pii_{k}_recall"] = tp_gold[k] / n_gold[k] if n_gold[k] else float("nan")
        out[f"pii_{k}_n_gold"] = n_gold[k]
        out[f"pii_{k}_n_pred"] = n_pred[k]
    out["detector_error_personal_data_sensitivity"] = doc["tp"] / (doc["tp"] + doc["fn"])
    out["detector_error_personal_data_specificity"] = doc["tn"] / (doc["tn"] + doc["fp"])
    out["pii_documents"] = len(records)
    return out


def _binary(name: str, y: list[int], pred: list[bool]) -> dict[str, float]:
    tp = sum(1 for a, b in zip(y, pred, strict=True) if a and b)
    fp = sum(1 for a, b in zip(y, pred, strict=True) if not a and b)
    fn = sum(1 for a, b in zip(y, pred, strict=True) if a and not b)
    tn = len(y) - tp - fp - fn
    p, r, f1 = _prf(tp, fp, fn)
    return {
        f"{name}_precision": p,
        f"{name}_recall": r,
        f"{name}_f1": f1,
        f"{name}_sensitivity": r,
        f"{name}_specificity": tn / (tn + fp) if tn + fp else float("nan"),
    }


def offensive_accuracy(
    name: str, texts: list[str], y: list[int], lexicon, classifier
) -> dict[str, float]:
    """Lexicon alone, classifier alone, combined (either fires)."""
    lex = [bool(lexicon.scan(t)) for t in texts]
    clf = [bool(f) for f in classifier.scan_batch(texts)]
    out = {f"{name}_documents": len(texts), f"{name}_positive_share": sum(y) / len(y)}
    out |= _binary(f"{name}_lexicon", y, lex)
    out |= _binary(f"{name}_classifier", y, clf)
    out |= _binary(f"{name}_combined", y, [a or b for a, b in zip(lex, clf, strict=True)])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    p.add_argument("--policy", default=None, help="policy to measure (default: the packaged one)")
    args = p.parse_args(argv)
    if not args.data.is_dir():
        print(f"skipped: no data at {args.data}")
        return 0
    policy = load_policy(args.policy)
    scanner = policy.scanner()
    by_type = {type(d).__name__: d for d in scanner.detectors if d.category == "offensive_language"}
    lexicon, classifier = by_type["LexiconDetector"], by_type["ClassifierDetector"]
    print(f"policy_hash: {policy.hash}")
    results: dict[str, float] = {}
    results |= pii_accuracy(args.data, scanner)

    dav = pd.read_csv(args.data / "davidson_hate_offensive" / "labeled_data.dev.csv")
    results |= offensive_accuracy(
        "davidson",
        dav["tweet"].astype(str).tolist(),
        [int(c != 2) for c in dav["class"]],
        lexicon,
        classifier,
    )
    results["detector_error_offensive_language_sensitivity"] = results[
        "davidson_combined_sensitivity"
    ]
    results["detector_error_offensive_language_specificity"] = results[
        "davidson_combined_specificity"
    ]

    cold_dev = pd.read_csv(args.data / "cold_zh_offensive" / "dev.csv", encoding="utf-8-sig")
    texts, y = cold_dev["TEXT"].astype(str).tolist(), [int(v == 1) for v in cold_dev["label"]]
    results |= offensive_accuracy("cold_builtin", texts, y, lexicon, classifier)
    model = args.out / "cold_char_lr.joblib"
    from assay.classifier_training import main as train_main

    train_main([str(args.data / "cold_zh_offensive" / "train.csv"), "--text-col", "TEXT", "--label-col", "label",
                "--positive-label", "1", "--out", str(model)])  # fmt: skip
    trained = ClassifierDetector(
        "cold_classifier", "offensive_language", path=str(model), threshold=0.5
    )
    results |= offensive_accuracy("cold", texts, y, lexicon, trained)

    for k, v in results.items():
        print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
