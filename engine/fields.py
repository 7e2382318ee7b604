"""Field definitions shared by every step that asks the citizen something, and the one place
where answers are validated and normalised (the HTML forms and the JSON API both call it).

Errors are stable codes (``required``, ``invalid_kana`` ...); the web layer words them.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import Field, model_validator

from engine.kana import fold_width as fold_width
from engine.kana import normalise_kana as normalise_kana
from engine.spec import I18nText, Loc, SpecModel
from engine.wareki import era_of as era_of
from engine.wareki import parse_date as parse_date
from engine.wareki import to_wareki as to_wareki

FieldType = Literal["text", "textarea", "number", "date", "choice", "select", "multichoice",
                    "yesno", "email", "phone", "postal", "name", "kana", "consent"]
FieldId = str

DEFAULT_MAX = {"text": 200, "textarea": 4000, "name": 100, "kana": 100}
# A date field's bounds unless it names its own: a living person's birth date to a date a
# few years ahead. ``today`` is the day in Japan when the answer is checked.
DATE_MIN, DATE_MAX = "-120y", "+10y"
# Numbers beyond 15 digits are not exact in a float (nor in a browser's JavaScript): no form
# of an office asks for one, and a 400-digit integer must not reach float arithmetic.
NUMBER_LIMIT = 10**15 - 1
_RELATIVE = re.compile(r"^(?:today|([+-])(\d{1,3})([ymd]))$")


class Choice(SpecModel):
    value: str = Field(min_length=1, max_length=64)
    label: I18nText


class Condition(SpecModel):
    """Show a field or section when an earlier answer matches. ``field`` is ``step.field``
    (or a bare field id of the same step)."""

    field: str
    equals: str | int | float | bool | None = None
    not_equals: str | int | float | bool | None = None
    one_of: tuple[str, ...] | None = None
    filled: bool | None = None
    min: float | None = None
    max: float | None = None


class FieldSpec(SpecModel):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")
    type: FieldType
    label: I18nText
    help: I18nText | None = None
    required: bool = False
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1, le=20000)
    # number fields: numbers. date fields: a date (2020-04-01) or one relative to the day the
    # answer is checked ("today", "-120y", "+6m", "-30d").
    min: float | date | str | None = None
    max: float | date | str | None = None
    pattern: str | None = None
    choices: tuple[Choice, ...] = ()
    prefill: str | None = None
    show_if: Condition | None = None
    # A hint for browsers' autofill (WCAG 1.3.5): "name", "email", "tel", "postal-code"...
    autocomplete: str | None = None
    # kana fields: the script the reading is stored in (either is accepted when typed).
    script: Literal["katakana", "hiragana"] = "katakana"
    # choice fields: radio buttons (default) or a drop-down list.
    widget: Literal["radio", "select"] | None = None
    # number fields: whole numbers only.
    integer: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.type in ("choice", "select", "multichoice") and not self.choices:
            raise ValueError(f"a {self.type} field needs choices")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        if (self.min_length is not None and self.max_length is not None
                and self.min_length > self.max_length):
            raise ValueError("min_length is greater than max_length")
        for bound in (self.min, self.max):
            if bound is None:
                continue
            if self.type == "date":
                _date_bound(bound, date(2000, 1, 1))
            elif self.type != "number" or not isinstance(bound, (int, float)):
                raise ValueError("min/max are numbers for a number field, dates for a date "
                                 "field, and nothing for other fields")
        if isinstance(self.min, (int, float)) and isinstance(self.max, (int, float)) and (
                self.min > self.max):
            raise ValueError("min is greater than max")
        if self.type == "date" and _date_kind(self.min) == _date_kind(self.max) and (
                self.date_range(date(2000, 1, 1))[0] > self.date_range(date(2000, 1, 1))[1]):
            raise ValueError("min is later than max")
        if self.choices and self.type not in ("choice", "select", "multichoice"):
            raise ValueError(f"a {self.type} field takes no choices")
        values = [c.value for c in self.choices]
        if len(set(values)) != len(values):
            raise ValueError("choice values must be unique")
        return self

    @property
    def limit(self) -> int | None:
        return self.max_length or DEFAULT_MAX.get(self.type)

    def date_range(self, today: date) -> tuple[date, date]:
        """The earliest and latest date a date field accepts on ``today``."""
        return (_date_bound(DATE_MIN if self.min is None else self.min, today),
                _date_bound(DATE_MAX if self.max is None else self.max, today))


def _date_kind(bound: Any) -> str:
    """Bounds of one kind can be compared when the workflow is loaded; a fixed date and one
    relative to today only on the day."""
    return "relative" if bound is None or _RELATIVE.match(str(bound).strip()) else "fixed"


def _date_bound(bound: Any, today: date) -> date:
    """A date bound as written in a workflow file, on ``today``."""
    if isinstance(bound, date):
        return bound
    text = str(bound).strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    m = _RELATIVE.match(text)
    if m is None:
        raise ValueError(f"{bound!r} is not a date bound: write a date such as 2020-04-01, "
                         '"today", or a distance from today such as "-120y", "+6m", "-30d"')
    if m[1] is None:
        return today
    n = int(m[2]) * (-1 if m[1] == "-" else 1)
    if m[3] == "d":
        return date.fromordinal(today.toordinal() + n)
    months = n * (12 if m[3] == "y" else 1)
    year, month = divmod(today.year * 12 + today.month - 1 + months, 12)
    month += 1
    return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


def field_references(fields: Iterable[FieldSpec], loc: Loc) -> list[tuple[Loc, str]]:
    """The ``step.field`` references in prefill and show_if, for the spec's chain check."""
    out: list[tuple[Loc, str]] = []
    for i, f in enumerate(fields):
        if f.prefill:
            out.append((loc + (i, "prefill"), f.prefill))
        if f.show_if and "." in f.show_if.field:
            out.append((loc + (i, "show_if", "field"), f.show_if.field))
    return out


class FieldError(ValueError):
    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(code)


# --- conditions -----------------------------------------------------------------------------

def lookup(ref: str, data: Mapping[str, Any], step_id: str, answers: Mapping[str, Any]) -> Any:
    if "." not in ref:
        return answers.get(ref)
    step, field = ref.split(".", 1)
    if step == step_id:
        return answers.get(field)
    return (data.get(step) or {}).get(field)


def condition_met(cond: Condition | None, data: Mapping[str, Any], step_id: str,
                  answers: Mapping[str, Any]) -> bool:
    if cond is None:
        return True
    value = lookup(cond.field, data, step_id, answers)
    if cond.filled is not None and bool(value not in (None, "", [], False)) != cond.filled:
        return False
    if cond.equals is not None and not _same(value, cond.equals):
        return False
    if cond.not_equals is not None and _same(value, cond.not_equals):
        return False
    if cond.one_of is not None:
        values = value if isinstance(value, list) else [value]
        if not any(str(v) in cond.one_of for v in values):
            return False
    if cond.min is not None or cond.max is not None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        if (cond.min is not None and number < cond.min) or (
                cond.max is not None and number > cond.max):
            return False
    return True


def _same(value: Any, expected: Any) -> bool:
    if isinstance(value, list):
        return str(expected) in [str(v) for v in value]
    if isinstance(expected, bool):
        return value == ("yes" if expected else "no") or value is expected
    return str(value) == str(expected)


# --- normalisation (width, kana and 和暦 live in engine.kana and engine.wareki) -------------

_SPACES = re.compile(r"[\s\u3000]+")
_KATAKANA = re.compile(r"^[\u30A1-\u30FA\u30FC-\u30FE・ ]+$")
_HIRAGANA = re.compile(r"^[\u3041-\u3096\u309D\u309E\u30FC・ ]+$")
_POSTAL = re.compile(r"^(\d{3})-?(\d{4})$")
# Refused, not stripped: a character the citizen cannot see would change what is stored.
# Tab and line breaks are spacing (folded to a space outside a textarea); lone surrogates
# are no characters at all (UTF-8 cannot hold them, nor PostgreSQL).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_DASHES = str.maketrans({"ー": "-", "−": "-", "‐": "-", "‑": "-", "–": "-", "—": "-",
                         "―": "-", "ｰ": "-", "－": "-"})


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character or a lone surrogate (refused everywhere)."""
    return _CONTROL.search(text) is not None


def clean(field: FieldSpec, raw: Any, *, today: date) -> Any:
    """Validate and normalise one answer (``today``: the day in Japan, for date bounds).
    Returns None for an empty optional answer."""
    if isinstance(raw, str) and has_control(raw):
        raise FieldError("invalid_character")
    if field.type == "multichoice":
        values = raw if isinstance(raw, list) else ([] if raw in (None, "") else [raw])
        values = [str(v) for v in values]
        allowed = {c.value for c in field.choices}
        if any(v not in allowed for v in values):
            raise FieldError("invalid_choice")
        if field.required and not values:
            raise FieldError("required")
        return [c.value for c in field.choices if c.value in values]
    if field.type == "consent":
        given = raw in (True, "true", "on", "yes", "y", "1", 1)
        if field.required and not given:
            raise FieldError("consent_required")
        return given
    if isinstance(raw, bool) and field.type == "yesno":
        raw = "yes" if raw else "no"
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if field.required:
            raise FieldError("required")
        return None
    if isinstance(raw, (list, dict)):
        raise FieldError("invalid")
    if isinstance(raw, bool) or (field.type not in ("number",) and isinstance(raw, float)):
        raise FieldError("invalid")
    if field.type == "date":
        return _date(field, str(raw).strip(), today)
    text = str(raw).strip() if field.type != "textarea" else str(raw)
    return _CLEANERS[field.type](field, text)


def _length(field: FieldSpec, text: str) -> str:
    if field.min_length is not None and len(text) < field.min_length:
        raise FieldError("too_short", min=field.min_length)
    limit = field.limit
    if limit is not None and len(text) > limit:
        raise FieldError("too_long", max=limit)
    if field.pattern and not re.fullmatch(field.pattern, text):
        raise FieldError("pattern")
    return text


def _text(field: FieldSpec, text: str) -> str:
    return _length(field, _SPACES.sub(" ", fold_width(text)).strip())


def _textarea(field: FieldSpec, text: str) -> str:
    text = fold_width(text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    return _length(field, text)


def _name(field: FieldSpec, text: str) -> str:
    # Only width is folded: NFKC/NFC would turn compatibility ideographs into other
    # characters and change a person's name.
    return _length(field, _SPACES.sub(" ", fold_width(text)).strip())


def _kana(field: FieldSpec, text: str) -> str:
    kana = normalise_kana(text, field.script)
    if not (_HIRAGANA if field.script == "hiragana" else _KATAKANA).match(kana):
        raise FieldError("invalid_kana")
    return _length(field, kana)


def _number(field: FieldSpec, text: str) -> int | float:
    s = fold_width(text).replace(",", "").replace("，", "").translate(_DASHES).strip()
    if not re.fullmatch(r"-?(\d+(\.\d*)?|\.\d+)", s):
        raise FieldError("invalid_number")
    if len(s.lstrip("-").partition(".")[0].lstrip("0")) > len(str(NUMBER_LIMIT)):
        if s.startswith("-"):
            raise FieldError("too_small", min=-NUMBER_LIMIT)
        raise FieldError("too_large", max=NUMBER_LIMIT)
    value: int | float = int(s) if re.fullmatch(r"-?\d+", s) else float(s)
    if field.integer and not float(value).is_integer():
        raise FieldError("not_integer")
    if field.integer:
        value = int(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise FieldError("invalid_number")
    low = field.min if isinstance(field.min, (int, float)) else -NUMBER_LIMIT
    high = field.max if isinstance(field.max, (int, float)) else NUMBER_LIMIT
    if value < low:
        raise FieldError("too_small", min=low)
    if value > high:
        raise FieldError("too_large", max=high)
    return value


def _date(field: FieldSpec, text: str, today: date) -> str:
    try:
        day = parse_date(text)
    except (ValueError, StopIteration, OverflowError):
        raise FieldError("invalid_date") from None
    first, last = field.date_range(today)
    if day < first:
        raise FieldError("date_too_early", min=first)
    if day > last:
        raise FieldError("date_too_late", max=last)
    return day.isoformat()


def _choice(field: FieldSpec, text: str) -> str:
    if text not in {c.value for c in field.choices}:
        raise FieldError("invalid_choice")
    return text


def _yesno(field: FieldSpec, text: str) -> str:
    if text not in ("yes", "no"):
        raise FieldError("invalid_choice")
    return text


def _email(field: FieldSpec, text: str) -> str:
    text = fold_width(text)
    if len(text) > 254:
        raise FieldError("too_long", max=254)
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise FieldError("invalid_email") from None


def _phone(field: FieldSpec, text: str) -> str:
    s = fold_width(text).translate(_DASHES)
    if len(s) > 30:
        raise FieldError("invalid_phone")
    try:
        number = phonenumbers.parse(s, "JP")
    except phonenumbers.NumberParseException:
        raise FieldError("invalid_phone") from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError("invalid_phone")
    fmt = (phonenumbers.PhoneNumberFormat.NATIONAL if number.country_code == 81
           else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, fmt)


def _postal(field: FieldSpec, text: str) -> str:
    m = _POSTAL.match(fold_width(text).replace("〒", "").translate(_DASHES).strip())
    if not m:
        raise FieldError("invalid_postal")
    return f"{m[1]}-{m[2]}"


_CLEANERS = {
    "text": _text, "textarea": _textarea, "name": _name, "kana": _kana, "number": _number,
    "choice": _choice, "select": _choice, "yesno": _yesno, "email": _email,
    "phone": _phone, "postal": _postal,
}


Group = tuple[Condition | None, Iterable[FieldSpec]]


def validate_answers(fields: Iterable[FieldSpec], raw: Mapping[str, Any], *, step_id: str,
                     today: date, data: Mapping[str, Any] | None = None
                     ) -> tuple[dict[str, Any], dict[str, FieldError]]:
    """Validate a whole set of answers. Fields hidden by their condition are dropped (a stale
    value is not kept); keys the definition does not have are errors (``unknown_field``).
    Returns (clean values, errors by field id)."""
    return validate_groups([(None, fields)], raw, step_id=step_id, today=today, data=data)


def validate_groups(groups: Iterable[Group], raw: Mapping[str, Any], *, step_id: str,
                    today: date, data: Mapping[str, Any] | None = None
                    ) -> tuple[dict[str, Any], dict[str, FieldError]]:
    """``validate_answers`` for fields in groups (a form's sections), each group shown only
    when its condition holds. Conditions see the answers of earlier fields as cleaned."""
    groups = [(cond, list(fields)) for cond, fields in groups]
    known = {f.id for _cond, fields in groups for f in fields}
    errors: dict[str, FieldError] = {k: FieldError("unknown_field") for k in raw
                                     if k not in known}
    values: dict[str, Any] = {}
    for cond, fields in groups:
        if not condition_met(cond, data or {}, step_id, values):
            continue
        for f in fields:
            if not condition_met(f.show_if, data or {}, step_id, values):
                continue
            try:
                value = clean(f, raw.get(f.id), today=today)
            except FieldError as exc:
                errors[f.id] = exc
                continue
            if value is not None:
                values[f.id] = value
    return values, errors
