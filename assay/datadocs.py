"""Data Docs that show what a reviewer needs: a per-source section on each validation page.

Stock GX pages list expectations; they cannot show a source's counts, interval, decision, the
categories behind it or masked evidence. `AssayValidationResultsPageRenderer` (configured as the
validations renderer of every run's Data Docs site by `configure_site`) adds a "Sources" section
built from the validation result's `meta["assay_sources"]`, which `attach_meta` stores with the
result, so a rebuilt site (the S3 output root's combined Data Docs) shows the same figures.
Every value is HTML-escaped here: GX's table template inserts cell strings as raw HTML.
"""

from __future__ import annotations

import html
import logging

from great_expectations.render.components import (
    RenderedSectionContent,
    RenderedTableContent,
    TextContent,
)
from great_expectations.render.renderer.page_renderer import ValidationResultsPageRenderer

log = logging.getLogger(__name__)

META_KEY = "assay_sources"
SITE_NAME = "local_site"
BADGES = {"fail": "badge-danger", "inconclusive": "badge-warning", "pass": "badge-success"}
_STYLE = {
    "classes": ["col-12", "table-responsive", "mt-1"],
    "body": {"classes": ["table", "table-sm"]},
}


def site_config() -> dict:
    """The run's Data Docs site: stock builder, Assay's validations renderer, no how-to buttons."""
    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": f"uncommitted/data_docs/{SITE_NAME}/",
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "site_section_builders": {
            "validations": {
                "renderer": {
                    "module_name": __name__,
                    "class_name": "AssayValidationResultsPageRenderer",
                }
            }
        },
    }


def configure_site(context) -> None:
    """Use `site_config` for the context's local site (idempotent)."""
    sites = context.variables.data_docs_sites or {}
    if sites.get(SITE_NAME) == site_config():
        return
    if SITE_NAME in sites:
        context.update_data_docs_site(SITE_NAME, site_config())
    else:
        context.add_data_docs_site(SITE_NAME, site_config())


def attach_meta(context, checkpoint_result, meta: dict) -> None:
    """Store `meta` with each validation result of the run and rebuild their pages."""
    keys = []
    for key, validation in checkpoint_result.run_results.items():
        validation.meta.update(meta)
        context.validation_results_store.set(key, validation)
        keys.append(key)
    context.build_data_docs(resource_identifiers=keys)


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _badge(verdict: str) -> str:
    return f'<span class="badge {BADGES.get(verdict, "badge-secondary")}">{_e(verdict)}</span>'


def _pct(value) -> str:
    try:
        return f"{float(value):.2%}"
    except (TypeError, ValueError):
        return ""


def sources_section(panel: dict) -> RenderedSectionContent:
    """The per-source figures (failing first) and why: categories and masked evidence."""
    rows = panel.get("rows") or []
    threshold = panel.get("max_flagged_rate")
    figures = []
    reasons = []
    warned = []
    for r in rows:
        for w in r.get("warnings") or []:
            warned.append(
                [
                    f"<strong>{_e(r['source'])}</strong>",
                    '<span class="badge badge-warning">warning</span>',
                    _e(w),
                ]
            )
        count = len(r.get("warnings") or [])
        figures.append(
            [
                f"<strong>{_e(r['source'])}</strong>",
                _badge(r.get("verdict", "")),
                f"{int(r.get('n_read', 0)):,}",
                f"{int(r.get('n_rejected', 0)):,}",
                f"{int(r.get('n_sampled', 0)):,}",
                f"{int(r.get('n_used', 0)):,}",
                f"{int(r.get('n_flagged', 0)):,}",
                _pct(r.get("flagged_rate")),
                "exact (whole source)"
                if r.get("interval_method") == "census"
                else f"{_pct(r.get('rate_low'))} – {_pct(r.get('rate_high'))}",
                f'<span class="badge badge-warning">{count}</span>' if count else "—",
            ]
        )
        categories = ", ".join(f"{_e(c)} ({int(k):,})" for c, k in r.get("categories") or []) or "—"
        evidence = "".join(
            f"<li>{_e(x.get('category', ''))}: <code>{_e(x.get('masked', ''))}</code></li>"
            for x in r.get("evidence") or []
        )
        reasons.append(
            [
                f"<strong>{_e(r['source'])}</strong>",
                categories,
                f"<ul class='mb-0 pl-3'>{evidence}</ul>" if evidence else "—",
            ]
        )
    lead = (
        f"Failing sources first. Threshold {_pct(threshold)}; interval at {float(panel.get('confidence') or 0.95):.0%} "
        f"confidence; decision rule '{_e(panel.get('decision_rule', ''))}'. Sampled: documents drawn; scored: "
        "documents the verdict rests on. Warnings come from the history checks (corpus_audit.history) and do not fail the run."
    )
    omitted = int(panel.get("omitted_passing") or 0)
    if omitted:
        lead += f" {omitted:,} more passing sources without warnings are listed in verdicts.json."
    blocks = [
        TextContent(text=[_e(lead)], header="Sources", styling={"classes": ["col-12", "mt-2"]}),
        RenderedTableContent(
            table=figures,
            header_row=[
                "Source",
                "Decision",
                "Read",
                "Rejected",
                "Sampled",
                "Scored",
                "Flagged",
                "Rate",
                "Interval",
                "Warnings",
            ],
            styling=_STYLE,
        ),
        RenderedTableContent(
            table=reasons,
            header="<h6 class='mt-3'>What drives each decision (categories of flagged documents; masked evidence)</h6>",
            header_row=["Source", "Categories", "Evidence (masked)"],
            styling=_STYLE,
        ),
    ]
    if warned:
        blocks.append(
            RenderedTableContent(
                table=warned,
                header="<h6 class='mt-3'>Trend warnings (history checks; they do not fail the run)</h6>",
                header_row=["Source", "Severity", "Warning"],
                styling=_STYLE,
            )
        )
    return RenderedSectionContent(section_name="Sources", content_blocks=blocks)


class AssayValidationResultsPageRenderer(ValidationResultsPageRenderer):
    """The stock validation page with Assay's "Sources" section after the overview."""

    def render(self, validation_results, suite_parameters=None):
        document = super().render(validation_results, suite_parameters)
        panel = (validation_results.meta or {}).get(META_KEY)
        if panel:
            document.sections.insert(1, sources_section(panel))
        banner = severity_banner(validation_results)
        if banner is not None:
            document.sections[0].content_blocks.insert(1, banner)
        return document


def severity_banner(validation_results) -> TextContent | None:
    """Say so when every failed expectation is a warning: the run does not fail on them."""
    failed = [
        r for r in validation_results.results if not r.success and r.expectation_config is not None
    ]
    severities = {
        str(getattr(r.expectation_config.severity, "value", r.expectation_config.severity))
        for r in failed
    }
    if not failed or severities != {"warning"}:
        return None
    text = (
        f"Warnings only: {len(failed)} check(s) below did not hold. Their severity is 'warning': "
        "they ask a person to look and never fail the run (the decision is in corpus_audit.sources)."
    )
    return TextContent(
        text=[_e(text)], styling={"classes": ["col-12", "alert", "alert-warning", "mt-2"]}
    )
