"""Text normalisation for matching, with a map back to the original offsets.

Matching runs on a folded form of the text (NFKC where needed, case folded, zero-width
characters removed, optionally leetspeak folded); findings must point into the ORIGINAL
text, so every folded character remembers the index of the original character it came from.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import re2

# Zero-width and invisible format characters used to split words ("f\u200buck").
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")
_ZW_DELETE = dict.fromkeys(map(ord, ZERO_WIDTH))

# Leetspeak folding: one character for one character, so offsets are unchanged. Only tokens
# that mix ASCII letters with these characters are folded ("sh1t", "a$$"), never numbers
# ("2013", "13."), so digits in ordinary text keep their meaning.
LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_LEET_CHARS = frozenset("013457@$")
_LEET_TOKEN = re2.compile(r"[a-z0-9@$]*[0-9@$][a-z0-9@$]*")


@dataclass(frozen=True)
class Normalized:
    """A folded text and, where lengths differ, the original index of each folded character."""

    text: str
    # integer arrays (numpy or lists), one entry per folded character; None: 1:1 map
    starts: Sequence[int] | None = None  # None: folded index == original index
    ends: Sequence[int] | None = None  # original end of the cluster each folded char came from

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a non-empty [start, end) span of the folded text to the original text."""
        if self.starts is None or self.ends is None:
            return start, end
        return int(self.starts[start]), int(self.ends[end - 1])


def fold_term(term: str, leetspeak: bool = False) -> str:
    """Fold a lexicon term exactly as texts are folded."""
    return normalize(term, leetspeak=leetspeak).text


# Full-width ASCII forms and the ideographic space fold one-to-one (as NFKC folds them), so
# Chinese and Japanese text with full-width punctuation keeps the 1:1 fast path.
_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_WIDE = re.compile("[\uff01-\uff5e\u3000]")
_NARROW = {chr(cp): chr(to) for cp, to in _WIDTH.items()}


def narrow(text: str) -> str:
    """`text.translate(_WIDTH)`, ~10x faster: str.translate looks every character up in a dict
    (~11 MB/s); here one regex scan finds the few distinct wide characters, each replaced once."""
    wide = _WIDE.findall(text)
    for ch in set(wide):
        text = text.replace(ch, _NARROW[ch])
    return text


def normalize(text: str, leetspeak: bool = False) -> Normalized:
    """Fold `text` for matching; the fast paths keep a 1:1 offset map (starts=None)."""
    if text.isascii():
        folded = text.lower()
    else:
        # NFKC folds every full-width form, so NFKC-normal text has none to narrow (~900 MB/s,
        # against ~140 MB/s for looking for them)
        if unicodedata.is_normalized("NFKC", text):
            narrow_text = text
        else:
            narrow_text = narrow(text)
            if not unicodedata.is_normalized("NFKC", narrow_text):
                return _normalize_by_char(text, leetspeak)
        if _has_zero_width(narrow_text):
            return _normalize_by_char(text, leetspeak)
        folded = narrow_text.casefold()
        if len(folded) != len(text):  # casefold expanded something (ß, ŉ, ...)
            return _normalize_by_char(text, leetspeak)
    return Normalized(fold_leet(folded) if leetspeak else folded)


# char -> its folded form, for characters whose fold differs (grows as texts are seen)
_FOLD_CACHE: dict[int, str] = {}
_SAME: set[int] = set()
# A base character followed by combining marks: folded together (e + U+0301 -> é).
_CLUSTER = re2.compile(r"[^\pM][\pM\x{200b}-\x{200d}\x{2060}\x{feff}\x{00ad}]*\pM[\pM]*")


def _fold_char(ch: str) -> str:
    if ch in ZERO_WIDTH:
        return ""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", ch).casefold())


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _normalize_by_char(text: str, leetspeak: bool) -> Normalized:
    """Fold the few distinct characters that change, vectorised over code points with numpy.

    Offsets are built only where a character's fold changes length; a base character and
    its combining marks fold together as one cluster.
    """
    codes = _codes(text)
    outside_cjk = (codes < 0x3400) | (codes > 0x9FFF) | ((codes > 0x4DBF) & (codes < 0x4E00))
    one: dict[int, int] = {}
    multi: dict[int, str] = {}
    has_marks = False
    for cp in np.unique(codes[(codes >= 0x80) & outside_cjk]).tolist():
        if cp in _SAME:
            continue
        ch = chr(cp)
        if unicodedata.category(ch) == "Mn" or unicodedata.combining(ch):
            has_marks = True
            continue
        folded = _FOLD_CACHE.get(cp)
        if folded is None:
            folded = _fold_char(ch)
            if folded == ch:
                _SAME.add(cp)
                continue
            _FOLD_CACHE[cp] = folded
        if len(folded) == 1:
            one[cp] = ord(folded)
        else:
            multi[cp] = folded
    if has_marks:
        return _normalize_clusters(
            text, codes, {**{k: chr(v) for k, v in one.items()}, **multi}, leetspeak
        )
    folded_text = _translate_few(text, {cp: chr(to) for cp, to in one.items()})
    folded_text = _translate_few(folded_text, multi).lower()
    if leetspeak:
        folded_text = fold_leet(folded_text)
    if not multi:
        return Normalized(folded_text)
    lengths = np.ones(len(codes), dtype=np.int64)
    for cp, folded in multi.items():
        lengths[codes == cp] = len(folded)
    starts = np.repeat(np.arange(len(codes), dtype=np.int64), lengths)
    return Normalized(folded_text, starts, starts + 1)


def _translate_few(text: str, table: dict[int, str]) -> str:
    """`text.translate(table)` for a table of a few characters, one str.replace per character.

    str.translate looks every character of the text up (~11 MB/s on non-ASCII text); replacing
    one character after the other gives the same result whenever no replacement holds a
    character of the table (checked; else str.translate).
    """
    if not table:
        return text
    keys = {chr(cp) for cp in table}
    if any(ch in keys for value in table.values() for ch in value):
        return text.translate(table)
    for cp, value in table.items():
        text = text.replace(chr(cp), value)
    return text


def _normalize_clusters(
    text: str, codes: np.ndarray, table: dict[int, str], leetspeak: bool
) -> Normalized:
    """Texts with combining marks: each base+marks cluster folds as a unit, the rest per char."""
    lengths = np.ones(len(codes), dtype=np.int64)
    for cp, folded in table.items():
        if len(folded) != 1:
            lengths[codes == cp] = len(folded)
    ends = np.arange(1, len(codes) + 1, dtype=np.int64)
    pieces, pos = [], 0
    for m in _CLUSTER.finditer(text):
        s, e = m.span()
        pieces.append(_translate_few(text[pos:s], table).lower())
        cluster = _fold_char(text[s:e].translate(_ZW_DELETE))
        pieces.append(cluster)
        lengths[s:e] = 0
        lengths[s] = len(cluster)
        ends[s] = e
        pos = e
    pieces.append(_translate_few(text[pos:], table).lower())
    folded_text = "".join(pieces)
    if leetspeak:
        folded_text = fold_leet(folded_text)
    starts = np.repeat(np.arange(len(codes), dtype=np.int64), lengths)
    return Normalized(folded_text, starts, np.repeat(ends, lengths))


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
