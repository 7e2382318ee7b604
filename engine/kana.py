"""Japanese text as people type it: full-width/half-width folding and furigana (kana)
normalisation. Kanji are never touched (a name must print as its owner writes it)."""

from __future__ import annotations

import re
import unicodedata

import jaconv

_SPACES = re.compile(r"[\s\u3000]+")
# Runs of full-width ASCII (Ａ, １, ＠ ...) and of half-width katakana (ｶﾞ ...).
_WIDE_ASCII = re.compile(r"[\uFF01-\uFF5E]+")
_NARROW_KANA = re.compile(r"[\uFF61-\uFF9F]+")


def fold_width(text: str) -> str:
    """Full-width ASCII letters, digits and signs to half-width; half-width katakana to
    full-width (with its voiced marks joined: ｶﾞ -> ガ). Nothing else changes: kanji are left
    exactly as typed (NFKC, and even NFC, would turn 﨑-like compatibility ideographs of a
    name into another character)."""
    text = _WIDE_ASCII.sub(lambda m: unicodedata.normalize("NFKC", m[0]), text)
    return _NARROW_KANA.sub(lambda m: _narrow_kana(m[0]), text)


def _narrow_kana(run: str) -> str:
    wide = unicodedata.normalize("NFKC", run)
    # A voiced mark that joined nothing stays a visible mark rather than a combining one.
    return wide.replace("\u3099", "\u309B").replace("\u309A", "\u309C")


def normalise_kana(text: str, script: str = "katakana") -> str:
    """Furigana: hiragana, katakana and half-width kana are accepted; the result is in
    ``script`` with spaces (ASCII or ideographic) collapsed to one ASCII space."""
    folded = fold_width(text)
    folded = jaconv.kata2hira(folded) if script == "hiragana" else jaconv.hira2kata(folded)
    return _SPACES.sub(" ", folded).strip()
