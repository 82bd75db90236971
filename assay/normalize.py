"""Text normalisation for matching, with a map back to the original offsets.

Matching runs on a folded form of the text (NFKC where needed, case folded, zero-width
characters removed, optionally leetspeak folded); findings must point into the ORIGINAL
text, so every folded character remembers the index of the original character it came from.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import re2

# Zero-width and invisible format characters used to split words ("f\u200buck").
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")
_ZW_DELETE = dict.fromkeys(map(ord, ZERO_WIDTH))

# Leetspeak folding: one character for one character, so offsets are unchanged. Only tokens
# that mix ASCII letters with these characters are folded ("sh1t", "a$$"), never numbers
# ("2013", "13."), so digits in ordinary text keep their meaning.
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_CHARS = frozenset("013457@$")
_LEET_TOKEN = re2.compile(r"[a-z0-9@$]*[0-9@$][a-z0-9@$]*")


@dataclass(frozen=True)
class Normalized:
    """A folded text and, where lengths differ, the original index of each folded character."""

    text: str
    starts: list[int] | None = None  # None: folded index == original index
    ends: list[int] | None = None  # original end of the cluster each folded char came from

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a non-empty [start, end) span of the folded text to the original text."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def fold_term(term: str, leetspeak: bool = False) -> str:
    """Fold a lexicon term exactly as texts are folded."""
    return normalize(term, leetspeak=leetspeak).text


def normalize(text: str, leetspeak: bool = False) -> Normalized:
    """Fold `text` for matching; the fast paths keep a 1:1 offset map (offsets=None)."""
    if text.isascii():
        folded = text.lower()
        return Normalized(fold_leet(folded) if leetspeak else folded)
    if unicodedata.is_normalized("NFKC", text) and not _has_zero_width(text):
        folded = text.casefold()
        if len(folded) == len(text):  # casefold expanded nothing (no ß, ŉ, ...)
            return Normalized(fold_leet(folded) if leetspeak else folded)
    return _normalize_slow(text, leetspeak)


def fold_leet(folded: str) -> str:
    """Fold leetspeak inside tokens that mix ASCII letters with digits, '@' or '$'."""
    if not any(ch in folded for ch in _LEET_CHARS):
        return folded
    return _LEET_TOKEN.sub(_leet_token, folded)


def _leet_token(m) -> str:
    token = m.group(0)
    return token.translate(LEET) if any("a" <= ch <= "z" for ch in token) else token


def _has_zero_width(text: str) -> bool:
    return any(ch in text for ch in ZERO_WIDTH)


def _normalize_slow(text: str, leetspeak: bool) -> Normalized:
    """Per-cluster NFKC + casefold: a base character and its combining marks fold together."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch in ZERO_WIDTH:
            i += 1
            continue
        j = i + 1
        while j < n and (unicodedata.combining(text[j]) or text[j] in ZERO_WIDTH):
            j += 1
        cluster = text[i:j].translate(_ZW_DELETE)
        folded = unicodedata.normalize("NFKC", cluster).casefold()
        # casefold can denormalise (e.g. U+0130), so normalise once more
        folded = unicodedata.normalize("NFKC", folded)
        out.append(folded)
        starts.extend([i] * len(folded))
        ends.extend([j] * len(folded))
        i = j
    folded_text = "".join(out)
    if leetspeak:
        folded_text = fold_leet(folded_text)
    return Normalized(folded_text, starts, ends)
