"""Staff and citizens read words, never codes: every event the engine can record has a label
in Japanese and English, actors read as people, and an unknown code never shows as itself."""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask, render_template_string
from sqlalchemy import select

from engine import runtime
from engine.models import Slot, StaffUser
from engine.steps.checkin import queue
from engine.steps.notify.events import EVENTS as NOTIFY_EVENTS
from tests.clock import START
from web import labels
from web.extensions import db
from web.i18n import translated

ROOT = Path(__file__).resolve().parents[2]
# Events another part records through a table of its own (processing by staff) or that the
# brief of this module names before their code lands: kept here so they stay labelled.
NAMED = {"received", "in_progress", "returned", "rejected", "assigned", "note_added",
         "no_show_undone", "checkin_accepted", "completed"}
POSITION = {"apply": 1, "record": 2}  # where the event is among the call's arguments


def _literal_events() -> set[str]:
    """Event names written as literals in ``runtime.apply`` / ``runtime.record`` calls
    anywhere in the engine and the web layer (``"a" if x else "b"`` gives both)."""
    found: set[str] = set()
    for path in [*ROOT.glob("engine/**/*.py"), *ROOT.glob("web/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "runtime" and node.func.attr in POSITION):
                continue
            index = POSITION[node.func.attr]
            if len(node.args) <= index:
                continue
            arg = node.args[index]
            options = [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]
            found.update(o.value for o in options
                         if isinstance(o, ast.Constant) and isinstance(o.value, str))
    return found


def engine_events() -> set[str]:
    table = {event for (_state, event) in runtime.CASE_TRANSITIONS}
    return (table | set(runtime.RECORD_EVENTS) | {"started"} | _literal_events()
            | set(queue.EVENTS.values()) | set(NOTIFY_EVENTS) | NAMED)


def test_the_event_list_is_not_empty_and_finds_literals() -> None:
    literals = _literal_events()
    assert {"held", "booked", "message_queued", "message_failed", "document_printed",
            "message_resent"} <= literals


@pytest.mark.parametrize("event", sorted(engine_events()))
def test_every_event_the_engine_records_has_a_label(app: Flask, event: str) -> None:
    assert event in labels.EVENTS, f"add {event!r} to web.labels.EVENTS"
    msgid = str(labels.EVENTS[event]._args[0])  # the English msgid of the lazy string
    assert msgid in translated("ja"), f"translate {msgid!r}"
    for lang in ("ja", "en"):
        with app.test_request_context(headers={"Accept-Language": lang}):
            word = labels.event_label(event)
            assert word and word != event and word != str(labels.UNKNOWN_EVENT)


@pytest.mark.parametrize(("kind", "code", "ja", "en"), [
    ("case", "active", "手続き中", "In progress"),
    ("booking", "checked_in", "受付済み", "Checked in"),
    ("booking", "no_show", "不来所", "No-show"),
    ("waitlist", "offered", "空きのご案内あり", "A place is offered"),
    ("message", "retry", "再試行待ち", "Waiting to retry"),
    ("processing", "received", "受付済み", "Received"),
    ("processing", "in_progress", "対応中", "Being handled"),
    ("processing", "returned", "差戻し", "Returned for correction"),
    ("processing", "completed", "完了", "Completed"),
    ("processing", "rejected", "却下", "Rejected"),
])
def test_states_by_kind(app: Flask, kind: str, code: str, ja: str, en: str) -> None:
    for lang, word in (("ja", ja), ("en", en)):
        with app.test_request_context(headers={"Accept-Language": lang}):
            assert labels.state_label(code, kind) == word


def test_every_state_of_every_table_is_labelled(app: Flask) -> None:
    from engine.models.booking import BOOKING_STATUSES
    from engine.models.checkin import CHECKIN_REASONS, QUEUE_STATUSES
    from engine.steps.booking.waitlist import TRANSITIONS as WAITLIST
    from engine.steps.checkin.daylist import STATUSES as DAYLIST
    from engine.steps.notify.outbox import TRANSITIONS as OUTBOX

    cases = {s for pair in runtime.CASE_TRANSITIONS.items() for s in (pair[0][0], pair[1])}
    wanted = {
        "case": cases, "booking": set(BOOKING_STATUSES), "queue": set(QUEUE_STATUSES),
        "waitlist": {s for pair in WAITLIST.items() for s in (pair[0][0], pair[1])},
        "message": {s for pair in OUTBOX.items() for s in (pair[0][0], pair[1])},
        "daylist": set(DAYLIST),
    }
    for kind, codes in wanted.items():
        missing = codes - set(labels.STATE_KINDS[kind])
        assert not missing, f"{kind}: {missing}"
    assert set(CHECKIN_REASONS) <= set(labels.REASONS)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_unknown_codes_are_never_shown_raw(app: Flask, lang: str) -> None:
    code = "zz_mystery_code"
    with app.test_request_context(headers={"Accept-Language": lang}):
        shown = [labels.state_label(code, kind) for kind in labels.STATE_KINDS]
        shown += [labels.state_label(code, "no-such-kind"), labels.event_label(code),
                  labels.reason_label(code), labels.step_type_label(code),
                  labels.actor_name(f"{code}:1"), labels.actor_name(None),
                  labels.state_label(None), labels.event_label(None)]
        spec = app.extensions["catalog"].get("boshi-techo")
        shown += [labels.field_label(spec, f"visit.{code}"), labels.field_label(spec, code),
                  labels.step_label(spec, code), labels.field_label(spec, f"{code}.name")]
    for word in shown:
        assert word and code not in word


def test_actor_names(app: Flask, make_staff: Callable[..., StaffUser]) -> None:
    named = make_staff("sato@example.jp", name="佐藤 一郎")
    unnamed = make_staff("suzuki@example.jp")
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        assert labels.actor_name("citizen") == "市民（本人）"
        assert labels.actor_name("system") == "システム"
        assert labels.actor_name(named.actor) == "佐藤 一郎"
        assert labels.actor_name(unnamed.actor) == "suzuki@example.jp"
        assert labels.actor_name("staff:999999") == "職員（削除済み）"
        assert labels.actor_name("api:export") == "外部システム（API）"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert labels.actor_name("citizen") == "The citizen"
        assert labels.actor_name("system") == "System"


def test_staff_names_are_looked_up_once_per_request(
        app: Flask, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff("sato@example.jp", name="佐藤 一郎")
    with app.test_request_context():
        assert labels.actor_name(user.actor) == "佐藤 一郎"
        db.session.get(StaffUser, user.id).name = "佐藤 次郎"  # type: ignore[union-attr]
        db.session.commit()
        assert labels.actor_name(user.actor) == "佐藤 一郎"  # the request's cache
    with app.test_request_context():
        assert labels.actor_name(user.actor) == "佐藤 次郎"


def test_field_and_step_labels_come_from_the_spec(app: Flask) -> None:
    spec = app.extensions["catalog"].get("boshi-techo")
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        assert labels.field_label(spec, "questionnaire.name") == "氏名"
        assert labels.field_label(spec, "questionnaire", "phone") == "電話番号"
        assert labels.field_label(spec, "visit.date") == "日付"
        assert labels.step_label(spec, "visit") == spec.step("visit").title.ja
    child = app.extensions["catalog"].get("ninpu-shien")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        source = labels.field_label(child, "parent.boshi-techo.questionnaire.kana")
        assert source == f"{spec.title.get('en')}: Name reading (katakana)"
        assert labels.field_label(spec, "questionnaire.name") == "Full name"


def _event(name: str, detail: dict[str, Any], step: str | None = None) -> Any:
    return SimpleNamespace(event=name, detail=detail, step_id=step)


def test_event_details_in_words(app: Flask) -> None:
    spec = app.extensions["catalog"].get("boshi-techo")
    with app.app_context():
        old = Slot(workflow_id="boshi-techo", step_id="visit", counter="hoken-center",
                   starts_at=START, ends_at=START + timedelta(minutes=30), capacity=1)
        new = Slot(workflow_id="boshi-techo", step_id="visit", counter="hoken-center",
                   starts_at=START + timedelta(days=1, hours=1),
                   ends_at=START + timedelta(days=1, hours=2), capacity=1)
        db.session.add_all([old, new])
        db.session.commit()
        ids = [s.id for s in db.session.scalars(select(Slot).order_by(Slot.id))]
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        text = labels.event_detail(_event("submitted", {"revision": 2,
                                                        "changed": ["name", "phone"]},
                                          "questionnaire"), spec)
        assert text == "第2版、変更: 氏名、電話番号"
        refused = labels.event_detail(_event("checkin_refused", {
            "reason": "wrong_day", "counter": "hoken-center", "checkin": 3}, "checkin"), spec)
        assert "予約日時が違う" in refused and "保健センター" in refused
        assert "wrong_day" not in refused and "hoken-center" not in refused
        moved = labels.event_detail(_event("rescheduled", {
            "booking_id": 1, "from_slot": ids[0], "to_slot": ids[1]}, "visit"), spec)
        assert moved == "12月1日 10:00 から 12月2日 11:00 へ"
        assert labels.event_detail(_event("held", {"booking_id": 1, "slot_id": 2}), spec) == ""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        text = labels.event_detail(_event("submitted", {"revision": 2, "changed": ["name"]},
                                          "questionnaire"), spec)
        assert text == "Revision 2; changed: Full name"


def test_filters_are_registered(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        html = render_template_string(
            "{{ 'checked_in'|state_label('booking') }}|{{ 'no_show'|event_label }}|"
            "{{ 'citizen'|actor_name }}|{{ 'forged'|reason_label }}|"
            "{{ 'form'|step_type_label }}|{{ 'hoken-center'|counter_label }}|"
            "{{ field_label(spec, 'questionnaire.name') }}|{{ step_label(spec, 'nope') }}",
            spec=app.extensions["catalog"].get("boshi-techo"))
    assert html == ("受付済み|来所なし（不来所）|市民（本人）|無効なコード|フォーム|"
                    "保健センター 母子保健窓口|氏名|手順")


def test_processing_and_acceptance_details_in_words(
        app: Flask, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff("sato@example.jp", name="佐藤 一郎")
    spec = app.extensions["catalog"].get("kesseki-todoke")
    boshi = app.extensions["catalog"].get("boshi-techo")
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        received = labels.event_detail(_event("received", {"group": "fujiidera-e",
                                                           "resubmitted": True}), spec)
        assert received == "送付先: 藤井寺小学校、修正して再送信"
        assert labels.event_detail(_event("completed", {"from": "in_progress"}), spec) == (
            "対応中から")
        assert labels.event_detail(_event("assigned", {"staff": user.id}), spec) == (
            "担当: 佐藤 一郎")
        assert labels.event_detail(_event("assigned", {"staff": None}), spec) == "担当者なし"
        accepted = labels.event_detail(_event("checkin_accepted", {
            "checkin": 9, "refused": 8, "counter": "hoken-center",
            "reason": "予約日の勘違い"}), boshi)
        assert accepted == "理由: 予約日の勘違い、保健センター 母子保健窓口"
        checked = labels.event_detail(_event("checked_in", {
            "counter": "hoken-center", "checkin": 9, "queue_number": 3, "accepted": True}), boshi)
        assert checked == "保健センター 母子保健窓口、呼出番号 3、職員が承認して受付"
        for detail in ({"weird": {"nested": [1, 2]}}, {"checkin": 4}, {"from": "zz"}):
            shown = labels.event_detail(_event("zz_unknown", detail), spec)
            assert shown == "" and "{" not in shown
