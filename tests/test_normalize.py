"""Folding for matching keeps a map back to the original offsets."""

from __future__ import annotations

import pytest

from assay.normalize import fold_term, normalize


def _span_text(text: str, folded_sub: str) -> str:
    norm = normalize(text)
    i = norm.text.index(folded_sub)
    s, e = norm.original_span(i, i + len(folded_sub))
    return text[s:e]


def test_ascii_fast_path_lowercases_without_offset_map():
    norm = normalize("Hello WORLD")
    assert norm.text == "hello world"
    assert norm.starts is None
    assert norm.original_span(6, 11) == (6, 11)


def test_fullwidth_letters_fold_to_ascii_and_map_back():
    text = "say ＦＵＣＫ now"
    assert normalize(text).text == "say fuck now"
    assert _span_text(text, "fuck") == "ＦＵＣＫ"


def test_zero_width_characters_are_removed_and_offsets_kept():
    text = "a f\u200bu\u200dck b"
    norm = normalize(text)
    assert norm.text == "a fuck b"
    assert _span_text(text, "fuck") == "f\u200bu\u200dck"


def test_case_folding_expands_sharp_s_and_maps_back():
    text = "Die STRAßE ist lang"
    norm = normalize(text)
    assert "strasse" in norm.text
    assert _span_text(text, "strasse") == "STRAßE"


def test_combining_marks_compose_and_map_to_whole_cluster():
    text = "cafe\u0301 au lait"  # e + combining acute
    norm = normalize(text)
    assert norm.text.startswith("café")
    assert _span_text(text, "café") == "cafe\u0301"


def test_already_normal_non_ascii_text_takes_the_fast_path():
    norm = normalize("你他妈的 Straße")  # NFKC-normal; casefold expands ß, so slow path
    assert norm.text == "你他妈的 strasse"
    assert normalize("你他妈的").starts is None


@pytest.mark.parametrize(
    ("raw", "folded"),
    [("sh1t", "shit"), ("a$$", "ass"), ("f@ck", "fack"), ("2013", "2013"), ("13.", "13.")],
)
def test_leetspeak_folding_is_one_to_one(raw: str, folded: str):
    assert normalize(raw, leetspeak=True).text == folded
    assert len(normalize(raw, leetspeak=True).text) == len(raw)


def test_fold_term_matches_text_folding():
    assert fold_term("ＡＢＣ") == normalize("abc").text


def test_expanding_compatibility_characters_keep_offsets():
    text = "他说……你个傻比！ﬁne"  # U+2026 -> "...", U+FF01 -> "!", U+FB01 -> "fi"
    norm = normalize(text)
    assert norm.text == "他说......你个傻比!fine"
    assert _span_text(text, "你个傻比") == "你个傻比"
    assert _span_text(text, "fine") == "ﬁne"


def test_decomposed_accents_fold_like_precomposed():
    assert normalize("Cafe\u0301 GROSSE").text == normalize("Café grosse").text


def test_full_width_fast_path_agrees_with_per_character_folding():
    from assay.normalize import _normalize_by_char

    for text in ("你好，世界！ＡＢＣ　ｄｅｆ", "Ｓｈｉｔ！真的", "（测试）１２３：ｏｋ"):
        fast = normalize(text)
        assert fast.starts is None
        assert fast.text == _normalize_by_char(text, False).text
        assert len(fast.text) == len(text)


# ---- the fast paths give what the general per-character path gives ---------------------------

# ASCII, already-normal non-ASCII, full-width, expanding (…, ﬁ, ß), combining marks, zero-width.
_MIXED = [
    "Hello WORLD",
    "",
    "plain ascii, no hits",
    "你他妈的真是个傻逼啊",
    "“Curly quotes” and a dash — fine",
    "Ｓｈｉｔ！真的（测试）１２３：ｏｋ　ｄｅｆ",
    "他说……你个傻比！ﬁne ＦＵＣＫ",
    "Die STRAßE ist lang… ｆｕｃｋ",
    "cafe\u0301 ＡＢＣ f\u200bu\u200dck",
    "x\u00a0y ½ ² Ⅻ İstanbul ǅ ŉ",
    "emoji 😀 ｆｉｎｅ and 𠀀 (CJK ext B)",
]


@pytest.mark.parametrize("text", _MIXED)
@pytest.mark.parametrize("leetspeak", [False, True])
def test_fast_paths_agree_with_the_per_character_path(text: str, leetspeak: bool):
    from assay.normalize import _normalize_by_char

    fast, general = normalize(text, leetspeak), _normalize_by_char(text, leetspeak)
    assert fast.text == general.text
    for i in range(len(fast.text)):
        assert fast.original_span(i, i + 1) == general.original_span(i, i + 1)


@pytest.mark.parametrize("text", _MIXED + ["\u3000", "ｆ" * 50, "a\uff01b\uff5ec\uff5fd\uff00e"])
def test_narrow_equals_the_width_table(text: str):
    from assay.normalize import _WIDTH, narrow

    assert narrow(text) == text.translate(_WIDTH)


def test_translate_few_equals_str_translate_also_when_replacements_chain():
    from assay.normalize import _translate_few

    text = "a…b…ﬁ c ß"
    simple = {ord("…"): "...", ord("ﬁ"): "fi", ord("ß"): "ss"}
    assert _translate_few(text, simple) == text.translate(simple)
    chained = {ord("a"): "b", ord("b"): "c"}  # sequential replaces would give "cc"
    assert _translate_few("ab", chained) == "ab".translate(chained) == "bc"
    deleting = {ord("\u200b"): ""}
    assert _translate_few("f\u200buck", deleting) == "fuck"
    assert _translate_few(text, {}) == text


def test_offset_maps_are_arrays_and_spans_are_ints():
    norm = normalize("a … ﬁne")
    assert norm.text == "a ... fine" and norm.starts is not None
    s, e = norm.original_span(6, 10)  # "fine" <- "ﬁne"
    assert (s, e) == (4, 7) and type(s) is int and type(e) is int


def test_nfkc_normal_text_holds_no_full_width_form():
    """normalize skips narrowing NFKC-normal text: no form of the width table is NFKC-normal."""
    import unicodedata

    from assay.normalize import _WIDTH

    assert not any(unicodedata.is_normalized("NFKC", chr(cp)) for cp in _WIDTH)
