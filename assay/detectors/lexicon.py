"""Lexicon detector: many terms at once with Aho-Corasick, on folded text, Scunthorpe-safe.

Terms and texts are folded the same way (`assay.normalize`). In space-delimited scripts a term
must start and end at a word boundary ("ass" does not fire inside "class"); in scripts written
without spaces (Chinese, Japanese, Thai, ...) a term matches as a substring. A per-term
allowlist drops hits that lie inside a known harmless phrase ("Scunthorpe", "cocktail").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from assay.detectors.base import Finding
from assay.evidence import lexicon_evidence
from assay.normalize import fold_term, normalize

ENGINES = ("ahocorasick_rs", "pyahocorasick")
ANY_TERM = "*"  # allowlist key: phrases that excuse any term inside them

# Scripts written without spaces between words: terms in them match as substrings.
_NO_SPACE_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x31FF),  # Hiragana, Katakana, Bopomofo
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables (particles attach to words)
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK extensions B-G
)


def is_no_space_char(ch: str) -> bool:
    """True for characters of scripts written without spaces between words."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _NO_SPACE_RANGES)


def is_word_char(ch: str) -> bool:
    """A letter or digit of a space-delimited script: hits may not touch one."""
    return ch.isalnum() and not (ord(ch) >= 0x0E00 and is_no_space_char(ch))


class _WordChars(dict):
    """`is_word_char` as a dict lookup, filled as characters are seen (hot per-hit check)."""

    def __missing__(self, ch: str) -> bool:
        value = self[ch] = is_word_char(ch)
        return value


_WORD_CHAR = _WordChars()


@dataclass
class LexiconDetector:
    """Aho-Corasick over folded text; findings carry original offsets and `lexicon:<term>`."""

    name: str
    category: str
    terms: list[str]
    allowlist: Mapping[str, list[str]] = field(default_factory=dict)
    leetspeak: bool = False
    engine: str = "ahocorasick_rs"

    def __post_init__(self) -> None:
        self._matcher = None
        self._allow_matcher = None

    def setup(self) -> None:
        """Fold the terms and build the automata (once per worker)."""
        if self._matcher is not None:
            return
        folded: dict[str, str] = {}
        for term in self.terms:
            key = fold_term(term, self.leetspeak).strip()
            if key and key not in folded:
                folded[key] = term
        keys = list(folded)
        self._keys = keys
        self._canon = [folded[k] for k in keys]
        self._kinds = [f"lexicon:{term}" for term in self._canon]
        self._need_left = [is_word_char(k[0]) for k in keys]
        self._need_right = [is_word_char(k[-1]) for k in keys]
        self._matcher = _build(keys, self.engine)
        allow_terms: dict[str, set[str]] = {}
        for term, phrases in self.allowlist.items():
            t = ANY_TERM if term == ANY_TERM else fold_term(term, self.leetspeak)
            for phrase in phrases:
                allow_terms.setdefault(fold_term(phrase, self.leetspeak), set()).add(t)
        self._allow_phrases = list(allow_terms)
        self._allow_for = [allow_terms[p] for p in self._allow_phrases]
        self._allow_matcher = _build(self._allow_phrases, self.engine) if allow_terms else None

    def scan(self, text: str) -> list[Finding]:
        """Findings for every term occurrence that respects word boundaries and the allowlist."""
        if self._matcher is None:
            self.setup()
        norm = normalize(text, self.leetspeak)
        folded = norm.text
        raw = self._matcher(folded)
        if not raw:
            return []
        hits = self._bounded_hits(folded, raw)
        if not hits:
            return []
        if self._allow_matcher is not None:
            hits = self._drop_allowed(folded, hits)
        if len(hits) > 1:
            hits = _drop_nested(hits)
        name, category, canon, kinds = self.name, self.category, self._canon, self._kinds
        if norm.starts is not None:  # folding changed lengths: map the spans back
            hits = [(*norm.original_span(s, e), i) for s, e, i in hits]
        return [
            Finding(
                name, category, s, e, text[s:e], lexicon_evidence(text, s, e, canon[i]), kinds[i]
            )
            for s, e, i in hits
        ]

    def _bounded(self, folded: str, s: int, e: int, i: int) -> bool:
        if self._need_left[i] and s > 0 and is_word_char(folded[s - 1]):
            return False
        return not (self._need_right[i] and e < len(folded) and is_word_char(folded[e]))

    def _bounded_hits(self, folded: str, raw) -> list[tuple[int, int, int]]:
        """`(start, end, term)` of the raw matches that pass `_bounded` (inlined: per-hit hot loop)."""
        need_left, need_right, word = self._need_left, self._need_right, _WORD_CHAR
        n = len(folded)
        out = []
        for i, s, e in raw:
            if need_left[i] and s and word[folded[s - 1]]:
                continue
            if need_right[i] and e < n and word[folded[e]]:
                continue
            out.append((s, e, i))
        return out

    def _drop_allowed(
        self, folded: str, hits: list[tuple[int, int, int]]
    ) -> list[tuple[int, int, int]]:
        allowed = [(s, e, self._allow_for[i]) for i, s, e in self._allow_matcher(folded)]
        keep = []
        for s, e, i in hits:
            key = self._keys[i]
            excused = any(
                a_s <= s and e <= a_e and (key in terms or ANY_TERM in terms)
                for a_s, a_e, terms in allowed
            )
            if not excused:
                keep.append((s, e, i))
        return keep


def _drop_nested(hits: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Keep the outermost hit where hits nest ("bad word" over "bad")."""
    hits.sort(key=lambda h: (h[0], -h[1]))
    out: list[tuple[int, int, int]] = []
    reach = -1
    for h in hits:
        if h[1] <= reach:
            continue
        out.append(h)
        reach = h[1]
    return out


def _build(keys: list[str], engine: str):
    """A function folded_text -> list of (term_index, start, end) for every occurrence."""
    if not keys:
        return lambda _text: []
    if engine == "ahocorasick_rs":
        import ahocorasick_rs

        ac = ahocorasick_rs.AhoCorasick(keys, matchkind=ahocorasick_rs.MATCHKIND_STANDARD)
        return lambda text: ac.find_matches_as_indexes(text, overlapping=True)
    if engine == "pyahocorasick":
        import ahocorasick

        auto = ahocorasick.Automaton()
        for i, k in enumerate(keys):
            auto.add_word(k, (i, len(k)))
        auto.make_automaton()

        def matches(text: str) -> list[tuple[int, int, int]]:
            return [(i, end - n + 1, end + 1) for end, (i, n) in auto.iter(text)]

        return matches
    raise ValueError(f"unknown lexicon engine {engine!r}; use one of {ENGINES}")
