"""Offline web assets: the CSS and JS that Data Docs pull from CDNs, served from the run folder.

Stock GX Data Docs load jQuery, Bootstrap, bootstrap-table, Font Awesome and Vega from public
CDNs and render unstyled without internet. `python -m assay.assets` fetches exactly those
releases from the npm registry at build time (`npm pack`, checked against the pinned sha512
below) into `assay/assets/vendor/` (git-ignored: third-party files are never committed).
`localise_site` then copies what a Data Docs site uses into `<site>/static/vendor/` and rewrites
every CDN reference to a relative link, so the pages work from disk, from an S3 static-website
prefix and with no network at all. References it cannot serve locally are removed, never kept.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import re2

log = logging.getLogger(__name__)

VENDOR_DIR = Path(__file__).resolve().parent / "vendor"
SITE_VENDOR = "static/vendor"  # inside a Data Docs site


@dataclass(frozen=True)
class Package:
    """One npm release and the files of it that pages use (paths inside the package)."""

    name: str
    version: str
    integrity: str  # npm's sha512 of the tarball
    files: tuple[str, ...]

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def folder(self) -> str:
        return self.spec.replace("/", "__")


PACKAGES = (
    Package("jquery", "3.7.1", "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==", ("dist/jquery.min.js",)),
    Package("bootstrap", "4.3.1", "sha512-rXqOmH1VilAt2DyPzluTi2blhk17bO7ef+zLLPlWvG494pDxcM234pJ8wTc/6R40UWizAIIMgxjvxZg5kmsbag==", ("dist/css/bootstrap.min.css", "dist/js/bootstrap.min.js")),
    Package("popper.js", "1.12.9", "sha512-s0EEi9xiSCdqz9lV4IiVH5yIZnDX/U1t0tCjB+0jXx9jW8lrR7kOpVupiUg175ogqVoudpDXHF1p6dKATCHMeg==", ("dist/umd/popper.min.js",)),
    Package("bootstrap-table", "1.19.1", "sha512-WvV+l1AI/C+zThaKmfHmi/IuayVNB0qdFyEhFx1jyZhO0oLtNJNANkCR3rvJf6Dkh72dsLElxpE/bzK9seEQLA==", ("dist/bootstrap-table.min.css", "dist/bootstrap-table.min.js", "dist/extensions/filter-control/bootstrap-table-filter-control.min.js")),
    Package("bootstrap-table", "1.19.0", "sha512-L+USHm3X9FKocx/6yngGu12yF6r6s1Ntuc+hoIK2a2QQJjHw5kcySLiE2HY/9sEaSGAOfPbfQOtBH3uKkcpqEA==", ("dist/extensions/filter-control/bootstrap-table-filter-control.css", "dist/extensions/filter-control/bootstrap-table-filter-control.min.css")),
    Package("@fortawesome/fontawesome-free", "6.6.0", "sha512-60G28ke/sXdtS9KZCpZSHHkCbdsOGEhIUGlwq6yhY74UpTiToIh8np7A8yphhM4BWsvNFtIvLpi4co+h9Mr9Ow==", ("css/all.min.css", "webfonts/fa-brands-400.woff2", "webfonts/fa-regular-400.woff2", "webfonts/fa-solid-900.woff2", "webfonts/fa-v4compatibility.woff2")),
    Package("bootstrap-datepicker", "1.9.0", "sha512-9rYYbaVOheGYxjOr/+bJCmRPihfy+LkLSg4fIFMT9Od8WwWB/MB50w0JO1eBgKUMbb7PFHQD5uAfI3ArAxZRXA==", ("dist/css/bootstrap-datepicker.min.css", "dist/js/bootstrap-datepicker.min.js")),
    Package("@forevolve/bootstrap-dark", "1.1.0", "sha512-A3ucpEpxPoTVO490lZZCfjPXxv832l7mm1IxX3bXyxvgwnPGXDLyh7dWrphXKO8YBAu3EswbBEu3VSW8NRMW3A==", ("dist/css/bootstrap-prefers-dark.min.css",)),
    Package("vega", "5.33.1", "sha512-1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw==", ("build/vega.min.js",)),
    Package("vega-lite", "5.23.0", "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA==", ("build/vega-lite.min.js",)),
    Package("vega-embed", "6.29.0", "sha512-PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q==", ("build/vega-embed.min.js",)),
)  # fmt: skip

_BY_SPEC = {p.spec: p for p in PACKAGES}

# What GX 1.24's templates reference -> (package, file). Companion files (Font Awesome's
# webfonts) travel with the package.
CDN = {
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery@3.7.1", "dist/jquery.min.js"),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": ("bootstrap@4.3.1", "dist/css/bootstrap.min.css"),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": ("bootstrap@4.3.1", "dist/js/bootstrap.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": ("popper.js@1.12.9", "dist/umd/popper.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": ("bootstrap-table@1.19.1", "dist/bootstrap-table.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": ("bootstrap-table@1.19.1", "dist/bootstrap-table.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": ("bootstrap-table@1.19.1", "dist/extensions/filter-control/bootstrap-table-filter-control.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": ("bootstrap-table@1.19.0", "dist/extensions/filter-control/bootstrap-table-filter-control.css"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": ("bootstrap-table@1.19.0", "dist/extensions/filter-control/bootstrap-table-filter-control.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": ("@fortawesome/fontawesome-free@6.6.0", "css/all.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": ("bootstrap-datepicker@1.9.0", "dist/css/bootstrap-datepicker.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": ("bootstrap-datepicker@1.9.0", "dist/js/bootstrap-datepicker.min.js"),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": ("@forevolve/bootstrap-dark@1.1.0", "dist/css/bootstrap-prefers-dark.min.css"),
    "https://cdn.jsdelivr.net/npm/vega@5": ("vega@5.33.1", "build/vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": ("vega-lite@5.23.0", "build/vega-lite.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": ("vega-embed@6.29.0", "build/vega-embed.min.js"),
}  # fmt: skip
COMPANIONS = {"css/all.min.css": ("webfonts/",)}  # woff2 only: every current browser takes it first
VEGA_SPECS = {"vega@5.33.1", "vega-lite@5.23.0", "vega-embed@6.29.0"}
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"

_SCRIPT = re2.compile(r'<script\b[^>]*\bsrc="([^"]*)"[^>]*>\s*</script>')
_TAG = re2.compile(r'<(?:link|img)\b[^>]*\b(?:href|src)="([^"]*)"[^>]*>')
_SRI = re2.compile(r'\s(?:integrity|crossorigin)="[^"]*"')
_CSS_URL = re2.compile(r"""url\(\s*['"]?(?:https?:)?//[^)'"]*['"]?\s*\)""")


class AssetsError(RuntimeError):
    """The vendored assets cannot be fetched or are not what was pinned."""


def vendor_dir() -> Path:
    """Where the fetched assets live (ASSAY_ASSETS_DIR overrides the package folder)."""
    return Path(os.environ.get("ASSAY_ASSETS_DIR") or VENDOR_DIR)


def vendored(root: Path | None = None) -> bool:
    """True when every pinned file is present (the build step ran)."""
    root = root or vendor_dir()
    return all((root / p.folder / f).is_file() for p in PACKAGES for f in p.files)


def fetch(dest: Path | None = None, npm: str = "npm") -> Path:
    """Fetch the pinned releases with `npm pack`, check their sha512, unpack the used files."""
    dest = dest or vendor_dir()
    with tempfile.TemporaryDirectory(prefix="assay-assets-") as tmp:
        done = subprocess.run(
            [npm, "pack", "--json", "--pack-destination", tmp, *[p.spec for p in PACKAGES]],
            capture_output=True,
            text=True,
            cwd=tmp,
            check=False,
            timeout=600,
        )
        if done.returncode != 0:
            raise AssetsError(f"npm pack failed ({done.returncode}): {done.stderr[-2000:]}")
        packed = {
            f"{e['name']}@{e['version']}": Path(tmp) / e["filename"]
            for e in json.loads(done.stdout)
        }
        staging = dest.with_name(dest.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        for package in PACKAGES:
            tarball = packed.get(package.spec)
            if tarball is None or not tarball.is_file():
                raise AssetsError(f"npm pack did not return {package.spec}")
            digest = (
                "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
            )
            if digest != package.integrity:
                raise AssetsError(
                    f"{package.spec}: tarball sha512 {digest} differs from the pinned {package.integrity}"
                )
            _unpack(tarball, package, staging / package.folder)
        shutil.rmtree(dest, ignore_errors=True)
        staging.rename(dest)
    log.info("assets: %d packages in %s", len(PACKAGES), dest)
    return dest


def _unpack(tarball: Path, package: Package, target: Path) -> None:
    wanted = {f"package/{f}": f for f in package.files}
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            rel = wanted.pop(member.name, None)
            if rel is None or not member.isfile():
                continue
            out = target / PurePosixPath(rel)
            out.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is None:
                continue
            out.write_bytes(source.read())
    if wanted:
        raise AssetsError(f"{package.spec}: missing {sorted(wanted.values())}")


@dataclass
class LocaliseReport:
    """What `localise_site` did: pages rewritten, files copied, references it had to drop."""

    pages: int = 0
    copied: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def localise_site(
    site: Path, links: dict[str, Path] | None = None, root: Path | None = None
) -> LocaliseReport:
    """Serve a Data Docs site's CSS/JS from `site/static/vendor/`; drop any other remote load.

    `links` (label -> file) adds a bar of relative links at the top of every page (e.g. the
    run report). Idempotent: local references are left as they are.
    """
    root = root or vendor_dir()
    have_vendor = vendored(root)
    if not have_vendor:
        log.warning(
            "assets: %s has no vendored CSS/JS (run `python -m assay.assets`); Data Docs will be unstyled",
            root,
        )
    report = LocaliseReport()
    needed: set[tuple[str, str]] = set()
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        new = _rewrite(text, page, site, needed, report, have_vendor)
        if links:
            new = _add_links(new, page, links)
        if new != text:
            page.write_text(new, encoding="utf-8")
        report.pages += 1
    _prune(site)
    for spec, rel in sorted(needed):
        package = _BY_SPEC[spec]
        files = [rel]
        for prefix in COMPANIONS.get(rel, ()):
            files += [f for f in package.files if f.startswith(prefix)]
        for f in files:
            src = root / package.folder / f
            dst = site / SITE_VENDOR / package.folder / f
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                report.copied.append(f"{package.folder}/{f}")
    return report


def _prune(site: Path) -> None:
    """Drop GX's stock images and fonts that no page uses (3-4 MB of tutorial GIFs per run)."""
    text = "".join(p.read_text(encoding="utf-8") for p in site.rglob("*.html"))
    for folder in ("static/images", "static/fonts"):
        for path in sorted((site / folder).rglob("*")) if (site / folder).is_dir() else []:
            if path.is_file() and path.name not in text:
                path.unlink()


def _relative(target: Path, page: Path) -> str:
    return Path(os.path.relpath(target, page.parent)).as_posix()


def _rewrite(
    text: str, page: Path, site: Path, needed: set, report: LocaliseReport, have_vendor: bool
) -> str:
    uses_vega = "vegaEmbed(" in text

    def local(url: str) -> str | None:
        entry = CDN.get(url)
        if entry is None or not have_vendor:
            return None
        spec, rel = entry
        if spec in VEGA_SPECS and not uses_vega:
            return None
        needed.add(entry)
        return _relative(site / SITE_VENDOR / _BY_SPEC[spec].folder / rel, page)

    def script(m) -> str:
        url = m.group(1)
        if not _is_remote(url):
            return m.group(0)
        path = local(url)
        if path is None:
            report.dropped.append(url)
            return ""
        return _SRI.sub("", m.group(0).replace(url, path))

    def tag(m) -> str:
        url = m.group(1)
        if not _is_remote(url):
            return _reanchor(m.group(0), url, page, site)
        if url.startswith(GX_IMAGES):
            name = url[len(GX_IMAGES) :].split("?", 1)[0]
            image = site / "static" / "images" / name
            if image.is_file():
                return m.group(0).replace(url, _relative(image, page))
        path = local(url)
        if path is None:
            report.dropped.append(url)
            return ""
        return _SRI.sub("", m.group(0).replace(url, path))

    text = _SCRIPT.sub(script, text)
    text = _TAG.sub(tag, text)
    return _CSS_URL.sub("none", text)


def _reanchor(tag: str, url: str, page: Path, site: Path) -> str:
    """Fix a local static/ reference that misses its file (GX's favicon link is one level short)."""
    if "static/" not in url or (page.parent / url).exists():
        return tag
    target = site / url[url.index("static/") :]
    return tag.replace(url, _relative(target, page)) if target.is_file() else tag


def _is_remote(url: str) -> bool:
    return url.startswith(("http://", "https://", "//"))


_LINK_BAR = '<div class="assay-links" style="padding:6px 3rem;background:#1f2937;font-size:0.95rem">{}</div>'


def _add_links(text: str, page: Path, links: dict[str, Path]) -> str:
    if 'class="assay-links"' in text or "<body>" not in text:
        return text
    anchors = " &middot; ".join(
        f'<a style="color:#f9fafb;margin-right:1rem" href="{html.escape(_relative(target, page))}">{html.escape(label)}</a>'
        for label, target in links.items()
    )
    return text.replace("<body>", "<body>\n" + _LINK_BAR.format(anchors), 1)
