"""Run folders on S3: assembled and committed locally, then uploaded; Data Docs rebuilt safely.

A run whose `out` is s3://bucket/prefix/<run id> is staged and committed in a local work folder
(`ASSAY_WORK_DIR`, default runs/.s3-work/) exactly like a local run, then every file is uploaded
under the run's own prefix (unique keys: the run id is part of them) with `_COMPLETE` last, so a
reader that sees `_COMPLETE` sees the whole run.

GX 1.x has no S3 store backend, so validation stays local. The output root's combined Data Docs
(`<root>/data_docs/index.html`) are rebuilt from every complete run's validation results in a
fresh local GX context, uploaded under a new build key, and switched to by a conditional write of
the index (If-Match on its ETag, If-None-Match for the first): of concurrent rebuilds exactly one
writer wins each switch, a loser rebuilds from a fresh listing, and no index ever points at a
half-written build.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from assay.publish import COMPLETE_MARKER
from assay.settings import REPO_ROOT, AuditSettings
from assay.storage import is_s3

log = logging.getLogger(__name__)

DOCS_PREFIX = "data_docs"
GX_VALIDATIONS = "gx/gx/uncommitted/validations/"
GX_EXPECTATIONS = "gx/gx/expectations/"


def work_root() -> Path:
    """Local folder where S3-bound runs are assembled."""
    return Path(os.environ.get("ASSAY_WORK_DIR") or REPO_ROOT / "runs" / ".s3-work")


def local_out(settings: AuditSettings) -> Path:
    """The local run folder: `out` itself, or its mirror in the work folder for s3:// outputs."""
    if not is_s3(settings.out):
        return Path(settings.out)
    from assay.s3 import parse_uri

    loc = parse_uri(settings.out.rstrip("/"))
    return work_root() / loc.bucket / loc.key


def output_root(out: str) -> str:
    """The folder or prefix holding run folders (the parent of `out`)."""
    return out.rstrip("/").rsplit("/", 1)[0]


def publish_run(local_run: Path, out_uri: str) -> list[str]:
    """Upload a committed run folder to its s3:// prefix, `_COMPLETE` last; returns the keys."""
    from assay import s3

    base = out_uri.rstrip("/")
    files = sorted(p for p in local_run.rglob("*") if p.is_file() and p.name != COMPLETE_MARKER)
    uploaded = []
    for path in files:
        uri = f"{base}/{path.relative_to(local_run).as_posix()}"
        s3.upload_file(path, uri)
        uploaded.append(uri)
    s3.write_bytes(f"{base}/{COMPLETE_MARKER}", b"")
    uploaded.append(f"{base}/{COMPLETE_MARKER}")
    log.info("published %d files to %s", len(uploaded), base)
    return uploaded


def publish_outputs(settings: AuditSettings, local_run: Path) -> str:
    """Upload an s3:// run and rebuild the root's Data Docs; point the next incremental run here."""
    from assay.incremental import publish_pointer

    if not is_s3(settings.out):
        publish_pointer(settings, str(local_run))
        return str(local_run)
    publish_run(local_run, settings.out)
    rebuild_data_docs(output_root(settings.out))
    publish_pointer(settings, settings.out.rstrip("/"))
    return settings.out.rstrip("/")


def complete_runs(root_uri: str) -> dict[str, list[tuple[str, int, str]]]:
    """Run folder name -> its objects, for every run under the root that has `_COMPLETE`."""
    from assay import s3

    runs: dict[str, list[tuple[str, int, str]]] = {}
    base = root_uri.rstrip("/") + "/"
    for uri, size, etag in s3.list_keys(base):
        rel = uri[len(base) :]
        run, _, rest = rel.partition("/")
        if run and rest and run != DOCS_PREFIX and not run.startswith((".", "_")):
            runs.setdefault(run, []).append((rest, size, etag))
    return {
        run: items for run, items in runs.items() if any(r == COMPLETE_MARKER for r, _, _ in items)
    }


def rebuild_data_docs(root_uri: str, attempts: int = 8) -> str:
    """Rebuild `<root>/data_docs` from every complete run; safe against concurrent rebuilds.

    Returns the URI of the index that points at the build this call made current.
    """
    from assay import s3

    index_uri = f"{root_uri.rstrip('/')}/{DOCS_PREFIX}/index.html"
    for attempt in range(attempts):
        current = s3.get_bytes(index_uri)
        runs = complete_runs(root_uri)
        build_id = f"{len(runs):06d}-{uuid.uuid4().hex[:12]}"
        build_uri = f"{root_uri.rstrip('/')}/{DOCS_PREFIX}/builds/{build_id}"
        _build_and_upload(root_uri, runs, build_uri)
        page = _index_page(build_id, sorted(runs))
        try:
            if current is None:
                s3.write_bytes(index_uri, page, if_none_match=True)
            else:
                s3.write_bytes(index_uri, page, if_match=current[1])
        except s3.PreconditionFailed:
            log.info(
                "Data Docs: another run switched the index first; rebuilding (try %d)", attempt + 2
            )
            continue
        log.info("Data Docs for %d runs: %s", len(runs), index_uri)
        prune_builds(root_uri, keep={build_id})
        return index_uri
    raise RuntimeError(
        f"Data Docs at {index_uri}: lost {attempts} concurrent rebuilds; retry the task"
    )


BUILD_GRACE_SECONDS = 3600  # a replaced build stays this long for readers still on its pages


def prune_builds(root_uri: str, keep: set[str], grace_seconds: float | None = None) -> int:
    """Delete Data Docs builds the index no longer points at, once older than the grace period.

    Builds are never modified, only replaced, so a build is safe to delete when the index names
    another one and nobody could still be reading it: the grace period covers readers that
    opened the old index, and concurrent writers whose build has not been switched in yet.
    Returns the number of objects deleted.
    """
    from assay import s3

    current = current_build(root_uri)
    if current is not None:
        keep = keep | {current["build"]}
    prefix = f"{root_uri.rstrip('/')}/{DOCS_PREFIX}/builds/"
    newest: dict[str, float] = {}
    objects: dict[str, list[str]] = {}
    for uri, modified in s3.list_keys_modified(prefix):
        build = uri[len(prefix) :].split("/", 1)[0]
        objects.setdefault(build, []).append(uri)
        newest[build] = max(newest.get(build, 0.0), modified)
    cutoff = time.time() - (BUILD_GRACE_SECONDS if grace_seconds is None else grace_seconds)
    stale = [b for b in objects if b not in keep and newest[b] < cutoff]
    uris = [uri for b in stale for uri in objects[b]]
    if uris:
        s3.delete_keys(uris)
        log.info("Data Docs: removed %d replaced builds (%d objects)", len(stale), len(uris))
    return len(uris)


def _build_and_upload(root_uri: str, runs: dict, build_uri: str) -> None:
    from assay import s3

    with tempfile.TemporaryDirectory(prefix="assay-docs-") as tmp:
        project = Path(tmp)
        context = _fresh_context(project)
        gx_dir = project / "gx"
        for run, items in sorted(runs.items()):
            for rest, _, _ in items:
                for prefix, target in (
                    (GX_VALIDATIONS, "uncommitted/validations/"),
                    (GX_EXPECTATIONS, "expectations/"),
                ):
                    if rest.startswith(prefix) and rest.endswith(".json"):
                        dest = gx_dir / target / rest[len(prefix) :]
                        s3.download_file(f"{root_uri.rstrip('/')}/{run}/{rest}", dest)
        del context
        context = _fresh_context(project)
        context.build_data_docs()
        site = gx_dir / "uncommitted" / "data_docs" / "local_site"
        if not site.exists():
            site.mkdir(parents=True)
            (site / "index.html").write_text("<html><body>No validation results yet.</body></html>")
        from assay.assets import localise_site

        localise_site(site)  # CSS/JS inside the build, no CDN, like a run's own Data Docs
        for path in sorted(p for p in site.rglob("*") if p.is_file()):
            s3.upload_file(path, f"{build_uri}/{path.relative_to(site).as_posix()}")
        shutil.rmtree(site, ignore_errors=True)


def _fresh_context(project: Path):
    import great_expectations as gx

    from assay.datadocs import configure_site

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    context = gx.get_context(mode="file", project_root_dir=str(project))
    configure_site(context)  # Assay's per-source section, as on each run's own pages
    return context


def _index_page(build_id: str, runs: list[str]) -> bytes:
    """A small page that sends readers to the current build (and lists the runs it covers)."""
    target = f"builds/{build_id}/index.html"
    listing = json.dumps({"build": build_id, "runs": runs}).replace("<", "\\u003c")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='0; url={target}'><title>Assay Data Docs</title></head>"
        f"<body><a href='{target}'>Data Docs (build {build_id}, {len(runs)} runs)</a>"
        f"<script type='application/json' id='assay-build'>{listing}</script></body></html>"
    ).encode()


def current_build(root_uri: str) -> dict | None:
    """The build the root's Data Docs index points at, with the runs it covers."""
    from assay import s3

    found = s3.get_bytes(f"{root_uri.rstrip('/')}/{DOCS_PREFIX}/index.html")
    if found is None:
        return None
    text = found[0].decode()
    start = text.index("id='assay-build'>") + len("id='assay-build'>")
    return json.loads(text[start : text.index("</script>", start)])
