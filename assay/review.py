"""Human review of the corpus-level sample: export a masked queue, import labels, decide.

The seeded sampler picks at least 4000 documents over the whole corpus; this module writes them
as a review queue (CSV for spreadsheets, JSONL for tools) with a masked excerpt, the detectors'
masked findings and an empty `label` column. Reviewers fill `label` with "acceptable" or
"problematic"; `import_labels` reads the file back and refuses unknown labels or ids, and
`review_verdict` checks the acceptable share against the policy's minimum (96% by default) with
a confidence interval.

Nothing sensitive is written in clear: every finding's span is replaced by its masked form
before the excerpt is cut, so no window can show part of a secret. Detectors can miss PII; the
queue is still review material, to be kept where the samples output is kept.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from hashlib import blake2b
from pathlib import Path

import pandas as pd

from assay.decision import decide_at_least
from assay.statistics import proportion

LABELS = ("acceptable", "problematic")
MIN_ACCEPTABLE = 0.96
EXCERPT_CHARS = 400
QUEUE_COLUMNS = ("review_id", "source", "doc_id", "flagged", "excerpt", "findings", "label")
FINDING_KEYS = ("detector", "category", "kind", "masked")
_UNLOCATED_KINDS = ("classifier",)  # document-level scores: no value to hide in the text
_WITHHELD = "[excerpt withheld: a finding has no valid span]"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SPACE = re.compile(r"\s+")
_MAX_LISTED = 20


class LabelError(ValueError):
    """A filled review file cannot be used; the message lists what is wrong."""


def review_id(source: str, doc_id: str) -> str:
    """Stable id of a sampled document: the same source and doc_id give the same id."""
    return blake2b(f"{source}\x1f{doc_id}".encode(), digest_size=8).hexdigest()


def _replacement(finding: Mapping) -> str:
    masked = str(finding.get("masked") or "")
    category = str(finding.get("category") or "finding")
    if masked and len(masked) <= 40 and "\n" not in masked and "]" not in masked:
        return f"[{category}: {masked}]"
    return f"[{category}]"


def mask_spans(text: str, findings: Sequence[Mapping]) -> tuple[str, int] | None:
    """Text with every finding's span replaced by its masked form, and where the first one is.

    Overlapping spans are merged and shown once. Returns None when a located finding has no
    valid span (the excerpt must then be withheld: its value could not be hidden).
    """
    spans = []
    for f in findings:
        if f.get("kind") in _UNLOCATED_KINDS:
            continue
        start, end = f.get("start"), f.get("end")
        if start is None or end is None or not 0 <= int(start) < int(end) <= len(text):
            return None
        spans.append((int(start), int(end), _replacement(f)))
    spans.sort()
    merged: list[list] = []
    for start, end, token in spans:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            if end - start > last[3]:  # the widest finding names the merged span
                last[2], last[3] = token, end - start
            last[1] = max(last[1], end)
        else:
            merged.append([start, end, token, end - start])
    pieces, cursor, first = [], 0, -1
    for start, end, token, _ in merged:
        pieces.append(text[cursor:start])
        if first < 0:
            first = sum(len(p) for p in pieces)
        pieces.append(token)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces), max(first, 0)


def excerpt(text: str, findings: Sequence[Mapping], max_chars: int = EXCERPT_CHARS) -> str:
    """A masked window of at most max_chars (plus ellipses) around the first finding."""
    masked = mask_spans(text or "", findings)
    if masked is None:
        return _WITHHELD
    body, first = masked
    start = max(0, min(first - max_chars // 3, len(body) - max_chars))
    window = _SPACE.sub(" ", body[start : start + max_chars]).strip()
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + max_chars < len(body) else ""
    return prefix + window + suffix


def _findings_list(value) -> list[dict]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    return [dict(f) for f in value]


def review_rows(sample: pd.DataFrame, max_chars: int = EXCERPT_CHARS) -> list[dict]:
    """One queue row per sampled document, in the order given (the sampler's order)."""
    missing = {"doc_id", "source", "text", "findings"} - set(sample.columns)
    if missing:
        raise ValueError(f"review sample lacks columns: {sorted(missing)}")
    rows = []
    for doc_id, source, text, findings in zip(
        sample["doc_id"], sample["source"], sample["text"], sample["findings"], strict=True
    ):
        found = _findings_list(findings)
        rows.append(
            {
                "review_id": review_id(str(source), str(doc_id)),
                "source": str(source),
                "doc_id": str(doc_id),
                "flagged": bool(found),
                "excerpt": excerpt(text, found, max_chars),
                "findings": [{k: f.get(k, "") for k in FINDING_KEYS} for f in found],
                "label": "",
            }
        )
    ids = [r["review_id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError("review sample has duplicate (source, doc_id) pairs")
    return rows


def _csv_cell(value) -> str:
    """Neutralise spreadsheet formulas: a cell starting with = + - @ is prefixed with '."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _uncell(text: str) -> str:
    """Undo `_csv_cell`'s formula guard."""
    return text[1:] if text.startswith("'") and text[1:2] in _FORMULA_START else text


def export_review_queue(
    sample: pd.DataFrame, out_dir: str | Path, name: str = "review_queue"
) -> dict:
    """Write <name>.csv and <name>.jsonl under out_dir; returns their paths and the row count."""
    rows = review_rows(sample)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, jsonl_path = out / f"{name}.csv", out / f"{name}.jsonl"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(QUEUE_COLUMNS)
        for row in rows:
            writer.writerow([_csv_cell(row[c]) for c in QUEUE_COLUMNS])
    with jsonl_path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {"csv": str(csv_path), "jsonl": str(jsonl_path), "rows": len(rows)}


def _read_records(path: str | Path) -> list[dict]:
    path = Path(path)
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return list(csv.DictReader(fh))
    raise LabelError(f"{path}: expected a .csv or .jsonl review file")


def _listing(items: Iterable) -> str:
    items = sorted(set(map(str, items)))
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" … and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def import_labels(
    path: str | Path, queue: str | Path | None = None, allow_unlabelled: bool = False
) -> pd.DataFrame:
    """Read a filled review file: columns review_id, source, flagged, label (normalised).

    With `queue` (the exported file), ids not in it are an error and queue rows missing from
    the filled file count as unlabelled. Blank labels are an error unless allow_unlabelled, in
    which case they are dropped. Raises LabelError listing every offending id or label.
    """
    records = _read_records(path)
    if records and not {"review_id", "label"} <= set(records[0]):
        raise LabelError(f"{path}: needs columns review_id and label")
    ids = [str(r.get("review_id") or "").strip() for r in records]
    problems = []
    duplicates = {i for i in ids if ids.count(i) > 1} if len(set(ids)) != len(ids) else set()
    if duplicates:
        problems.append(f"duplicate review_id: {_listing(duplicates)}")
    expected: dict[str, dict] = {}
    if queue is not None:
        expected = {str(r["review_id"]): r for r in _read_records(queue)}
        unknown = set(ids) - set(expected)
        if unknown:
            problems.append(f"review_id not in the queue: {_listing(unknown)}")
    labels = [str(r.get("label") or "").strip().lower() for r in records]
    bad = {
        f"{lab!r} ({i})" for i, lab in zip(ids, labels, strict=True) if lab and lab not in LABELS
    }
    if bad:
        problems.append(f"unknown label (use {' or '.join(LABELS)}): {_listing(bad)}")
    blank = {i for i, lab in zip(ids, labels, strict=True) if not lab}
    blank |= set(expected) - set(ids)
    if blank and not allow_unlabelled:
        problems.append(f"{len(blank)} unlabelled: {_listing(blank)}")
    if problems:
        raise LabelError(f"{path}: " + "; ".join(problems))
    rows = []
    for rec, rid, lab in zip(records, ids, labels, strict=True):
        if not lab:
            continue
        source = expected.get(rid, rec).get("source", "")
        flagged = expected.get(rid, rec).get("flagged", "")
        rows.append(
            {
                "review_id": rid,
                "source": _uncell(str(source)),
                "flagged": flagged if isinstance(flagged, bool) else str(flagged) == "true",
                "label": lab,
            }
        )
    out = pd.DataFrame(rows, columns=["review_id", "source", "flagged", "label"])
    out.attrs["unlabelled"] = len(blank)
    return out


def review_verdict(
    labels: pd.DataFrame,
    threshold: float = MIN_ACCEPTABLE,
    confidence: float = 0.95,
    rule: str = "interval",
) -> dict:
    """Acceptable share of the reviewed sample, its interval and the verdict, overall and by source."""

    def judged(frame: pd.DataFrame) -> dict:
        p = proportion(int((frame["label"] == "acceptable").sum()), len(frame), confidence)
        return {"acceptable": p.to_dict(), "decision": decide_at_least(p, threshold, rule)}

    result = {"threshold": threshold, "rule": rule, **judged(labels)}
    result["unlabelled"] = int(labels.attrs.get("unlabelled", 0))
    result["by_source"] = {str(s): judged(g) for s, g in labels.groupby("source", sort=True)}
    return result


def detector_accuracy(labels: pd.DataFrame, confidence: float = 0.95) -> dict:
    """Sensitivity and specificity of the detectors, measured against the human labels.

    sensitivity = flagged share of documents labelled problematic; specificity = unflagged
    share of those labelled acceptable. Feed them to `assay.statistics.rogan_gladen`.
    """
    bad = labels[labels["label"] == "problematic"]
    good = labels[labels["label"] == "acceptable"]
    return {
        "sensitivity": proportion(int(bad["flagged"].sum()), len(bad), confidence).to_dict(),
        "specificity": proportion(int((~good["flagged"]).sum()), len(good), confidence).to_dict(),
    }
