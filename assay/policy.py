"""The content policy: categories, the detectors that score them, and the policy's content hash.

A policy is a YAML file (read with yaml.safe_load) validated against POLICY_SCHEMA; every
error names the file, the line and a fix. Word lists and models are referenced, never
copied: a path relative to the policy file, a user path, or a resource inside an installed
pip package. The policy hash covers the YAML's content AND the bytes of every referenced file,
so a run records exactly which lists and models scored it. Thresholds for pass/fail and
sample sizes are not part of a policy (they live in the GX suites).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from assay.detectors.base import Finding, FindingColumns
from assay.normalize import fold_term

DEFAULT_POLICY = Path(__file__).parent / "policies" / "default.yaml"
DETECTOR_TYPES = ("lexicon", "pii", "secrets", "classifier", "regex")


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the file, the line and the fix."""


_NAME = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "description": "lower_snake_case"}
_SOURCE = {
    "type": "object",
    "description": "exactly one of path, package or terms",
    "properties": {
        "path": {"type": "string", "minLength": 1, "description": "relative to the policy file"},
        "package": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_.]*/.+", "description": "pip package resource: module/path/in/package.txt"},
        "terms": {"type": "array", "items": {"type": "string"}},
        "format": {"enum": ["lines", "json"]},
        "key": {"type": "string", "description": "JSON key holding the list of terms"},
    },
    "additionalProperties": False,
}  # fmt: skip
_COMMON = {"name": _NAME, "type": {"enum": list(DETECTOR_TYPES)}}
_TYPE_SCHEMAS = {
    "lexicon": {
        "required": ["sources"],
        "properties": {
            **_COMMON,
            "sources": {"type": "array", "items": _SOURCE, "minItems": 1},
            "exclude_terms": {"type": "array", "items": {"type": "string"}},
            "allowlist": {
                "type": "object",
                "description": "term -> phrases in which that term is harmless ('*': any term)",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
            "min_term_chars": {"type": "integer", "minimum": 1},
            "leetspeak": {"type": "boolean"},
            "engine": {"enum": ["ahocorasick_rs", "pyahocorasick"]},
        },
    },
    "pii": {
        "properties": {
            **_COMMON,
            "entities": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        }
    },
    "secrets": {
        "properties": {
            **_COMMON,
            "kinds": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        }
    },
    "classifier": {
        "required": ["threshold"],
        "properties": {
            **_COMMON,
            "builtin": {"enum": ["alt-profanity-check"]},
            "path": {"type": "string", "minLength": 1},
            "threshold": {"type": "number", "minimum": 0, "maximum": 1},
            "window_chars": {"type": "integer", "minimum": 50},
        },
    },
    "regex": {
        "required": ["pattern"],
        "properties": {
            **_COMMON,
            "pattern": {"type": "string", "minLength": 1, "description": "an re2 pattern"},
            "kind": {"type": "string"},
        },
    },
}
_DETECTOR = {
    "type": "object",
    "required": ["name", "type"],
    "properties": _COMMON,
    "allOf": [
        {
            "if": {"properties": {"type": {"const": t}}, "required": ["type"]},
            "then": {**s, "additionalProperties": False},
        }
        for t, s in _TYPE_SCHEMAS.items()
    ],
}
POLICY_SCHEMA = {
    "type": "object",
    "required": ["name", "version", "categories"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "version": {"type": ["string", "number"]},
        "description": {"type": "string"},
        "categories": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "title", "detectors"],
                "additionalProperties": False,
                "properties": {
                    "id": _NAME,
                    "title": {"type": "string", "minLength": 1},
                    "description": {"type": "string"},
                    "self_check_group": {"enum": ["main", "other", "patterns"], "description": "which term minimum the self-check applies: main, other, or patterns (no lexicon minimum)"},
                    "detectors": {"type": "array", "items": _DETECTOR, "minItems": 1},
                    "detector_error": {
                        "type": "object",
                        "required": ["sensitivity", "specificity"],
                        "additionalProperties": False,
                        "properties": {
                            "sensitivity": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                            "specificity": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                            "measured_on": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
}  # fmt: skip


@dataclass(frozen=True)
class Category:
    """One thing the policy looks for."""

    id: str
    title: str
    description: str = ""
    self_check_group: str = ""


@dataclass
class LexiconEntries:
    """A lexicon detector's raw entries, as read (for the self-check) and as used."""

    raw: list[str]
    terms: list[str]
    excluded: int = 0


@dataclass
class Policy:
    """A loaded, validated policy. Build a `Scanner` with `scanner()` once per worker."""

    name: str
    version: str
    description: str
    categories: list[Category]
    path: Path
    hash: str
    data: dict[str, Any] = field(repr=False)
    _lexicons: dict[str, LexiconEntries] = field(repr=False, default_factory=dict)
    _model_paths: dict[str, str] = field(repr=False, default_factory=dict)

    def detectors_of(self, category: str) -> list[dict]:
        """The detector settings of one category."""
        for c in self.data["categories"]:
            if c["id"] == category:
                return c["detectors"]
        raise KeyError(category)

    def detector_error(self, category: str) -> tuple[float, float] | None:
        """(sensitivity, specificity) measured for `category`, or None where not measured."""
        for c in self.data["categories"]:
            if c["id"] == category and "detector_error" in c:
                err = c["detector_error"]
                return float(err["sensitivity"]), float(err["specificity"])
        return None

    def lexicon_terms(self) -> dict[str, list[str]]:
        """Category -> the distinct terms its lexicon detectors match (in first-seen order)."""
        out: dict[str, list[str]] = {c.id: [] for c in self.categories}
        for c in self.data["categories"]:
            seen: set[str] = set()
            for d in c["detectors"]:
                if d["type"] != "lexicon":
                    continue
                for term in self._lexicons[d["name"]].terms:
                    if term not in seen:
                        seen.add(term)
                        out[c["id"]].append(term)
        return out

    def lexicon_entries(self, detector: str) -> LexiconEntries:
        """The raw and usable entries of one lexicon detector."""
        return self._lexicons[detector]

    def scanner(self) -> Scanner:
        """Build every detector (automata, compiled patterns, models)."""
        return Scanner(
            self, [self._build(c["id"], d) for c in self.data["categories"] for d in c["detectors"]]
        )

    def _build(self, category: str, d: dict):
        from assay.detectors.classifier import ClassifierDetector
        from assay.detectors.lexicon import LexiconDetector
        from assay.detectors.pii import pii_detector, regex_detector
        from assay.detectors.secrets import secrets_detector

        kind = d["type"]
        if kind == "lexicon":
            return LexiconDetector(
                d["name"],
                category,
                self._lexicons[d["name"]].terms,
                allowlist=d.get("allowlist", {}),
                leetspeak=d.get("leetspeak", False),
                engine=d.get("engine", "ahocorasick_rs"),
            )
        if kind == "pii":
            return pii_detector(d["name"], category, d.get("entities"))
        if kind == "secrets":
            return secrets_detector(d["name"], category, d.get("kinds"))
        if kind == "regex":
            return regex_detector(d["name"], category, d["pattern"], d.get("kind"))
        return ClassifierDetector(
            d["name"],
            category,
            builtin=d.get("builtin"),
            path=self._model_paths.get(d["name"]),
            threshold=float(d["threshold"]),
            window_chars=int(d.get("window_chars", 1000)),
        )


class Scanner:
    """Every detector of a policy, ready to scan. Build once per worker (see cached_scanner)."""

    def __init__(self, policy: Policy, detectors: list) -> None:
        self.policy = policy
        self.detectors = detectors
        for det in detectors:
            det.setup()

    def scan(self, text: str) -> list[Finding]:
        """All findings of all detectors for one text, sorted by start."""
        return self.scan_batch([text])[0]

    def scan_batch(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Findings per text, sorted by (start, end, detector)."""
        return self.scan_columns(texts).to_lists(len(texts))

    def scan_columns(self, texts: Sequence[str]) -> FindingColumns:
        """Every detector's findings of a batch as columns, sorted by (text, start, end, detector).

        Each detector gets the whole batch in its most columnar form: `scan_columns` (the
        lexicon), `scan_batch` (classifiers: their cost is per call) or `scan` per text.
        """
        texts = [t if isinstance(t, str) else "" for t in texts]  # a null text has no findings
        try:
            return self._columns(texts)
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 engine reads one (see _scannable)
            return self._columns([_scannable(t) for t in texts])

    def _columns(self, texts: list[str]) -> FindingColumns:
        parts = []
        for det in self.detectors:
            if hasattr(det, "scan_columns"):
                parts.append(det.scan_columns(texts))
            elif hasattr(det, "scan_batch"):
                parts.append(FindingColumns.of(det.scan_batch(texts)))
            else:
                parts.append(FindingColumns.of([det.scan(t) if t else [] for t in texts]))
        return FindingColumns.concat(parts).in_text_order()


_SURROGATE = re.compile("[\ud800-\udfff]")


def _scannable(text: str) -> str:
    """`text` with each lone UTF-16 surrogate (JSON can escape one; no UTF-8 engine can read
    one) as U+FFFD: one character for one, so offsets stay true."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


# ---- loading --------------------------------------------------------------------------------


def default_policy_path() -> Path:
    """The packaged default policy as a file, also when assay runs from a zip (--py-files)."""
    if DEFAULT_POLICY.exists():
        return DEFAULT_POLICY
    import hashlib
    import tempfile
    from importlib.resources import files

    data = files("assay").joinpath("policies/default.yaml").read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"assay-default-policy-{digest}.yaml"
    if not target.exists():
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, target)
    return target


def load_policy(path: str | os.PathLike | None = None) -> Policy:
    """Read, validate and resolve a policy file (None: the packaged default policy)."""
    file = Path(path) if path is not None else default_policy_path()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PolicyError(
            f"{file}: cannot read the policy ({exc.strerror}). Fix: check the path."
        ) from None
    where = _Where(file, text)
    data = where.data
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(POLICY_SCHEMA).iter_errors(data)
    )
    if error is not None:
        raise PolicyError(where.message(_error_path(error), *_explain(error)))
    return _resolve(file, data, where)


def _resolve(file: Path, data: dict, where: _Where) -> Policy:
    categories, names = [], set()
    files: dict[str, str] = {}
    lexicons: dict[str, LexiconEntries] = {}
    model_paths: dict[str, str] = {}
    ids = set()
    for ci, c in enumerate(data["categories"]):
        if c["id"] in ids:
            raise PolicyError(
                where.message(
                    ("categories", ci, "id"),
                    f"category id {c['id']!r} is used twice",
                    "give every category its own id",
                )
            )
        ids.add(c["id"])
        categories.append(
            Category(c["id"], c["title"], c.get("description", ""), c.get("self_check_group", ""))
        )
        for di, d in enumerate(c["detectors"]):
            loc = ("categories", ci, "detectors", di)
            if d["name"] in names:
                raise PolicyError(
                    where.message(
                        (*loc, "name"),
                        f"detector name {d['name']!r} is used twice",
                        "give every detector its own name",
                    )
                )
            names.add(d["name"])
            try:
                if d["type"] == "lexicon":
                    lexicons[d["name"]] = _read_lexicon(file, d, loc, where, files)
                elif d["type"] == "classifier":
                    model_paths.update(_resolve_model(file, d, loc, where, files))
                else:
                    _check_patterns(d)
            except ValueError as exc:
                if isinstance(exc, PolicyError):
                    raise
                key = (
                    "pattern"
                    if d["type"] == "regex"
                    else next((k for k in ("entities", "kinds") if k in d), "type")
                )
                raise PolicyError(
                    where.message(
                        (*loc, key), str(exc), _PATTERN_FIX.get(d["type"], "see docs/POLICY.md")
                    )
                ) from None
    canonical = json.dumps(
        {"policy": data, "files": files}, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return Policy(
        name=data["name"],
        version=str(data["version"]),
        description=data.get("description", ""),
        categories=categories,
        path=file.resolve(),
        hash=digest,
        data=data,
        _lexicons=lexicons,
        _model_paths=model_paths,
    )


_PATTERN_FIX = {
    "regex": "rewrite it without backreferences or lookaround (re2 syntax: github.com/google/re2/wiki/Syntax)",
    "pii": "use the entity names listed above",
    "secrets": "use the kind names listed above",
}


def _check_patterns(d: dict) -> None:
    from assay.detectors.pii import pii_detector, regex_detector
    from assay.detectors.secrets import secrets_detector

    if d["type"] == "regex":
        regex_detector(d["name"], "_", d["pattern"], d.get("kind"))
    elif d["type"] == "pii":
        pii_detector(d["name"], "_", d.get("entities"))
    elif d["type"] == "secrets":
        secrets_detector(d["name"], "_", d.get("kinds"))


def _locate(file: Path, src: dict, loc: tuple, where: _Where, what: str) -> tuple[str, Path]:
    """(reference used in the hash, file on disk) of a `path` or `package` reference."""
    if "path" in src:
        p = Path(os.path.expanduser(src["path"]))
        resolved = p if p.is_absolute() else file.parent / p
        if not resolved.is_file():
            raise PolicyError(
                where.message(
                    (*loc, "path"),
                    f"{what} file {src['path']!r} not found (looked at {resolved})",
                    "give a path relative to the policy file, or an absolute path",
                )
            )
        return f"path:{src['path']}", resolved
    package, _, inner = src["package"].partition("/")
    try:
        resolved = Path(str(resources.files(package).joinpath(inner)))
    except ModuleNotFoundError:
        raise PolicyError(
            where.message(
                (*loc, "package"),
                f"package {package!r} is not installed",
                f"pip install the package that provides the module {package!r}, or remove this source",
            )
        ) from None
    if not resolved.is_file():
        raise PolicyError(
            where.message(
                (*loc, "package"),
                f"package {package!r} has no file {inner!r}",
                "check the resource path inside the package",
            )
        )
    return f"package:{src['package']}", resolved


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_lexicon(file: Path, d: dict, loc: tuple, where: _Where, files: dict) -> LexiconEntries:
    raw: list[str] = []
    for si, src in enumerate(d["sources"]):
        sloc = (*loc, "sources", si)
        given = [k for k in ("path", "package", "terms") if k in src]
        if len(given) != 1:
            raise PolicyError(
                where.message(
                    sloc,
                    f"a lexicon source needs exactly one of path, package or terms (got {given or 'none'})",
                    "keep one of `path:`, `package:` or `terms:` per source",
                )
            )
        if "terms" in src:
            raw.extend(src["terms"])
            continue
        ref, resolved = _locate(file, src, sloc, where, "lexicon")
        files[ref] = _sha256(resolved)
        try:
            raw.extend(read_terms(resolved, src.get("format", "lines"), src.get("key")))
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise PolicyError(
                where.message(
                    sloc,
                    f"cannot read terms from {resolved}: {exc}",
                    "use one term per line (UTF-8), or format: json with the key of the list",
                )
            ) from None
    excluded = {fold_term(t) for t in d.get("exclude_terms", [])}
    min_chars = d.get("min_term_chars", 1)
    terms, seen, n_excluded = [], set(), 0
    for t in raw:
        key = fold_term(t).strip()
        if not key or key in seen:
            continue
        seen.add(key)
        if key in excluded or len(key) < min_chars:
            n_excluded += 1
            continue
        terms.append(t.strip())
    return LexiconEntries(raw, terms, n_excluded)


def read_terms(path: Path, fmt: str = "lines", key: str | None = None) -> list[str]:
    """Terms of a word-list file: one per line (# comments, BOM, CRLF/CR ok), or a JSON list."""
    text = path.read_bytes().decode("utf-8-sig")
    if fmt == "json":
        obj = json.loads(text)
        if key:
            for part in key.split("."):
                obj = obj[part]
        if not isinstance(obj, list):
            raise ValueError(f"JSON at key {key!r} is not a list")
        return [str(t) for t in obj]
    return [line.strip() for line in text.splitlines() if not line.lstrip().startswith("#")]


def _resolve_model(file: Path, d: dict, loc: tuple, where: _Where, files: dict) -> dict[str, str]:
    from assay.detectors.classifier import model_files

    if ("builtin" in d) == ("path" in d):
        raise PolicyError(
            where.message(
                loc,
                "a classifier needs exactly one of `builtin` or `path`",
                "set `builtin: alt-profanity-check` or `path: model.joblib`",
            )
        )
    if "builtin" in d:
        for f in model_files(builtin=d["builtin"]):
            files[f"builtin:{d['builtin']}/{f.name}"] = _sha256(f)
        return {}
    ref, resolved = _locate(file, {"path": d["path"]}, loc, where, "model")
    files[ref] = _sha256(resolved)
    return {d["name"]: str(resolved)}


# ---- error messages with lines --------------------------------------------------------------


class _Where:
    """The YAML node tree of a policy, to turn a data path into a line number."""

    def __init__(self, file: Path, text: str) -> None:
        self.file = file
        try:
            self.root = yaml.compose(text, Loader=yaml.SafeLoader)
            self._check_duplicate_keys(self.root)
            self.data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else "?"
            raise PolicyError(
                f"{file}:{line}: invalid YAML: {exc.problem or exc}. Fix: correct the YAML syntax on this line (indentation, a missing ':' or an unclosed quote)."
            ) from None
        except yaml.YAMLError as exc:
            raise PolicyError(
                f"{file}: invalid YAML: {exc}. Fix: correct the YAML syntax."
            ) from None
        if not isinstance(self.data, dict):
            raise PolicyError(
                f"{file}:1: the policy must be a mapping with name, version and categories. Fix: see docs/POLICY.md."
            )

    def _check_duplicate_keys(self, node) -> None:
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for k, v in node.value:
                if k.value in seen:
                    raise PolicyError(
                        f"{self.file}:{k.start_mark.line + 1}: key {k.value!r} appears twice in one mapping. Fix: keep one of them."
                    )
                seen.add(k.value)
                self._check_duplicate_keys(v)
        elif isinstance(node, yaml.SequenceNode):
            for v in node.value:
                self._check_duplicate_keys(v)

    def line(self, path: Sequence) -> int:
        """The line (1-based) of the node at `path`, or of its deepest existing parent."""
        node = self.root
        for depth, part in enumerate(path):
            nxt = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == part:
                        nxt = k if depth == len(path) - 1 else v  # a key's own line, else descend
                        break
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(part, int)
                and part < len(node.value)
            ):
                nxt = node.value[part]
            if nxt is None:
                break
            node = nxt
        return node.start_mark.line + 1 if node is not None else 1

    def message(self, path: Sequence, problem: str, fix: str) -> str:
        where = ".".join(str(p) for p in path) or "(top level)"
        return f"{self.file}:{self.line(path)}: {problem} (at {where}). Fix: {fix}."


def _error_path(err: jsonschema.ValidationError) -> tuple:
    path = tuple(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        if extra:
            return (*path, extra[0])
    return path


def _explain(err: jsonschema.ValidationError) -> tuple[str, str]:
    """(problem, fix) in words an operator can act on."""
    v, s = err.validator, err.schema
    if v == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted(s.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        return (
            f"unknown key {extra[0]!r}",
            f"remove or rename it; allowed keys here: {', '.join(allowed)}",
        )
    if v == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return f"missing key {missing[0]!r}", f"add `{missing[0]}:` here"
    if v in ("enum", "const"):
        options = err.validator_value if v == "enum" else [err.validator_value]
        return f"{err.instance!r} is not allowed", f"use one of: {', '.join(map(str, options))}"
    if v == "type":
        return (
            f"{err.instance!r} is not of type {err.validator_value}",
            f"make it a {err.validator_value}",
        )
    if v == "pattern":
        hint = s.get("description", f"a value matching {err.validator_value}")
        return f"{err.instance!r} has the wrong form", f"use {hint}"
    if v == "minItems":
        return "the list is empty", f"give at least {err.validator_value} item(s)"
    return err.message, s.get("description", "see docs/POLICY.md")


# ---- per-process cache ------------------------------------------------------------------------

_SCANNERS: dict[str, tuple[tuple[int, int], Scanner]] = {}


def cached_scanner(path: str | os.PathLike | None = None) -> Scanner:
    """One Scanner per process per policy file: built once per Spark Python worker.

    Keyed by the resolved path; rebuilt when the policy file's mtime or size changes (an edit to
    a referenced word list alone is seen by new processes only).
    """
    file = (Path(path) if path is not None else default_policy_path()).resolve()
    st = os.stat(file)
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _SCANNERS.get(str(file))
    if cached is None or cached[0] != stamp:
        cached = (stamp, load_policy(file).scanner())
        _SCANNERS[str(file)] = cached
    return cached[1]


# ---- self-check -------------------------------------------------------------------------------


def default_common_words() -> list[str]:
    """Common English words for the Scunthorpe check: alt-profanity-check's vocabulary."""
    import joblib

    from assay.detectors.classifier import model_files

    vectorizer = joblib.load(model_files(builtin="alt-profanity-check")[0])
    return [w for w in vectorizer.vocabulary_ if w.isalpha() and len(w) >= 3]


def self_check_table(policy: Policy, common_words: Iterable[str] | None = None):
    """One row per category: lexicon size and quality (empty, duplicate, Scunthorpe-prone terms).

    Validated by expectations/policy_self_check.json (minimums are suite parameters).
    n_common_word_substrings counts terms found inside a longer common word ("ass" in
    "class"): word boundaries keep them from firing there, but they deserve a look.
    """
    import pandas as pd

    words = {
        fold_term(w) for w in (common_words if common_words is not None else default_common_words())
    }
    rows = []
    for c in policy.data["categories"]:
        raw: list[str] = []
        n_excluded, n_sources, has_lexicon = 0, 0, False
        for d in c["detectors"]:
            if d["type"] == "lexicon":
                has_lexicon = True
                entries = policy.lexicon_entries(d["name"])
                raw.extend(entries.raw)
                n_excluded += entries.excluded
                n_sources += len(d["sources"])
        folded = [fold_term(t).strip() for t in raw]
        non_empty = [t for t in folded if t]
        terms = policy.lexicon_terms()[c["id"]]
        keys = {fold_term(t).strip() for t in terms}
        n_sub = len(_terms_inside_words(keys, words))
        group = c.get("self_check_group", "")
        rows.append(
            {
                "category": c["id"],
                "title": c["title"],
                "self_check_group": group,
                "has_lexicon": has_lexicon,
                "n_sources": n_sources,
                "n_entries": len(raw),
                "n_terms": len(terms),
                # per-group copies, null elsewhere, so a GX suite can hold each group to its own minimum
                "n_terms_main": len(terms) if group == "main" else None,
                "n_terms_other": len(terms) if group == "other" else None,
                "n_empty": len(folded) - len(non_empty),
                "n_duplicates": len(non_empty) - len(set(non_empty)),
                "n_excluded": n_excluded,
                "n_common_word_substrings": n_sub,
                "detectors": ",".join(d["type"] for d in c["detectors"]),
            }
        )
    table = pd.DataFrame(rows)
    return table.astype({"n_terms_main": "float64", "n_terms_other": "float64"})


def _terms_inside_words(keys: set[str], words: set[str]) -> set[str]:
    """Terms of space-delimited scripts found inside a longer common word ("ass" in "class")."""
    import ahocorasick_rs

    from assay.detectors.lexicon import is_word_char

    spaced = sorted(k for k in keys if is_word_char(k[0]) or is_word_char(k[-1]))
    others = [w for w in words if w not in keys]
    if not spaced or not others:
        return set()
    ac = ahocorasick_rs.AhoCorasick(spaced)
    hits: set[str] = set()
    for w in others:
        for i, s, e in ac.find_matches_as_indexes(w, overlapping=True):
            if e - s < len(w):
                hits.add(spaced[i])
    return hits
