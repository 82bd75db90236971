"""Great Expectations: validate a small metrics table against a checked-in suite; build Data Docs.

Suites are data: `expectations/<suite>.json`, in GX 1.x's suite format, with thresholds as
`{"$PARAMETER": name}` supplied at run time. Each run validates with its own file-backed GX
context inside the run folder, so concurrent runs never share a store.
"""

from __future__ import annotations

import html
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from assay.settings import REPO_ROOT

log = logging.getLogger(__name__)


def expectations_dir() -> Path:
    return Path(os.environ.get("ASSAY_EXPECTATIONS_DIR", REPO_ROOT / "expectations"))


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    failing: list[str] = field(default_factory=list)  # values of the index column that failed
    notes: str = ""


@dataclass
class ValidationOutcome:
    suite: str
    success: bool
    expectations: list[ExpectationOutcome]
    result_path: Path
    docs_index: Path

    @property
    def failing_keys(self) -> list[str]:
        return sorted({k for e in self.expectations for k in e.failing})

    def to_dict(self) -> dict:
        return {
            "suite": self.suite,
            "success": self.success,
            "expectations": [vars(e) for e in self.expectations],
            "result_path": str(self.result_path),
            "docs_index": str(self.docs_index),
        }


def load_suite(name: str) -> dict:
    path = expectations_dir() / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"expectation suite {path} not found; is ASSAY_EXPECTATIONS_DIR right?"
        )
    return json.loads(path.read_text())


def _context(gx_root: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from assay.datadocs import configure_site

    context = gx.get_context(mode="file", project_root_dir=str(gx_root))
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.variables.save()
    configure_site(context)  # Assay's per-source section on validation pages
    return context


def validate_table(
    table: pd.DataFrame,
    suite: str,
    parameters: dict,
    run_dir: Path,
    run_id: str,
    index_column: str = "source",
    docs_meta: dict | None = None,
) -> ValidationOutcome:
    """Validate `table` with expectations/<suite>.json; write the result JSON and Data Docs.

    `docs_meta` is stored in the result's meta for the Data Docs renderer (assay.datadocs).
    """
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    context = _context(run_dir / "gx")
    spec = load_suite(suite)
    gx_suite = context.suites.add_or_update(gx.ExpectationSuite(**spec))
    source = context.data_sources.add_or_update_pandas("assay")
    asset = (
        source.add_dataframe_asset(suite)
        if suite not in [a.name for a in source.assets]
        else source.get_asset(suite)
    )
    batch = asset.add_batch_definition_whole_dataframe(f"{suite}.batch")
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite, data=batch, suite=gx_suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=suite,
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="update_data_docs")],
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [index_column],
            },
        )
    )
    scalar, originals = _html_safe(
        table[[c for c in table.columns if not _is_nested(table[c])]], index_column
    )
    result = checkpoint.run(
        batch_parameters={"dataframe": scalar},
        expectation_parameters=parameters,
        run_id=RunIdentifier(run_name=run_id),
    )
    if docs_meta:
        from assay.datadocs import attach_meta

        attach_meta(context, result, docs_meta)
    validation = next(iter(result.run_results.values()))
    outcomes = [_outcome(r, index_column, originals) for r in validation.results]
    result_path = run_dir / f"validation.{suite}.json"
    result_path.write_text(
        json.dumps(validation.to_json_dict(), indent=1, sort_keys=True, default=str)
    )
    docs_index = run_dir / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    from assay.assets import localise_site

    localise_site(docs_index.parent)  # CSS/JS from the run folder, no CDN
    log.info("suite %s: %s", suite, "passed" if validation.success else "FAILED")
    return ValidationOutcome(suite, bool(validation.success), outcomes, result_path, docs_index)


def _is_nested(column: pd.Series) -> bool:
    return column.map(lambda v: isinstance(v, dict | list)).any() if len(column) else False


def _html_safe(table: pd.DataFrame, index_column: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """Text columns HTML-escaped: GX Data Docs emit index values as raw HTML (a source named
    `<script>` would run). Returns the table and escaped -> original index values."""
    out = table.copy()
    originals: dict[str, str] = {}
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(lambda v: html.escape(v) if isinstance(v, str) else v)
    if index_column in table.columns:
        originals = {html.escape(v): v for v in table[index_column] if isinstance(v, str)}
    return out, originals


def _outcome(
    result, index_column: str, originals: dict[str, str] | None = None
) -> ExpectationOutcome:
    config = result.expectation_config
    unexpected = (result.result or {}).get("unexpected_index_list") or []
    back = originals or {}
    failing = sorted(
        {
            back.get(str(u.get(index_column)), str(u.get(index_column)))
            for u in unexpected
            if isinstance(u, dict)
        }
    )
    return ExpectationOutcome(
        expectation=config.type,
        column=config.kwargs.get("column") or config.kwargs.get("column_A"),
        success=bool(result.success),
        failing=failing,
        notes=(config.meta or {}).get("notes", "") if config.meta else "",
    )
