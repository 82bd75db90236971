"""One place that turns Params, CLI flags and environment into a run configuration."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}$")


class SettingsError(ValueError):
    """A setting is missing or out of range; the message names it and the fix."""


@dataclass(frozen=True)
class AuditSettings:
    """Everything one corpus audit needs; serialisable so the DAG can hand it to spark-submit."""

    corpus: str
    out: str
    run_id: str = ""
    sample_size: int = 4000
    seed: int = 0
    max_flagged_rate: float = 0.05
    max_rejected_rate: float = 0.05
    text_field: str = "text"
    id_field: str = "id"
    source_field: str = "source"
    policy: str | None = None
    confidence: float = 0.95
    interval_method: str = "clopper-pearson"
    decision_rule: str = "interval"
    on_shard_error: str = "fail"
    sampling_plan: str = "fixed"
    review_sample_size: int = 4000
    scan_fraction: float = 0.0
    min_review_acceptable: float = 0.96
    min_scan_acceptable: float = 0.98
    sprt_alpha: float = 0.025
    sprt_beta: float = 0.025
    sprt_margin: float = 0.2
    sprt_batch: int = 200
    max_document_bytes: int = 64 * 1024 * 1024
    shard_bytes: int = 128 * 1024 * 1024
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    source_layout: str = "folder"  # or "first_segment"; a "source=<name>/" folder always names it
    aws_conn_id: str = ""  # Airflow connection for s3:// (empty: aws_default if defined, else env)
    # Reuse unchanged shards' read state from the last incremental run (assay.incremental).
    incremental: bool = False
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.run_id:
            object.__setattr__(self, "run_id", new_run_id())
        object.__setattr__(self, "include", tuple(self.include))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        self.check()

    def check(self) -> None:
        """Refuse values no audit can run with, naming the setting."""
        _check_types(self)
        if not self.corpus:
            raise SettingsError("corpus: give a local path or s3:// URI of the corpus")
        if not self.out:
            raise SettingsError("out: give the output folder")
        if not RUN_ID_PATTERN.match(self.run_id):
            raise SettingsError(
                f"run_id {self.run_id!r}: use letters, digits and _.:+- only (max 128)"
            )
        if not 1 <= self.sample_size <= 10_000_000:
            raise SettingsError(f"sample_size {self.sample_size}: must be 1..10,000,000")
        if not 0 <= self.seed < 2**63:
            raise SettingsError(f"seed {self.seed}: must be 0..2^63-1")
        for name in ("max_flagged_rate", "max_rejected_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SettingsError(f"{name} {value}: must be a fraction between 0 and 1")
        if not 0.5 <= self.confidence < 1.0:
            raise SettingsError(f"confidence {self.confidence}: must be in [0.5, 1)")
        choices = {
            "interval_method": ("clopper-pearson", "wilson"),
            "decision_rule": ("interval", "naive"),
            "on_shard_error": ("fail", "report"),
            "source_layout": ("folder", "first_segment"),
            "sampling_plan": ("fixed", "sequential"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise SettingsError(f"{name} {getattr(self, name)!r}: choose one of {allowed}")
        if not (
            0 < self.sprt_alpha < 0.5 and 0 < self.sprt_beta < 0.5 and 0 < self.sprt_margin < 1
        ):
            raise SettingsError(
                "sprt_alpha, sprt_beta must be in (0, 0.5) and sprt_margin in (0, 1)"
            )
        if not 0 <= self.review_sample_size <= 1_000_000:
            raise SettingsError(
                f"review_sample_size {self.review_sample_size}: must be 0..1,000,000"
            )
        for name in ("scan_fraction", "min_review_acceptable", "min_scan_acceptable"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SettingsError(
                    f"{name} {getattr(self, name)}: must be a fraction between 0 and 1"
                )
        if self.sprt_batch < 1:
            raise SettingsError(f"sprt_batch {self.sprt_batch}: must be at least 1")
        for name in ("text_field", "id_field"):
            if not getattr(self, name):
                raise SettingsError(f"{name}: must not be empty")
        _check_roots(self)

    @property
    def run_dir(self) -> Path:
        return Path(self.out)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AuditSettings:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"unknown settings {unknown}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_params(cls, params: dict, out_root: str | None = None) -> AuditSettings:
        """Build settings from the DAG's Params (the trigger form); empty strings mean 'unset'."""
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in params.items() if k in known and v not in ("", None)}
        if "out" not in data:
            root = str(params.get("output_root") or out_root or REPO_ROOT / "runs")
            data.setdefault("run_id", new_run_id())
            data["out"] = (
                f"{root.rstrip('/')}/{data['run_id']}"
                if root.startswith("s3://")
                else str(Path(root) / data["run_id"])
            )
        return cls(**data)


_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str | None": (str, type(None)),
    "tuple[str, ...]": (tuple,),
    "dict": (dict,),
}


def _check_types(settings: AuditSettings) -> None:
    """Every setting has its declared type (Params and JSON can carry '100' for 100)."""
    for f in fields(settings):
        allowed = _TYPES.get(str(f.type))
        value = getattr(settings, f.name)
        if allowed is None:
            continue
        wrong = not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)
        if f.type == "tuple[str, ...]" and not wrong:
            wrong = not all(isinstance(v, str) for v in value)
        if wrong:
            raise SettingsError(f"{f.name} {value!r}: must be of type {f.type}")
        if isinstance(value, str) and "\x00" in value:
            raise SettingsError(f"{f.name}: must not contain NUL characters")


def _check_roots(settings: AuditSettings) -> None:
    """Corpus and output inside ASSAY_CORPUS_ROOTS / ASSAY_OUTPUT_ROOT where those are set."""
    from assay.paths import PathEscapeError, check_corpus_path, check_output_path

    try:
        check_corpus_path(settings.corpus)
        check_output_path(settings.out)
    except PathEscapeError as exc:
        raise SettingsError(str(exc)) from None


def new_run_id(now: datetime | None = None) -> str:
    """A sortable run id: UTC time to the microsecond."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ")
