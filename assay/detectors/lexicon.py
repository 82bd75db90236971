"""Lexicon detector: many terms at once with Aho-Corasick, on folded text, Scunthorpe-safe.

Terms and texts are folded the same way (`assay.normalize`). In space-delimited scripts a term
must start and end at a word boundary ("ass" does not fire inside "class"); in scripts written
without spaces (Chinese, Japanese, Thai, ...) a term matches as a substring. A per-term
allowlist drops hits that lie inside a known harmless phrase ("Scunthorpe", "cocktail").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, pairwise

import numpy as np

from assay.detectors.base import Finding, FindingColumns
from assay.evidence import lexicon_evidence_columns
from assay.normalize import Normalized, fold_term, normalize

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


# Per code point: is it a word character (`is_word_char`)? Filled as code points are seen.
_WORD = np.zeros(0x110000, dtype=bool)
_WORD_KNOWN = np.zeros(0x110000, dtype=bool)


def _word_table(seen: np.ndarray) -> np.ndarray:
    """The word-character table, known for every code point in `seen`."""
    new = seen[~_WORD_KNOWN[seen]]
    if len(new):
        for cp in np.unique(new).tolist():
            _WORD[cp] = is_word_char(chr(cp))
            _WORD_KNOWN[cp] = True
    return _WORD


# Joins folded texts for one matcher call: the first of these that no term or phrase holds.
_SEPARATORS = tuple(map(chr, range(0x20)))


@dataclass
class _Hits:
    """Lexicon hits as arrays: text index, term index, folded start and end."""

    doc: np.ndarray
    term: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def none(cls) -> _Hits:
        no = np.zeros(0, dtype=np.int64)
        return cls(no, no, no, no)

    def for_doc(self, doc: int) -> _Hits:
        return _Hits(np.full(len(self.doc), doc, dtype=np.int64), self.term, self.start, self.end)

    @classmethod
    def concat(cls, parts: Sequence[_Hits]) -> _Hits:
        if not parts:
            return cls.none()
        return cls(*(np.concatenate([getattr(p, n) for p in parts]) for n in cls.__annotations__))


MATCH_CHARS = 1 << 15  # characters per matcher call (see LexiconDetector._match)


def _cuts(first: np.ndarray, total: int) -> list[int]:
    """Slice bounds of a joined text of `total` characters whose texts start at `first`:
    0, then the first text start at or after each multiple of MATCH_CHARS, then `total`."""
    at = np.searchsorted(first, np.arange(MATCH_CHARS, total, MATCH_CHARS))
    starts = np.unique(first[at[at < len(first)]]).tolist()
    return [0] + [s for s in starts if s > 0] + [total]


def _original_spans(
    norms: Sequence[Normalized], doc: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Folded spans mapped back to the original texts (only texts whose folding moved offsets).

    `doc` is sorted, so each text's hits are one run of rows.
    """
    moved = [d for d in np.unique(doc).tolist() if norms[d].starts is not None]
    if not moved:
        return start, end
    start, end = start.copy(), end.copy()
    for d in moved:
        rows = slice(np.searchsorted(doc, d, "left"), np.searchsorted(doc, d, "right"))
        starts, ends = np.asarray(norms[d].starts), np.asarray(norms[d].ends)
        start[rows], end[rows] = starts[start[rows]], ends[end[rows] - 1]
    return start, end


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
        self._need_left = np.array([is_word_char(k[0]) for k in keys], dtype=bool)
        self._need_right = np.array([is_word_char(k[-1]) for k in keys], dtype=bool)
        self._matcher = _build(keys, self.engine)
        allow_terms: dict[str, set[str]] = {}
        for term, phrases in self.allowlist.items():
            t = ANY_TERM if term == ANY_TERM else fold_term(term, self.leetspeak)
            for phrase in phrases:
                allow_terms.setdefault(fold_term(phrase, self.leetspeak), set()).add(t)
        phrases = list(allow_terms)
        index = {k: i for i, k in enumerate(keys)}
        self._allow_any = [ANY_TERM in allow_terms[p] for p in phrases]
        self._allow_ids = [
            np.array(sorted(index[t] for t in allow_terms[p] if t in index), dtype=np.int64)
            for p in phrases
        ]
        self._allow_matcher = _build(phrases, self.engine) if allow_terms else None
        self._sep = next((c for c in _SEPARATORS if not any(c in k for k in keys + phrases)), None)

    def scan(self, text: str) -> list[Finding]:
        """Findings for every term occurrence that respects word boundaries and the allowlist."""
        return self.scan_columns([text]).to_lists(1)[0]

    def scan_batch(self, texts: Sequence[str]) -> list[list[Finding]]:
        """`scan` of each text."""
        return self.scan_columns(texts).to_lists(len(texts))

    def scan_columns(self, texts: Sequence[str]) -> FindingColumns:
        """The findings of every text, as columns, in (text, start, -end) order.

        Each text is folded on its own, so a text's findings never depend on its batch. The
        folded texts are joined with a separator no term holds and matched a slice of about
        MATCH_CHARS at a time; word boundaries, the allowlist and nesting are then decided with
        numpy over all hits.
        """
        if self._matcher is None:
            self.setup()
        norms = [normalize(t, self.leetspeak) for t in texts]
        if self._sep is None:  # every candidate separator is inside some term: text by text
            parts = [self._hits([n]) for n in norms]
            hits = _Hits.concat([h.for_doc(d) for d, h in enumerate(parts)])
        else:
            hits = self._hits(norms)
        if not len(hits.term):
            return FindingColumns.empty()
        doc, terms = hits.doc, hits.term.tolist()
        start, end = _original_spans(norms, doc, hits.start, hits.end)
        n = len(terms)
        return FindingColumns(
            doc,
            start,
            end,
            [self.name] * n,
            [self.category] * n,
            [self._kinds[i] for i in terms],
            [
                texts[d][s:e]
                for d, s, e in zip(doc.tolist(), start.tolist(), end.tolist(), strict=True)
            ],
            lexicon_evidence_columns(texts, doc, start, end, [self._canon[i] for i in terms]),
            np.ones(n, dtype=np.float64),
        )

    def _hits(self, norms: Sequence[Normalized]) -> _Hits:
        """Term hits in the folded texts that pass boundaries, allowlist and nesting."""
        folded = [n.text for n in norms]
        joined = (self._sep or "").join(folded)
        first = np.zeros(len(folded), dtype=np.int64)
        np.cumsum(np.fromiter(map(len, folded), np.int64, len(folded))[:-1] + 1, out=first[1:])
        found = self._match(joined, first)
        if not len(found):
            return _Hits.none()
        term, start, end = found[:, 0], found[:, 1], found[:, 2]
        codes = np.frombuffer((joined + "\x00").encode("utf-32-le", "surrogatepass"), np.uint32)
        keep = self._bounded_mask(codes, term, start, end)
        if self._allow_matcher is not None:
            keep &= ~self._excused(joined, term, start, end)
        term, start, end = term[keep], start[keep], end[keep]
        order = np.lexsort((-end, start))
        term, start, end = term[order], start[order], end[order]
        # outermost hits where hits nest ("bad word" over "bad"): texts never share a span
        reach = np.maximum.accumulate(end)
        keep = np.ones(len(end), dtype=bool)
        keep[1:] = end[1:] > reach[:-1]
        term, start, end = term[keep], start[keep], end[keep]
        doc = np.searchsorted(first, start, side="right") - 1
        return _Hits(doc, term, start - first[doc], end - first[doc])

    def _match(self, joined: str, first: np.ndarray) -> np.ndarray:
        """(term, start, end) rows of every raw match in `joined`, texts starting at `first`.

        The matcher runs over slices of about MATCH_CHARS, cut between texts: its result is a
        Python tuple per match, and holding a whole batch's (~30,000 per MB) alive at once
        makes the garbage collector walk them again and again (~35% slower here).
        """
        cuts = _cuts(first, len(joined))
        parts = []
        for a, b in pairwise(cuts):
            raw = self._matcher(joined[a:b] if b - a < len(joined) else joined)
            if raw:
                part = np.fromiter(chain.from_iterable(raw), np.int64, 3 * len(raw))
                part = part.reshape(-1, 3)
                part[:, 1:] += a
                parts.append(part)
        return np.concatenate(parts) if parts else np.zeros((0, 3), dtype=np.int64)

    def _bounded_mask(
        self, codes: np.ndarray, term: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> np.ndarray:
        """Hits whose term needs no word character beside it where there is one.

        `codes` ends with a non-word character, and texts are joined by one, so `start - 1`
        (-1 for the first text) and `end` always index a character outside the hit.
        """
        before, after = codes[start - 1], codes[end]
        word = _word_table(np.concatenate([before, after]))
        return ~((self._need_left[term] & word[before]) | (self._need_right[term] & word[after]))

    def _excused(
        self, joined: str, term: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> np.ndarray:
        """Hits that lie inside an allowlisted phrase meant for their term (or for any term)."""
        excused = np.zeros(len(term), dtype=bool)
        for i, a_start, a_end in self._allow_matcher(joined):
            inside = (a_start <= start) & (end <= a_end)
            if self._allow_any[i]:
                excused |= inside
            else:
                excused |= inside & np.isin(term, self._allow_ids[i])
        return excused


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
