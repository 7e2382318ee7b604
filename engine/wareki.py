"""和暦 (Japanese era) dates: parse what people write on forms (西暦 or 和暦, full-width,
kanji numerals, 元年) and format dates the way official documents print them."""

from __future__ import annotations

import re
from datetime import date

from engine.kana import fold_width

ERAS = (  # (name, short, first day)
    ("令和", "R", date(2019, 5, 1)),
    ("平成", "H", date(1989, 1, 8)),
    ("昭和", "S", date(1926, 12, 25)),
    ("大正", "T", date(1912, 7, 30)),
    ("明治", "M", date(1868, 1, 25)),
)
_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6,
                 "七": 7, "八": 8, "九": 9}
_WAREKI = re.compile(r"^(令和|平成|昭和|大正|明治|[RHSTM])\s*(元|\d{1,3})\s*[年./-]\s*(\d{1,2})"
                     r"\s*[月./-]\s*(\d{1,2})\s*日?$", re.IGNORECASE)
_SEIREKI = re.compile(r"^(?:西暦)?\s*(\d{4})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def _kanji_number(text: str) -> str:
    """令和八年四月一日 -> 令和8年4月1日 (and 十, 二十一 ...)."""
    def number(m: re.Match[str]) -> str:
        run = m[0]
        if "十" not in run:
            return "".join(str(_KANJI_DIGITS[c]) for c in run)
        tens, _, ones = run.partition("十")
        return str((_KANJI_DIGITS[tens] if tens else 1) * 10 + (_KANJI_DIGITS[ones] if ones
                                                                  else 0))
    return re.sub(r"[〇零一二三四五六七八九十]+", number, text)


def parse_date(text: str) -> date:
    """西暦 (2026-04-01, 2026/4/1, 2026年4月1日, 20260401) or 和暦 (令和8年4月1日, R8.4.1,
    令和元年5月1日, 令和八年四月一日). A 和暦 date outside its era (平成31年5月1日) is refused:
    no such date was ever written on a form."""
    s = _kanji_number(fold_width(text)).strip()
    try:
        return date.fromisoformat(s)
    except ValueError:
        pass
    if m := _SEIREKI.match(s) or _COMPACT.match(s):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if m := _WAREKI.match(s):
        index = next(i for i, e in enumerate(ERAS) if m[1] == e[0] or m[1].upper() == e[1])
        name, _short, start = ERAS[index]
        year = 1 if m[2] == "元" else int(m[2])
        if year < 1:
            raise ValueError("date outside the era")
        result = date(start.year + year - 1, int(m[3]), int(m[4]))
        end = ERAS[index - 1][2] if index else None
        if result < start or (end is not None and result >= end):
            raise ValueError("date outside the era")
        return result
    raise ValueError("unrecognised date")


def era_of(d: date) -> tuple[str, int] | None:
    """(era name, year of the era) or None before 明治."""
    for name, _short, start in ERAS:
        if d >= start:
            return name, d.year - start.year + 1
    return None


def to_wareki(d: date, style: str = "long") -> str:
    """2026-04-01 -> 令和8年4月1日 (``long``), R8.4.1 (``short``), 令和8年 (``year``).
    The first year of an era is 元年 in the long forms."""
    era = era_of(d)
    if era is None:
        return f"{d.year}年{d.month}月{d.day}日" if style != "short" else d.isoformat()
    name, year = era
    if style == "short":
        short = next(e[1] for e in ERAS if e[0] == name)
        return f"{short}{year}.{d.month}.{d.day}"
    nen = "元" if year == 1 else str(year)
    if style == "year":
        return f"{name}{nen}年"
    return f"{name}{nen}年{d.month}月{d.day}日"
