"""Every field type's validation and normalisation (engine.fields), with property tests for
width/kana folding and 和暦 <-> 西暦 conversion."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.fields import (
    Condition,
    FieldError,
    FieldSpec,
    validate_answers,
    validate_groups,
)
from engine.fields import clean as clean_on
from engine.kana import fold_width, normalise_kana
from engine.wareki import parse_date, to_wareki

TODAY = date(2026, 12, 1)  # the day the answers are checked (date bounds count from it)


def clean(f: FieldSpec, raw):
    return clean_on(f, raw, today=TODAY)


def field(type_: str, **kw) -> FieldSpec:
    if type_ in ("choice", "select", "multichoice") and "choices" not in kw:
        kw["choices"] = [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]
    return FieldSpec.model_validate({"id": "f", "type": type_, "label": "L", **kw})


def code(f: FieldSpec, raw) -> str:
    with pytest.raises(FieldError) as exc:
        clean(f, raw)
    return exc.value.code


# --- text, textarea, name ---------------------------------------------------------------

def test_text_folds_width_and_collapses_spaces():
    assert clean(field("text"), "  ＡＢＣ　１２３  x ") == "ABC 123 x"


def test_text_limits_and_pattern():
    assert code(field("text", max_length=3), "abcd") == "too_long"
    assert code(field("text", min_length=3), "ab") == "too_short"
    assert code(field("text", pattern=r"\d{2}:\d{2}"), "10時") == "pattern"
    assert clean(field("text", pattern=r"\d{2}:\d{2}"), "１０:３０") == "10:30"


def test_text_default_limit_applies():
    assert code(field("text"), "x" * 201) == "too_long"


def test_textarea_keeps_lines():
    assert clean(field("textarea"), "一行目\r\n二行目\t終わり") == "一行目\n二行目\t終わり"


def test_name_keeps_rare_and_compatibility_kanji():
    # NFC would turn U+FA10 (塚) into U+585A; a name must print as the person writes it.
    assert clean(field("name"), "髙𠮷 \ufa10本　ﾊﾅｺ") == "髙𠮷 \ufa10本 ハナコ"


def test_required_empty_and_optional_empty():
    assert code(field("name", required=True), "  ") == "required"
    assert clean(field("name"), "") is None


# --- kana -------------------------------------------------------------------------------

def test_kana_accepts_hiragana_and_half_width_and_stores_katakana():
    assert clean(field("kana"), "やまだ　ﾀﾛｳ") == "ヤマダ タロウ"
    assert clean(field("kana"), "ｶﾞｯｺｳ") == "ガッコウ"


def test_kana_in_hiragana_when_the_field_says_so():
    assert clean(field("kana", script="hiragana"), "ヤマダ ハナコ") == "やまだ はなこ"


def test_kana_refuses_kanji_and_latin():
    assert code(field("kana"), "山田") == "invalid_kana"
    assert code(field("kana"), "Yamada") == "invalid_kana"


KANA = st.text(alphabet=st.sampled_from(
    "あいうえおかがきぎぱぴゃゅょっゔアイウエオカガキギパピャュョッヴーｱｲｳｶﾞﾊﾟｯｰ 　"),
    min_size=1, max_size=30).filter(lambda s: s.strip(" 　"))


@given(KANA)
def test_kana_folding_is_idempotent_and_katakana(text):
    once = normalise_kana(text)
    assert normalise_kana(once) == once
    katakana = all("\u30a1" <= ch <= "\u30fe" or ch == " " for ch in once)
    if katakana:
        assert clean(field("kana"), text) == once
    else:  # only a voiced mark with nothing to join (ﾞ alone) is left over
        assert set(once) & {"\u309b", "\u309c"} and code(field("kana"), text) == "invalid_kana"


@given(KANA)
def test_hiragana_and_katakana_inputs_fold_alike(text):
    assert normalise_kana(normalise_kana(text, "hiragana")) == normalise_kana(text)


@given(st.text(max_size=40))
def test_width_folding_is_idempotent_and_leaves_no_wide_ascii_or_narrow_kana(text):
    once = fold_width(text)
    assert fold_width(once) == once
    assert not any("\uff01" <= ch <= "\uff5e" or "\uff61" <= ch <= "\uff9f" for ch in once)


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
               | st.sampled_from("髙𠮷﨑塚\ufa10\ufa11"), max_size=20))
def test_width_folding_never_changes_kanji(text):
    assert fold_width(text) == text


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30))
def test_full_width_ascii_folds_to_ascii(text):
    wide = "".join(chr(ord(c) + 0xFEE0) for c in text)
    assert fold_width(wide) == text


# --- number -----------------------------------------------------------------------------

def test_number_accepts_full_width_and_commas():
    assert clean(field("number"), "１,２３４") == 1234
    assert clean(field("number"), "36.5") == 36.5


def test_number_range_and_integer():
    assert code(field("number", min=1, max=6), "7") == "too_large"
    assert code(field("number", min=1, max=6), "0") == "too_small"
    assert code(field("number", integer=True), "1.5") == "not_integer"
    assert clean(field("number", integer=True), "2.0") == 2
    for bad in ("abc", "nan", "inf", "1e400", "--1", ""):
        if bad:
            assert code(field("number"), bad) == "invalid_number"


# --- date and 和暦 ------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["2026-04-01", "2026/4/1", "2026年4月1日", "20260401",
                                  "令和8年4月1日", "R8.4.1", "ｒ８．４．１", "令和八年四月一日",
                                  "令和 8 年 4 月 1 日", "西暦2026年4月1日"])
def test_date_forms(text):
    assert clean(field("date"), text) == "2026-04-01"


def test_gannen_and_era_boundaries():
    assert parse_date("令和元年5月1日") == date(2019, 5, 1)
    assert parse_date("平成31年4月30日") == date(2019, 4, 30)
    assert parse_date("昭和64年1月7日") == date(1989, 1, 7)
    assert parse_date("H1.1.8") == date(1989, 1, 8)
    for outside in ("平成31年5月1日", "令和1年4月30日", "昭和64年1月8日", "令和0年5月1日"):
        assert code(field("date"), outside) == "invalid_date"


def test_impossible_dates_refused():
    for bad in ("2026-02-30", "令和8年13月1日", "明日", "2026"):
        assert code(field("date"), bad) == "invalid_date"


def test_to_wareki_styles():
    assert to_wareki(date(2019, 5, 1)) == "令和元年5月1日"
    assert to_wareki(date(2026, 4, 1), "short") == "R8.4.1"
    assert to_wareki(date(1998, 4, 1), "year") == "平成10年"


@given(st.dates(min_value=date(1868, 1, 25), max_value=date(2200, 12, 31)))
def test_wareki_round_trip(d):
    assert parse_date(to_wareki(d)) == d
    assert parse_date(to_wareki(d, "short")) == d
    assert parse_date(d.isoformat()) == d


# --- choices, yes/no, consent -------------------------------------------------------------

def test_choice_and_select():
    assert clean(field("choice"), "a") == "a"
    assert code(field("select"), "z") == "invalid_choice"


def test_multichoice_keeps_definition_order_and_refuses_unknown():
    assert clean(field("multichoice"), ["b", "a"]) == ["a", "b"]
    assert code(field("multichoice"), ["a", "z"]) == "invalid_choice"
    assert code(field("multichoice", required=True), []) == "required"


def test_yesno():
    assert clean(field("yesno"), True) == "yes"
    assert clean(field("yesno"), "no") == "no"
    assert code(field("yesno"), "maybe") == "invalid_choice"


def test_consent():
    assert clean(field("consent", required=True), "y") is True
    assert code(field("consent", required=True), None) == "consent_required"
    assert clean(field("consent"), None) is False


# --- email, phone, postal -------------------------------------------------------------------

def test_email():
    assert clean(field("email"), "ｈａｎａｋｏ@example.jp") == "hanako@example.jp"
    assert code(field("email"), "hanako@") == "invalid_email"


def test_phone_folds_and_formats():
    assert clean(field("phone"), "０６ー１２３４ー５６７８") == "06-1234-5678"
    assert clean(field("phone"), "09012345678") == "090-1234-5678"
    assert code(field("phone"), "12345") == "invalid_phone"


def test_postal():
    assert clean(field("postal"), "〒５７００００１") == "570-0001"
    assert code(field("postal"), "570-00") == "invalid_postal"


def test_lists_and_objects_refused_for_scalar_fields():
    assert code(field("text"), ["a"]) == "invalid"
    assert code(field("number"), {"a": 1}) == "invalid"


# --- whole answer sets ----------------------------------------------------------------------

def test_unknown_field_is_an_error():
    values, errors = validate_answers([field("text")], {"f": "x", "g": "y"}, step_id="s",
                                      today=TODAY)
    assert values == {"f": "x"} and errors["g"].code == "unknown_field"


def test_hidden_field_value_is_dropped_even_when_sent():
    fields = [FieldSpec.model_validate({"id": "first", "type": "yesno", "label": "L"}),
              FieldSpec.model_validate({"id": "births", "type": "number", "label": "L",
                                        "required": True,
                                        "show_if": {"field": "first", "equals": "no"}})]
    values, errors = validate_answers(fields, {"first": "yes", "births": "3"}, step_id="s",
                                      today=TODAY)
    assert values == {"first": "yes"} and not errors
    values, errors = validate_answers(fields, {"first": "no"}, step_id="s", today=TODAY)
    assert errors["births"].code == "required"


def test_condition_on_another_step_and_on_numbers():
    fields = [FieldSpec.model_validate({"id": "x", "type": "text", "label": "L",
                                        "show_if": {"field": "visit.count", "min": 3}})]
    assert validate_answers(fields, {"x": "a"}, step_id="s", today=TODAY,
                            data={"visit": {"count": 5}})[0] == {"x": "a"}
    assert validate_answers(fields, {"x": "a"}, step_id="s", today=TODAY,
                            data={"visit": {"count": 1}})[0] == {}


def test_group_condition_hides_every_field_of_the_group():
    group = [FieldSpec.model_validate({"id": "n", "type": "number", "label": "L",
                                       "required": True})]
    values, errors = validate_groups(
        [(None, [field("yesno")]), (Condition(field="f", equals="no"), group)],
        {"f": "yes", "n": "x"}, step_id="s", today=TODAY)
    assert values == {"f": "yes"} and not errors


def test_definition_errors():
    with pytest.raises(ValueError):
        field("choice", choices=[])
    with pytest.raises(ValueError):
        field("text", pattern="(")
    with pytest.raises(ValueError):
        field("number", min=5, max=1)
    with pytest.raises(ValueError):
        field("choice", choices=[{"value": "a", "label": "A"}, {"value": "a", "label": "B"}])


# --- what no one types: control characters, lone surrogates, huge numbers, far dates --------

TEXT_LIKE = ["text", "textarea", "name", "kana", "number", "date", "choice", "select",
             "multichoice", "yesno", "email", "phone", "postal"]


@pytest.mark.parametrize("type_", TEXT_LIKE)
@pytest.mark.parametrize("bad", ["a\x00b", "\x1b[2J", "a\x7f", "\x85", "\udfff", "x\ud800"])
def test_control_characters_are_refused_not_stripped(type_, bad):
    assert code(field(type_), bad) == "invalid_character"


def test_nul_in_an_email_is_refused_not_stored_without_it():
    assert code(field("email"), "a\x00b@example.jp") == "invalid_character"
    assert clean(field("email"), "ab@example.jp") == "ab@example.jp"


def test_tabs_and_line_breaks_are_spacing():
    assert clean(field("text"), "a\tb\nc") == "a b c"
    assert clean(field("textarea"), "a\r\nb") == "a\nb"


def test_a_400_digit_number_is_too_large_not_an_overflow():
    assert code(field("number"), "9" * 400) == "too_large"
    assert code(field("number", integer=True), "-" + "9" * 400) == "too_small"
    assert code(field("number"), 10**400) == "too_large"
    assert code(field("number"), "1" * 400 + ".5") == "too_large"
    assert clean(field("number"), "999999999999999") == 999_999_999_999_999
    assert code(field("number"), "1000000000000000") == "too_large"


@pytest.mark.parametrize("far", ["0001-01-01", "9999-12-31", "令和100年1月1日", "1900-01-01"])
def test_a_date_field_has_bounds_by_default(far):
    assert code(field("date"), far) in ("date_too_early", "date_too_late")


def test_default_date_bounds_are_120_years_back_to_10_ahead():
    assert clean(field("date"), "1906-12-01") == "1906-12-01"
    assert code(field("date"), "1906-11-30") == "date_too_early"
    assert clean(field("date"), "2036-12-01") == "2036-12-01"
    with pytest.raises(FieldError) as exc:
        clean(field("date"), "2036-12-02")
    assert exc.value.code == "date_too_late" and exc.value.params == {"max": date(2036, 12, 1)}


def test_date_bounds_fixed_and_relative():
    birth = field("date", max="today")
    assert clean(birth, "2026-12-01") == "2026-12-01"
    assert code(birth, "2026-12-02") == "date_too_late"
    notice = field("date", min="-1m", max="+30d")
    assert code(notice, "2026-10-31") == "date_too_early"
    assert clean(notice, "2026-11-01") == "2026-11-01"
    assert clean(notice, "2026-12-31") == "2026-12-31"
    assert code(notice, "2027-01-01") == "date_too_late"
    fixed = field("date", min=date(2020, 4, 1), max="2021-03-31")
    assert fixed.date_range(TODAY) == (date(2020, 4, 1), date(2021, 3, 31))
    # a month from the 31st is the month's last day
    assert field("date", min="-1m").date_range(date(2027, 3, 31))[0] == date(2027, 2, 28)


@pytest.mark.parametrize("bad", [{"min": "yesterday"}, {"max": "+2w"}, {"min": 5},
                                 {"min": "2021-01-01", "max": "2020-01-01"},
                                 {"min": "+1y", "max": "-1y"}])
def test_date_bound_definition_errors(bad):
    with pytest.raises(ValueError):
        field("date", **bad)


def test_min_max_only_for_numbers_and_dates():
    with pytest.raises(ValueError):
        field("text", min=1)
    with pytest.raises(ValueError):
        field("number", min="today")
