"""The run report: one static page beside Data Docs with the charts a reviewer looks at first.

`report.html` in the run folder: verdict per source with its interval against the threshold,
what drives the flags, how many documents each verdict rests on, and trends over earlier runs of
the corpus (from the metrics store). Charts are Vega-Lite (altair) rendered to SVG at run time
by vl-convert and embedded as images, so the page needs no script, no server and no network,
and works from disk or an S3 static-website prefix. Every text is HTML-escaped; evidence is the
masked form of findings only (`Finding.masked`, never `match`).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import re2

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
EVIDENCE_PER_SOURCE = 3
CHART_SOURCES = 40  # the charts show the first 40 sources (failing first); the table shows all
VERDICT_COLORS = {"fail": "#c62828", "inconclusive": "#ef8f00", "pass": "#2e7d32"}
VERDICT_ORDER = {"fail": 0, "inconclusive": 1, "pass": 2}


def collect_evidence(
    samples_dir: Path, per_source: int = EVIDENCE_PER_SOURCE
) -> dict[str, list[dict]]:
    """A few masked excerpts per source, from the first flagged documents in sample order."""
    import pyarrow.parquet as pq

    files = sorted(samples_dir.glob("*.parquet")) if samples_dir.is_dir() else []
    found: dict[str, list[dict]] = {}
    for path in files:
        table = pq.read_table(path, columns=["source", "rank", "flagged", "findings"])
        frame = table.filter(table.column("flagged")).to_pandas()
        for row in frame.sort_values(["source", "rank"]).itertuples(index=False):
            items = found.setdefault(str(row.source), [])
            if len(items) >= per_source:
                continue
            for f in row.findings if row.findings is not None else []:
                # Only the masked form leaves this function; `match` is never read.
                items.append(
                    {
                        "category": str(f["category"]),
                        "detector": str(f["detector"]),
                        "masked": str(f["masked"]),
                        "rank": int(row.rank),
                    }
                )
                break
    return found


def _number(value, default: float = 0.0) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(value) else value


def source_rows(
    sources: Iterable[dict], evidence: dict[str, list[dict]] | None = None
) -> list[dict]:
    """Per source, failing first: the figures a reviewer reads, as plain values."""
    from assay.history import used

    evidence = evidence or {}
    rows = []
    for r in sources:
        categories = sorted(
            (r.get("flagged_by_category") or {}).items(), key=lambda kv: (-kv[1], kv[0])
        )
        rows.append(
            {
                "source": str(r["source"]),
                "verdict": str(r.get("verdict", "")),
                "n_read": int(r.get("n_read", 0)),
                "n_rejected": int(r.get("n_rejected", 0)),
                "n_eligible": int(r.get("n_eligible", 0)),
                "n_sampled": int(r.get("n_sampled", 0)),
                "n_used": used(r),
                "n_flagged": int(r.get("n_flagged", 0)),
                "flagged_rate": _number(r.get("flagged_rate")),
                "rate_low": _number(r.get("rate_low")),
                "rate_high": _number(r.get("rate_high")),
                "interval_method": str(r.get("interval_method", "")),
                "categories": [[str(c), int(k)] for c, k in categories],
                "rejected_by_reason": {
                    str(k): int(v) for k, v in (r.get("rejected_by_reason") or {}).items()
                },
                "warnings": [
                    str(w.get("message", w)) if isinstance(w, dict) else str(w)
                    for w in (r.get("warnings") or [])
                ],
                "evidence": list(evidence.get(str(r["source"]), [])),
            }
        )
    rows.sort(key=lambda x: (VERDICT_ORDER.get(x["verdict"], 3), -len(x["warnings"]), x["source"]))
    return rows


def docs_meta(decided: pd.DataFrame, evidence: dict[str, list[dict]], settings) -> dict:
    """What the custom Data Docs section shows, stored in the validation result's meta.

    Sources that fail, are inconclusive or carry warnings are all listed; passing ones up to
    TABLE_PASSING, so a 10,000-source corpus still gives a page that opens quickly.
    """
    records = decided.to_dict(orient="records")
    rows = source_rows(records, evidence)
    shown = _table_rows(rows)
    return {
        "assay_sources": {
            "rows": json.loads(json.dumps(shown, default=str)),
            "omitted_passing": len(rows) - len(shown),
            "max_flagged_rate": settings.max_flagged_rate,
            "confidence": settings.confidence,
            "decision_rule": settings.decision_rule,
        }
    }


# ---- charts -----------------------------------------------------------------------------------


def _svg_image(chart, alt: str) -> str:
    """A chart as an <img> holding its SVG: renders anywhere, runs nothing."""
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(_xml_safe(chart.to_dict()))
    data = base64.b64encode(svg.encode()).decode()
    return f'<img class="chart" alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'


# Characters XML (and so SVG) cannot hold: corpus names may contain them.
_NOT_XML = re2.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x{fffe}\x{ffff}]")


def _xml_safe(value):
    """The chart spec with every string made SVG-safe (control characters shown as U+FFFD)."""
    if isinstance(value, str):
        return _NOT_XML.sub("\ufffd", value.encode("utf-8", "replace").decode("utf-8"))
    if isinstance(value, dict):
        return {k: _xml_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_xml_safe(v) for v in value]
    return value


def _verdict_scale():
    import altair as alt

    return alt.Scale(domain=list(VERDICT_COLORS), range=list(VERDICT_COLORS.values()))


def rate_chart(rows: list[dict], threshold: float):
    """Flagged rate per source: interval bar, point estimate, the threshold as a dashed line."""
    import altair as alt

    frame = pd.DataFrame(rows[:CHART_SOURCES])[
        ["source", "verdict", "flagged_rate", "rate_low", "rate_high"]
    ]
    order = frame["source"].tolist()
    y = alt.Y("source:N", sort=order, title=None, axis=alt.Axis(labelLimit=220))
    base = alt.Chart(frame)
    bars = base.mark_rule(strokeWidth=3, opacity=0.6).encode(
        y=y,
        x=alt.X(
            "rate_low:Q", title="flagged rate (interval and sample rate)", axis=alt.Axis(format="%")
        ),
        x2="rate_high:Q",
        color=alt.Color(
            "verdict:N", scale=_verdict_scale(), legend=alt.Legend(title="verdict", orient="bottom")
        ),
    )
    points = base.mark_point(filled=True, size=70).encode(
        y=y, x="flagged_rate:Q", color=alt.Color("verdict:N", scale=_verdict_scale())
    )
    rule = (
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(color="#111827", strokeDash=[6, 4], strokeWidth=1.5)
        .encode(x="threshold:Q")
    )
    label = (
        alt.Chart(pd.DataFrame({"threshold": [threshold], "text": [f"threshold {threshold:.1%}"]}))
        .mark_text(align="left", dx=4, dy=-6, fontSize=11, color="#111827")
        .encode(x="threshold:Q", y=alt.value(0), text="text:N")
    )
    return (bars + points + rule + label).properties(width=640, height=max(60, 26 * len(frame)))


def category_chart(rows: list[dict]):
    """Flagged documents per category and source (a document may count in several)."""
    import altair as alt

    data = [
        {"source": r["source"], "category": c, "documents": k}
        for r in rows[:CHART_SOURCES]
        for c, k in r["categories"]
    ]
    if not data:
        return None
    order = [r["source"] for r in rows[:CHART_SOURCES]]
    frame = pd.DataFrame(data)
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("source:N", sort=order, title=None, axis=alt.Axis(labelLimit=220)),
            x=alt.X("documents:Q", title="flagged documents in the sample"),
            color=alt.Color(
                "category:N",
                scale=alt.Scale(scheme="tableau10"),
                legend=alt.Legend(title="category", orient="bottom"),
            ),
        )
        .properties(width=640, height=max(60, 26 * frame["source"].nunique()))
    )


def samples_chart(rows: list[dict]):
    """Documents each verdict rests on (sequential sampling stops early) against those drawn."""
    import altair as alt

    frame = pd.DataFrame(
        [
            {"source": r["source"], "kind": kind, "documents": r[key]}
            for r in rows[:CHART_SOURCES]
            for kind, key in (("drawn", "n_sampled"), ("scored", "n_used"))
        ]
    )
    order = [r["source"] for r in rows[:CHART_SOURCES]]
    y = alt.Y("source:N", sort=order, title=None, axis=alt.Axis(labelLimit=220))
    color = alt.Color(
        "kind:N",
        scale=alt.Scale(domain=["drawn", "scored"], range=["#cbd5e1", "#1d4ed8"]),
        legend=alt.Legend(title=None, orient="bottom"),
    )
    base = alt.Chart(frame)
    bars = base.mark_bar(height=14).encode(
        y=y,
        x=alt.X("documents:Q", title="documents", stack=None),
        color=color,
        order=alt.Order("kind:N"),
    )
    used = alt.Chart(
        pd.DataFrame(
            [
                {
                    "source": r["source"],
                    "n": r["n_used"],
                    "label": f"{r['n_used']:,} of {r['n_sampled']:,}",
                }
                for r in rows[:CHART_SOURCES]
            ]
        )
    )
    text = used.mark_text(align="left", dx=4, fontSize=10, color="#374151").encode(
        y=y, x="n:Q", text="label:N"
    )
    return (bars + text).properties(width=640, height=max(60, 26 * len(order)))


def trend_chart(trend: pd.DataFrame, threshold: float):
    """Flagged rate per source over runs, with the threshold; None until there are two runs."""
    import altair as alt

    if trend.empty or trend["run_id"].nunique() < 2:
        return None
    frame = trend.copy()
    times = pd.to_datetime(frame["run_time"], utc=True)
    # One evenly spaced step per run, labelled by its UTC time (runs are rarely evenly spaced).
    frame["run"] = times.dt.strftime("%Y-%m-%d %H:%M")
    if frame.drop_duplicates("run_id")["run"].duplicated().any():
        frame["run"] = frame["run"] + " · " + frame["run_id"].astype(str).str[-8:]
    order = frame.assign(t=times).sort_values("t").drop_duplicates("run_id")["run"].tolist()
    keep = frame.groupby("source")["flagged_rate"].max().sort_values(ascending=False).head(10).index
    frame = frame[frame["source"].isin(set(keep))][["run", "source", "flagged_rate"]]
    lines = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "run:O",
                sort=order,
                title="run (UTC)",
                axis=alt.Axis(labelAngle=-30, labelLimit=160),
            ),
            y=alt.Y("flagged_rate:Q", title="flagged rate", axis=alt.Axis(format="%")),
            color=alt.Color(
                "source:N",
                scale=alt.Scale(scheme="dark2"),
                legend=alt.Legend(title="source", orient="bottom", columns=3, labelLimit=200),
            ),
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(color="#111827", strokeDash=[6, 4])
        .encode(y="threshold:Q")
    )
    return (lines + rule).properties(width=640, height=220)


# ---- page --------------------------------------------------------------------------------------

_CSS = """
:root{--ink:#111827;--muted:#6b7280;--line:#e5e7eb;--fail:#c62828;--inc:#ef8f00;--pass:#2e7d32;--warn:#b45309}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:#f8fafc}
header{background:#111827;color:#f9fafb;padding:18px 32px}header h1{margin:0;font-size:22px}header .meta{color:#cbd5e1;font-size:13px;margin-top:4px;word-break:break-all}
header nav a{color:#93c5fd;margin-right:18px;font-size:14px}main{max-width:1180px;margin:0 auto;padding:20px 32px 48px}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 20px}.tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:130px}
.tile b{display:block;font-size:24px}.tile span{color:var(--muted);font-size:13px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:0 0 18px}section h2{margin:0 0 4px;font-size:18px}
section p.lead{margin:0 0 10px;color:var(--muted);font-size:13px}img.chart{max-width:100%;height:auto}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600;text-transform:uppercase;letter-spacing:.02em}
.b-fail{background:var(--fail)}.b-inconclusive{background:var(--inc)}.b-pass{background:var(--pass)}.b-warn{background:var(--warn)}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.src{min-width:110px;max-width:220px;overflow-wrap:anywhere;font-weight:600}th.ev,td.ev{min-width:240px}.scroll{overflow-x:auto}ul.ev{margin:0;padding-left:16px}ul.ev code{background:#f1f5f9;padding:0 4px;border-radius:3px;overflow-wrap:anywhere}
tr.warnrow td{border-top:none;color:var(--warn);padding-top:0}tr.warnrow div{margin:2px 0}.tile .badge{font-size:17px;padding:3px 12px;margin:4px 0}
.warn{color:var(--warn)}.empty{color:var(--muted);font-style:italic}footer{color:var(--muted);font-size:12px;margin-top:24px}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _badge(verdict: str) -> str:
    return f'<span class="badge b-{_e(verdict)}">{_e(verdict)}</span>'


def _pct(value: float) -> str:
    return f"{value:.2%}"


def _table(rows: list[dict]) -> str:
    head = (
        "<tr><th>source</th><th>decision</th><th>read</th><th>rejected</th><th>sampled</th>"
        "<th>scored</th><th>flagged</th><th>rate</th><th>interval</th><th>driving categories</th>"
        '<th class="ev">evidence (masked)</th></tr>'
    )
    body = []
    for r in rows:
        cats = (
            ", ".join(f"{_e(c)}&nbsp;{k:,}" for c, k in r["categories"])
            or '<span class="empty">none</span>'
        )
        items = "".join(
            f"<li>{_e(x['category'])}: <code>{_e(x['masked'])}</code></li>" for x in r["evidence"]
        )
        ev = f'<ul class="ev">{items}</ul>' if items else '<span class="empty">none</span>'
        if r["interval_method"] == "census":
            interval = "exact (whole source)"
        else:
            interval = f"{_pct(r['rate_low'])} – {_pct(r['rate_high'])}"
        body.append(
            f'<tr><td class="src">{_e(r["source"])}</td><td>{_badge(r["verdict"])}</td>'
            f'<td class="num">{r["n_read"]:,}</td><td class="num">{r["n_rejected"]:,}</td>'
            f'<td class="num">{r["n_sampled"]:,}</td><td class="num">{r["n_used"]:,}</td>'
            f'<td class="num">{r["n_flagged"]:,}</td><td class="num">{_pct(r["flagged_rate"])}</td>'
            f'<td class="num">{interval}</td><td>{cats}</td><td class="ev">{ev}</td></tr>'
        )
        if r["warnings"]:
            warns = "".join(
                f'<div><span class="badge b-warn">warning</span> {_e(w)}</div>'
                for w in r["warnings"]
            )
            body.append(f'<tr class="warnrow"><td></td><td colspan="10">{warns}</td></tr>')
    return f'<div class="scroll"><table><thead>{head}</thead><tbody>{"".join(body)}</tbody></table></div>'


def _section(title: str, lead: str, body: str) -> str:
    return f'<section><h2>{_e(title)}</h2><p class="lead">{_e(lead)}</p>{body}</section>'


TABLE_PASSING = 500  # passing sources listed in full pages; the rest are in verdicts.json


def _table_rows(rows: list[dict]) -> list[dict]:
    """Every source that fails, is inconclusive or has a warning, then the first passing ones."""
    keep = [r for r in rows if r["verdict"] != "pass" or r["warnings"]]
    passing = [r for r in rows if r["verdict"] == "pass" and not r["warnings"]]
    return keep + passing[:TABLE_PASSING]


def _omitted_note(rows: list[dict]) -> str:
    omitted = len(rows) - len(_table_rows(rows))
    if not omitted:
        return ""
    return f'<p class="empty">{omitted:,} more passing sources without warnings are listed in verdicts.json.</p>'


def render_report(
    verdicts: dict, trend: pd.DataFrame, evidence: dict[str, list[dict]], links: dict[str, str]
) -> str:
    """The whole page as a string (links: label -> relative URL)."""
    s = verdicts.get("settings", {})
    threshold = float(s.get("max_flagged_rate", 0.05))
    rows = source_rows(verdicts["sources"], evidence)
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in VERDICT_COLORS}
    n_warn = sum(1 for r in rows if r["warnings"])
    tiles = [
        (_badge(verdicts.get("overall", "")), "overall"),
        (f"{counts['fail']}", "sources failing"),
        (f"{counts['inconclusive']}", "inconclusive"),
        (f"{counts['pass']}", "passing"),
        (f"{n_warn}", "with trend warnings"),
        (f"{sum(r['n_read'] for r in rows):,}", "documents read"),
        (f"{sum(r['n_used'] for r in rows):,}", "documents scored"),
    ]
    sections = []
    more = (
        f" The charts show the first {CHART_SOURCES} of {len(rows)} sources; the table lists all."
        if len(rows) > CHART_SOURCES
        else ""
    )
    if rows:
        sections.append(
            _section(
                "Flagged rate per source",
                f"Dot: the sample's flagged rate. Bar: its {float(s.get('confidence', 0.95)):.0%} interval "
                f"({s.get('interval_method', '')}). Dashed line: the threshold {threshold:.1%}. Under the "
                f"'{s.get('decision_rule', '')}' rule a source passes when the whole bar is left of the line, fails "
                "when it is right of it, and is inconclusive when the bar crosses it." + more,
                _svg_image(
                    rate_chart(rows, threshold),
                    "flagged rate per source with intervals and the threshold",
                ),
            )
        )
        chart = category_chart(rows)
        sections.append(
            _section(
                "What drives the flags",
                "Flagged documents in each source's sample by policy category (a document can count in several).",
                _svg_image(chart, "flagged documents per category and source")
                if chart is not None
                else '<p class="empty">No document was flagged.</p>',
            )
        )
        sections.append(
            _section(
                "Documents behind each verdict",
                "Drawn: the seeded random sample. Scored: the documents the verdict rests on (sequential sampling stops once the verdict is clear).",
                _svg_image(samples_chart(rows), "documents drawn and scored per source"),
            )
        )
    chart = trend_chart(trend, threshold)
    runs = int(trend["run_id"].nunique()) if len(trend) else 0
    sections.append(
        _section(
            "Trend over runs",
            f"Flagged rate of the 10 highest sources over the last {runs} runs of this corpus, from the metrics store.",
            _svg_image(chart, "flagged rate per source over runs")
            if chart is not None
            else '<p class="empty">This is the first recorded run of this corpus: trends appear from the second run on.</p>',
        )
    )
    sections.append(
        _section(
            "Sources",
            "Failing first. Evidence shows masked excerpts of findings only; warnings come from the history checks and never fail a run.",
            _table(_table_rows(rows)) + _omitted_note(rows)
            if rows
            else '<p class="empty">No source had documents.</p>',
        )
    )
    errors = verdicts.get("shard_errors") or []
    if errors:
        items = "".join(
            f"<li><code>{_e(e.get('shard'))}</code>: {_e(e.get('error'))}</li>" for e in errors[:50]
        )
        sections.append(
            _section(
                "Unreadable shards",
                f"{len(errors)} shard(s) could not be read.",
                f"<ul>{items}</ul>",
            )
        )
    nav = "".join(f'<a href="{_e(url)}">{_e(label)}</a>' for label, url in links.items())
    policy = verdicts.get("policy") or {}
    meta = (
        f"corpus {_e(verdicts.get('corpus', ''))} · run {_e(verdicts.get('run_id', ''))} · policy "
        f"{_e(policy.get('name', ''))} {_e(policy.get('version', ''))} ({_e(str(policy.get('hash', ''))[:12])}) · "
        f"sample size {_e(s.get('sample_size', ''))}, seed {_e(s.get('seed', ''))}"
    )
    tile_html = "".join(
        f'<div class="tile"><b>{value}</b><span>{_e(label)}</span></div>' for value, label in tiles
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Assay run report · {_e(verdicts.get('run_id', ''))}</title><style>{_CSS}</style>"
        # A favicon in the page: browsers otherwise ask the server for /favicon.ico.
        '<link rel="icon" href="data:,"></head><body>'
        f'<header><h1>Assay run report</h1><div class="meta">{meta}</div><nav>{nav}</nav></header>'
        f'<main><div class="tiles">{tile_html}</div>{"".join(sections)}'
        "<footer>Generated by Assay. Rates come from random samples; intervals say how far the true rate may be. "
        "Clear-text matches stay in samples/ (access-controlled); this page shows masked evidence only.</footer>"
        "</main></body></html>\n"
    )


def write_report(
    run_dir: Path, verdicts: dict, trend: pd.DataFrame, evidence: dict[str, list[dict]]
) -> Path:
    """Write report.html into the run folder, with relative links to Data Docs and the JSON."""
    links = {}
    docs = sorted(run_dir.glob("gx/gx/uncommitted/data_docs/local_site/index.html"))
    if docs:
        links["Data Docs"] = docs[0].relative_to(run_dir).as_posix()
    for name in ("verdicts.json", "manifest.json"):
        if (run_dir / name).exists() or name == "verdicts.json":
            links[name] = name
    path = run_dir / REPORT_FILE
    path.write_text(render_report(verdicts, trend, evidence, links), encoding="utf-8")
    log.info("report: %s", path)
    return path


def publish_pages(
    run_dir: Path, verdicts: dict, trend: pd.DataFrame, evidence: dict[str, list[dict]]
) -> Path:
    """report.html, and Data Docs made offline with a link bar back to it."""
    from assay.assets import localise_site

    report = write_report(run_dir, verdicts, trend, evidence)
    site = run_dir / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site"
    if site.is_dir():
        localise_site(
            site, links={"Run report": report, "verdicts.json": run_dir / "verdicts.json"}
        )
    return report
