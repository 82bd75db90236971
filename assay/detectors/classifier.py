"""Classifier detector: a text model's probability as a finding, scored in batches.

The packaged English offensive-language model is alt-profanity-check's (TF-IDF + linear SVM
with calibrated probabilities); `assay.classifier_training` writes models of the same shape
from any labelled CSV. Long documents are cut into windows so that one offensive paragraph
is not diluted by a long harmless text; each window at or above the threshold is a finding.
Models are loaded once per process (joblib files are code: load only files you trust).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Protocol

from assay.detectors.base import Finding
from assay.evidence import mask_finding

BUILTIN_MODELS = {
    "alt-profanity-check": ("profanity_check", "data/vectorizer.joblib", "data/model.joblib")
}
_MODEL_CACHE: dict[tuple, TextModel] = {}


class TextModel(Protocol):
    """Anything that maps a batch of texts to positive-class probabilities."""

    def predict_proba(self, texts: Sequence[str]): ...


@dataclass
class _VectorizerModel:
    """A fitted vectorizer and a fitted classifier, applied in turn."""

    vectorizer: object
    model: object

    def predict_proba(self, texts: Sequence[str]):
        return self.model.predict_proba(self.vectorizer.transform(texts))


def model_files(builtin: str | None = None, path: str | None = None) -> list[Path]:
    """The files a model is made of (for the policy hash)."""
    if builtin is not None:
        if builtin not in BUILTIN_MODELS:
            raise ValueError(f"unknown built-in model {builtin!r}; known: {list(BUILTIN_MODELS)}")
        package, *names = BUILTIN_MODELS[builtin]
        root = resources.files(package)
        return [Path(str(root.joinpath(n))) for n in names]
    if path is None:
        raise ValueError("a classifier needs `builtin` or `path`")
    return [Path(path)]


def load_model(builtin: str | None = None, path: str | None = None) -> TextModel:
    """Load (once per process) a built-in model or a joblib file from `classifier_training`."""
    import joblib

    files = model_files(builtin, path)
    key = tuple((str(f), os.stat(f).st_mtime_ns) for f in files)
    if key not in _MODEL_CACHE:
        if builtin is not None:
            vectorizer, model = (joblib.load(f) for f in files)
            _MODEL_CACHE[key] = _VectorizerModel(vectorizer, model)
        else:
            loaded = joblib.load(files[0])
            if isinstance(loaded, dict):  # {"vectorizer", "model", "meta"} from classifier_training
                _MODEL_CACHE[key] = _VectorizerModel(loaded["vectorizer"], loaded["model"])
            else:  # a scikit-learn Pipeline taking raw texts
                _MODEL_CACHE[key] = loaded
    return _MODEL_CACHE[key]


_SENTENCE_ENDS = (". ", "! ", "? ", "\n", "。", "！", "？", "；")


def windows(text: str, size: int) -> list[tuple[int, int]]:
    """Cut `text` into spans of at most `size` chars, at a sentence end, else at a space."""
    n = len(text)
    if n <= size:
        return [(0, n)]
    spans = []
    start = 0
    while start < n:
        end = min(n, start + size)
        if end < n:
            lo = start + size // 3
            cut = max(text.rfind(sep, lo, end - len(sep) + 1) + len(sep) for sep in _SENTENCE_ENDS)
            if cut <= lo:
                cut = text.rfind(" ", lo, end) + 1
            if cut > lo:
                end = cut
        spans.append((start, end))
        start = end
    return spans


@dataclass
class ClassifierDetector:
    """Scores windows of each text; a window with probability >= threshold is a finding."""

    name: str
    category: str
    builtin: str | None = None
    path: str | None = None
    threshold: float = 0.5
    window_chars: int = 1000

    def __post_init__(self) -> None:
        self._model: TextModel | None = None

    def setup(self) -> None:
        """Load the model (cached per process)."""
        if self._model is None:
            self._model = load_model(self.builtin, self.path)

    def scan(self, text: str) -> list[Finding]:
        """Findings for one text (prefer `scan_batch`: the model's cost is per call)."""
        return self.scan_batch([text])[0]

    def scan_batch(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Findings per text, with every window of every text scored in one model call."""
        self.setup()
        owner: list[int] = []
        spans: list[tuple[int, int]] = []
        chunks: list[str] = []
        for t_i, text in enumerate(texts):
            for s, e in windows(text, self.window_chars):
                if text[s:e].strip():
                    owner.append(t_i)
                    spans.append((s, e))
                    chunks.append(text[s:e])
        out: list[list[Finding]] = [[] for _ in texts]
        if not chunks:
            return out
        probs = self.probabilities(chunks)
        for t_i, (s, e), p in zip(owner, spans, probs, strict=True):
            if p >= self.threshold:
                f = Finding(
                    self.name, self.category, s, e, texts[t_i][s:e], "", "classifier", float(p)
                )
                out[t_i].append(replace(f, masked=mask_finding(f)))
        return out

    def probabilities(self, texts: Sequence[str]) -> list[float]:
        """The positive-class probability of each text, in one batch."""
        self.setup()
        return [float(p) for p in self._model.predict_proba(list(texts))[:, 1]]
