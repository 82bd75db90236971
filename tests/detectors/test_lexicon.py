"""Lexicon detector: word boundaries, CJK substrings, allowlist, original offsets, masking."""

from __future__ import annotations

import pytest

from assay.detectors.lexicon import LexiconDetector


def _scan(terms, text, **kw):
    det = LexiconDetector("lex", "offensive_language", terms, **kw)
    det.setup()
    return det.scan(text)


@pytest.mark.parametrize("engine", ["ahocorasick_rs", "pyahocorasick"])
def test_matches_terms_with_original_offsets(engine: str):
    text = "Well, FUCK that and shit."
    found = _scan(["fuck", "shit"], text, engine=engine)
    assert [(f.match, f.kind) for f in found] == [
        ("FUCK", "lexicon:fuck"),
        ("shit", "lexicon:shit"),
    ]
    assert all(text[f.start : f.end] == f.match for f in found)


@pytest.mark.parametrize(
    "text",
    [
        "Scunthorpe United won",
        "a class assignment",
        "the cocktail hour",
        "Essex and Sussex",
        "passion",
    ],
)
def test_no_scunthorpe_matches_inside_longer_words(text: str):
    assert _scan(["cunt", "ass", "cock", "sex"], text) == []


def test_near_misses_and_punctuation_boundaries():
    found = _scan(["ass"], "ass. (ass) 'ass' asses assist bass ass_hat")
    assert [f.match for f in found] == ["ass", "ass", "ass", "ass"]  # ass_hat: '_' separates


def test_multiword_terms_and_nesting_keep_the_longest():
    found = _scan(["bad", "bad word"], "a bad word and a bad day")
    assert [f.match for f in found] == ["bad word", "bad"]


def test_chinese_terms_match_as_substrings():
    text = "你他妈的真是个傻逼啊"
    found = _scan(["他妈的", "傻逼"], text)
    assert [f.match for f in found] == ["他妈的", "傻逼"]
    assert text[found[1].start : found[1].end] == "傻逼"


def test_mixed_scripts_latin_term_next_to_cjk_is_bounded():
    found = _scan(["fuck"], "这是fuck的例子 fucking")
    assert [f.match for f in found] == ["fuck"]


def test_digit_terms_need_boundaries_in_cjk_text():
    # LDNOOBW's zh list has "13." ("十三点", silly): it must not fire inside "2013."
    found = _scan(["13."], "他真是13.。那是2013.年")
    assert [f.start for f in found] == [3]


def test_fullwidth_and_zero_width_obfuscation_are_caught():
    text = "ｆｕｃｋ and f\u200bu\u200bck"
    found = _scan(["fuck"], text)
    assert [f.match for f in found] == ["ｆｕｃｋ", "f\u200bu\u200bck"]


def test_leetspeak_only_when_enabled_and_not_on_numbers():
    assert _scan(["shit"], "sh1t happens") == []
    assert [f.match for f in _scan(["shit"], "sh1t happens", leetspeak=True)] == ["sh1t"]
    assert _scan(["ie"], "in 2013 13 1e", leetspeak=True) != []  # "1e" mixes letters: folded
    assert _scan(["ie"], "in 2013 13", leetspeak=True) == []


def test_allowlist_drops_hits_inside_known_harmless_phrases():
    allow = {"cum": ["cum laude"], "*": ["homo sapiens"]}
    found = _scan(["cum", "homo"], "magna cum laude; homo sapiens; cum; homo", allowlist=allow)
    assert [f.start for f in found] == [31, 36]


def test_masked_evidence_masks_context_pii_and_truncates():
    text = "mail me at john.doe@example.com you fucking idiot, call 555 123 4567 now please ok"
    (f,) = _scan(["idiot"], text)
    assert "«idiot»" in f.masked
    assert "john" not in f.masked and "4567" not in f.masked
    assert f.masked.startswith("…") and f.masked.endswith("…")


def test_empty_lexicon_and_empty_text():
    assert _scan([], "anything") == []
    assert _scan(["x"], "") == []


# ---- the fast scan gives what the general path gives ------------------------------------------


def _reference_scan(det: LexiconDetector, text: str):
    """The rules one hit at a time: per-character folding, a bound check per hit, the allowlist
    phrase by phrase, the outermost of nested hits, one span mapping per hit."""
    from assay.detectors.base import Finding
    from assay.detectors.lexicon import ANY_TERM, is_word_char
    from assay.evidence import lexicon_evidence
    from assay.normalize import _normalize_by_char, fold_term

    norm = _normalize_by_char(text, det.leetspeak)
    folded = norm.text
    hits = []
    for i, s, e in det._matcher(folded):
        key = det._keys[i]
        if is_word_char(key[0]) and s > 0 and is_word_char(folded[s - 1]):
            continue
        if is_word_char(key[-1]) and e < len(folded) and is_word_char(folded[e]):
            continue
        hits.append((s, e, i))
    allowed = []
    for term, phrases in det.allowlist.items():
        t = ANY_TERM if term == ANY_TERM else fold_term(term, det.leetspeak)
        for phrase in map(lambda p: fold_term(p, det.leetspeak), phrases):
            at = folded.find(phrase)
            while at >= 0:
                allowed.append((at, at + len(phrase), t))
                at = folded.find(phrase, at + 1)
    hits = [
        (s, e, i)
        for s, e, i in hits
        if not any(a <= s and e <= b and t in (ANY_TERM, det._keys[i]) for a, b, t in allowed)
    ]
    out, reach = [], -1
    for s, e, i in sorted(hits, key=lambda h: (h[0], -h[1])):
        if e <= reach:
            continue
        reach = e
        o_s, o_e = norm.original_span(s, e)
        term = det._canon[i]
        masked = lexicon_evidence(text, o_s, o_e, term)
        out.append(
            Finding(det.name, det.category, o_s, o_e, text[o_s:o_e], masked, f"lexicon:{term}")
        )
    return out


def _random_texts(n: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    words = ["fuck", "SHIT", "ass", "class", "bad word", "cum laude", "homo", "sh1t", "a$$", "13."]
    words += ["傻逼", "他妈的", "ｆｕｃｋ", "f\u200buck", "STRAßE", "cafe\u0301", "…", "ﬁne"]  # fmt: skip
    words += ["2013"]
    words += ["hello", "world", "555-0199", "ann@x.org", "“quoted”", "你好", "，", "！", "\n", "İ"]
    texts = ["", "no hits at all here", "fuck", "你他妈的"]
    for _ in range(n):
        parts = [rng.choice(words) for _ in range(rng.randint(1, 25))]
        texts.append("".join(p + rng.choice(["", " ", " ", ".", ", "]) for p in parts))
    return texts


@pytest.mark.parametrize("engine", ["ahocorasick_rs", "pyahocorasick"])
@pytest.mark.parametrize(
    ("leetspeak", "allowlist"),
    [(False, {}), (True, {"cum": ["cum laude"], "*": ["homo sapiens"], "ass": ["class ass"]})],
)
def test_scan_equals_the_general_path(engine: str, leetspeak: bool, allowlist: dict):
    terms = ["fuck", "shit", "ass", "bad", "bad word", "cum", "homo", "13.", "傻逼", "他妈的"]  # fmt: skip
    terms += ["strasse"]
    det = LexiconDetector(
        "lex", "c", terms, allowlist=allowlist, leetspeak=leetspeak, engine=engine
    )
    det.setup()
    texts = _random_texts(400, seed=11)
    found = [det.scan(t) for t in texts]
    assert found == [_reference_scan(det, t) for t in texts]
    assert sum(map(len, found)) > 300  # the texts do hit
    assert any(t.isascii() and f for t, f in zip(texts, found, strict=True))
    assert any(not t.isascii() and f for t, f in zip(texts, found, strict=True))


def test_a_batch_finds_what_each_text_finds_alone(monkeypatch: pytest.MonkeyPatch):
    """Texts are matched joined, in slices: a text's findings never depend on its batch."""
    import assay.detectors.lexicon as lexicon

    terms = ["fuck", "shit", "ass", "bad", "bad word", "cum", "13.", "傻逼", "他妈的", "strasse"]
    det = LexiconDetector("lex", "c", terms, allowlist={"*": ["cum laude"]}, leetspeak=True)
    texts = _random_texts(300, seed=5) + ["\x00ass\x00", "ass\x00", "\x01fuck\x01"]
    alone = [det.scan(t) for t in texts]
    for chars in (1, 7, 64, 1 << 15):  # slices of one text each, a few texts, the whole batch
        monkeypatch.setattr(lexicon, "MATCH_CHARS", chars)
        assert det.scan_batch(texts) == alone
    assert alone[-3] and alone[-2] and alone[-1]  # separators in the text are no boundary issue


def test_terms_holding_every_separator_are_matched_text_by_text():
    terms = [f"a{chr(c)}b" for c in range(0x20)] + ["ass"]
    det = LexiconDetector("lex", "c", terms)
    det.setup()
    assert det._sep is None
    texts = ["a\x00b ass", "x a\x1fb", "none"]
    found = det.scan_batch(texts)
    assert [[f.match for f in fs] for fs in found] == [["a\x00b", "ass"], ["a\x1fb"], []]
    assert found == [_reference_scan(det, t) for t in texts]
