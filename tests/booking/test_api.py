"""The booking calls of the JSON API (its public contract): slots, book (201/409/422),
the citizen's case, cancel and reschedule; Idempotency-Key replays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from engine import runtime
from engine.models import Booking, Case, CaseEvent, Slot, WaitlistEntry
from engine.steps.booking import bookings, places, slots, waitlist
from web.extensions import db

NOW = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
ANSWERS = {"name": "山田 花子", "kana": "ヤマダ ハナコ", "email": "hanako@example.jp",
           "phone": "090-1234-5678"}
URL = "/api/v1/workflows/boshi-techo/bookings"


@pytest.fixture
def app(make_app: Any) -> Flask:
    clock = {"now": NOW}
    app = make_app(CLOCK=lambda: clock["now"])
    app.config["TEST_CLOCK"] = clock
    return app


def slot_id(app: Flask, day: date = date(2026, 12, 10), cap: int | None = None) -> int:
    with app.app_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        slots.ensure(db.session, spec, bookings.booking_step(spec), day, day)
        sid = int(db.session.scalar(select(Slot.id).where(slots.day_filter(day))
                                    .order_by(Slot.starts_at).limit(1)))
        if cap is not None:
            places.resize(db.session, sid, cap)
        db.session.commit()
        return sid


def n_bookings(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(Booking)))


def test_a_booking_writes_each_row_once_and_takes_the_place_last(
        app: Flask, client: Any) -> None:
    """The case, the booking and the outbox row are one INSERT each, the case's three events
    one INSERT and its link tokens one; nothing is written twice (no UPDATE of the case
    just inserted); the conditional UPDATE of the slot is the last statement before the
    commit, so its row lock is held the shortest time."""
    sid = slot_id(app)
    first = client.post(URL, json={"slot_id": sid, "answers": {**ANSWERS, "email": "a@b.jp"}})
    assert first.status_code == 201  # the workflow's version is stored by now
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(" ".join(sql.split()[:3]).lower().replace('"', ""))

    def commit(_conn: Any) -> None:
        seen.append("commit")

    event.listen(engine, "before_cursor_execute", note)
    event.listen(engine, "commit", commit)
    try:
        resp = client.post(URL, json={"slot_id": sid, "answers": ANSWERS})
    finally:
        event.remove(engine, "before_cursor_execute", note)
        event.remove(engine, "commit", commit)
    assert resp.status_code == 201, resp.get_json()
    booking = seen[:seen.index("commit")]  # then the email is delivered (in-process tasks)
    writes = [s for s in booking if s.split()[0] in ("insert", "update", "delete")]
    assert writes == ["insert into case", "insert into booking", "insert into message",
                      "insert into case_event", "insert into token", "update slot set"]
    assert booking[-1] == "update slot set"
    with app.app_context():
        case = db.session.get(Case, resp.get_json()["case_id"])
        assert [e.event for e in case.events] == ["started", "booked", "message_queued"]
        assert case.data["visit"]["reference"] == case.reference


def test_slots_lists_places_left(app: Flask, client: Any) -> None:
    resp = client.get("/api/v1/workflows/boshi-techo/slots?from=2026-12-10&to=2026-12-11")
    assert resp.status_code == 200
    got = resp.get_json()["slots"]
    assert len(got) == 24
    assert got[0]["start"] == "2026-12-10T09:00:00+09:00" and got[0]["remaining"] == 2
    assert {"id", "start", "end", "capacity", "remaining"} <= set(got[0])


@pytest.mark.parametrize("query", ["from=2026-12-10", "from=x&to=2026-12-11",
                                   "from=2026-12-10&to=2027-12-10",
                                   "from=2026-12-11&to=2026-12-10"])
def test_bad_slot_queries_are_422(client: Any, query: str) -> None:
    resp = client.get(f"/api/v1/workflows/boshi-techo/slots?{query}")
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "invalid"


def test_book_returns_case_token_and_links(app: Flask, client: Any) -> None:
    sid = slot_id(app)
    resp = client.post(URL, json={"slot_id": sid, "answers": ANSWERS})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert set(body) >= {"case_id", "token", "links"}
    assert body["links"]["case"] == f"http://localhost/c/{body['token']}"
    assert body["links"]["cancel"].startswith("http://localhost/book/cancel/")
    assert body["links"]["ics"].endswith(".ics")
    case = client.get(f"/api/v1/cases/{body['token']}").get_json()
    assert case["state"] == "active" and case["booking"]["status"] == "confirmed"
    assert case["booking"]["start"] == "2026-12-10T09:00:00+09:00"
    assert "hanako" not in str(case)  # no personal data beyond the time


def test_full_slot_is_409_and_nothing_written(app: Flask, client: Any) -> None:
    sid = slot_id(app, cap=1)
    assert client.post(URL, json={"slot_id": sid, "answers": ANSWERS}).status_code == 201
    resp = client.post(URL, json={"slot_id": sid,
                                  "answers": {**ANSWERS, "email": "b@example.jp"}})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "slot_full"
    assert "満席" in resp.get_data().decode("utf-8")  # UTF-8 as is, not \u escapes
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 1
    # The nearest free slots are offered, as on the booking pages.
    alternatives = resp.get_json()["error"]["alternatives"]
    assert alternatives and all(a["slot_id"] != sid and a["remaining"] > 0 for a in alternatives)
    assert all(a["start"].endswith("+09:00") for a in alternatives)


def test_field_errors_are_422_in_the_users_language(app: Flask, client: Any) -> None:
    sid = slot_id(app)
    resp = client.post(URL, json={"slot_id": sid, "answers": {**ANSWERS, "kana": "abc",
                                                                "phone": "12"}},
                       headers={"Accept-Language": "en"})
    assert resp.status_code == 422
    fields = resp.get_json()["error"]["fields"]
    assert set(fields) == {"kana", "phone"} and "katakana" in fields["kana"]
    ja = client.post(URL, json={"slot_id": sid, "answers": {**ANSWERS, "kana": "abc"}})
    assert "カタカナ" in ja.get_json()["error"]["fields"]["kana"]
    assert n_bookings(app) == 0


@pytest.mark.parametrize("body", [{"answers": ANSWERS}, {"slot_id": "x", "answers": {}},
                                  {"slot_id": 1, "answers": ANSWERS, "extra": 1},
                                  {"slot_id": 1, "answers": {"name": "x" * 5000}}, []])
def test_malformed_bodies_are_4xx(app: Flask, client: Any, body: Any) -> None:
    slot_id(app)
    resp = client.post(URL, json=body)
    assert resp.status_code in (404, 422) and n_bookings(app) == 0


def test_second_booking_over_the_per_person_limit(app: Flask, client: Any) -> None:
    sid = slot_id(app)
    assert client.post(URL, json={"slot_id": sid, "answers": ANSWERS}).status_code == 201
    resp = client.post(URL, json={"slot_id": sid, "answers": ANSWERS})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "per_person_limit"


def test_idempotency_key_replays_the_first_booking(app: Flask, client: Any) -> None:
    sid = slot_id(app)
    headers = {"Idempotency-Key": "abc-123"}
    a = client.post(URL, json={"slot_id": sid, "answers": ANSWERS}, headers=headers)
    b = client.post(URL, json={"slot_id": sid, "answers": ANSWERS}, headers=headers)
    assert a.status_code == b.status_code == 201
    assert a.get_json()["case_id"] == b.get_json()["case_id"]
    assert n_bookings(app) == 1


def test_cancel_frees_the_place_and_reschedule_moves_it(app: Flask, client: Any) -> None:
    a, b = slot_id(app, cap=1), slot_id(app, date(2026, 12, 11), cap=1)
    token = client.post(URL, json={"slot_id": a, "answers": ANSWERS}).get_json()["token"]
    moved = client.post(f"/api/v1/cases/{token}/reschedule", json={"slot_id": b})
    assert moved.status_code == 200
    assert moved.get_json()["booking"]["start"].startswith("2026-12-11")
    resp = client.post(f"/api/v1/cases/{token}/cancel")
    assert resp.status_code == 200 and resp.get_json()["state"] == "cancelled"
    again = client.post(f"/api/v1/cases/{token}/cancel")
    assert again.status_code == 409
    with app.app_context():
        assert [db.session.get(Slot, s).booked for s in (a, b)] == [0, 0]


def test_unknown_or_forged_case_token_is_404(client: Any) -> None:
    assert client.get("/api/v1/cases/NOTATOKEN").status_code == 404
    assert client.post("/api/v1/cases/" + "B" * 35 + "/cancel").status_code == 404


def test_booking_calls_are_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/workflows/{workflow}/slots" in paths
    assert "/api/v1/workflows/{workflow}/bookings" in paths
    assert "/api/v1/cases/{token}" in paths and "/api/v1/cases/{token}/cancel" in paths


def test_slot_of_another_workflow_is_refused(app: Flask, client: Any) -> None:
    sid = slot_id(app)
    resp = client.post("/api/v1/workflows/kouko-kyoshitsu/bookings",
                       json={"slot_id": sid, "answers": {}})
    assert resp.status_code in (404, 422) and n_bookings(app) == 0
    full = {"child_name": "考古 太郎", "child_kana": "コウコ タロウ", "grade": "4",
            "name": "考古 花子", "email": "k@example.jp", "phone": "03-1234-5678"}
    resp = client.post("/api/v1/workflows/kouko-kyoshitsu/bookings",
                       json={"slot_id": sid, "answers": full})
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "unknown_slot"


def test_event_seats_are_one_off_slots(app: Flask, client: Any) -> None:
    got = client.get("/api/v1/workflows/kouko-kyoshitsu/slots?from=2027-02-01&to=2027-02-28")
    assert got.status_code == 200
    assert [(s["start"], s["capacity"], s["remaining"]) for s in got.get_json()["slots"]] == [
        ("2027-02-13T10:00:00+09:00", 20, 20), ("2027-02-13T14:00:00+09:00", 20, 20)]


def test_the_links_returned_work_for_their_purpose(app: Flask, client: Any) -> None:
    sid = slot_id(app)
    links = client.post(URL, json={"slot_id": sid, "answers": ANSWERS}).get_json()["links"]
    path = links["cancel"].replace("http://localhost", "")
    assert client.get(path).status_code == 200  # a GET shows the page and changes nothing
    with app.app_context():
        assert db.session.get(Slot, sid).booked == 1
    assert client.get(links["ics"].replace("http://localhost", "")).status_code == 200
    assert client.post(path).status_code == 200
    with app.app_context():
        assert db.session.get(Slot, sid).booked == 0
    # A cancel link does not open the case page (purposes are separate).
    assert client.get("/c/" + path.rsplit("/", 1)[-1]).status_code == 404


def test_repeated_refusals_keep_each_language(app: Flask, client: Any) -> None:
    """A sell-out's refusals are answered from a short-lived copy per slot and language."""
    sid = slot_id(app, cap=1)
    assert client.post(URL, json={"slot_id": sid, "answers": ANSWERS}).status_code == 201

    def refuse(lang: str) -> Any:
        resp = client.post(URL, json={"slot_id": sid, "answers": {
            **ANSWERS, "email": f"{lang}@example.jp"}}, headers={"Accept-Language": lang})
        assert resp.status_code == 409 and resp.mimetype == "application/json"
        return resp.get_json()["error"]

    first_en, ja, again_en = refuse("en"), refuse("ja"), refuse("en")
    assert "full" in first_en["message"] and "満席" in ja["message"]
    assert again_en == first_en and ja["alternatives"] == first_en["alternatives"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 1


def test_api_calls_are_the_citizens_even_beside_a_staff_session(
        app: Flask, client: Any, auth: Any, make_staff: Any) -> None:
    """The API never takes who is calling from a session cookie: a booking, reschedule and
    cancel sent by a browser that is also signed in to the staff pages are the citizen's."""
    make_staff()
    assert auth.login().status_code == 302
    a, b = slot_id(app), slot_id(app, date(2026, 12, 11))
    token = client.post(URL, json={"slot_id": a, "answers": ANSWERS}).get_json()["token"]
    assert client.post(f"/api/v1/cases/{token}/reschedule", json={"slot_id": b}
                       ).status_code == 200
    assert client.post(f"/api/v1/cases/{token}/cancel").status_code == 200
    with app.app_context():
        actors = db.session.execute(select(CaseEvent.event, CaseEvent.actor)).all()
    assert {e for e, _ in actors} >= {"started", "booked", "rescheduled", "cancelled"}
    assert {who for _, who in actors} == {"citizen"}


def test_a_lapsed_hold_goes_to_the_waitlist_for_api_bookings_and_moves(
        app: Flask, client: Any) -> None:
    """A booking, or a reschedule, into a slot whose only place a lapsed hold left while
    someone waits: 409 ``slot_full``, and the place is offered to the person waiting."""
    sid, other = slot_id(app, cap=1), slot_id(app, date(2026, 12, 11))
    mine = client.post(URL, json={"slot_id": other, "answers": ANSWERS}).get_json()
    with app.app_context():
        env = runtime.Env(db.session, app.extensions["catalog"], NOW)
        spec = app.extensions["catalog"].get("boshi-techo")
        step = bookings.booking_step(spec)
        bookings.hold(env, spec, step, sid)
        db.session.commit()
        waitlist.join_waitlist(env, spec, step, sid, {**ANSWERS, "email": "w@example.jp"})
        db.session.commit()
    app.config["TEST_CLOCK"]["now"] = NOW + timedelta(minutes=step.hold_minutes + 1)
    moved = client.post(f"/api/v1/cases/{mine['token']}/reschedule", json={"slot_id": sid})
    assert moved.status_code == 409 and moved.get_json()["error"]["code"] == "slot_full"
    with app.app_context():
        assert db.session.scalar(select(WaitlistEntry.status)) == "offered"
        assert db.session.get(Slot, sid).booked == 1
        db.session.get(Slot, sid).capacity = 2  # a second place, and a second person waiting
        db.session.commit()
        bookings.hold(env, spec, step, sid)
        db.session.commit()
        waitlist.join_waitlist(env, spec, step, sid, {**ANSWERS, "email": "v@example.jp"})
        db.session.commit()
    app.config["TEST_CLOCK"]["now"] = NOW + timedelta(minutes=2 * step.hold_minutes + 2)
    resp = client.post(URL, json={"slot_id": sid, "answers": {**ANSWERS, "email": "x@b.jp"}})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "slot_full"
    with app.app_context():
        statuses = db.session.scalars(select(WaitlistEntry.status).order_by(WaitlistEntry.id))
        assert list(statuses) == ["offered", "offered"]  # the first offer still runs
        assert db.session.get(Slot, sid).booked == 2 and not bookings.places_leak(db.session)


def test_a_failing_follow_up_changes_nothing_and_the_refusal_stands(app: Flask) -> None:
    """If the work a refusal hands on fails half-way, none of it is kept and the caller
    still answers with its refusal (the sweep does the work later)."""
    from engine.errors import Conflict
    from web.errors import follow_up

    sid = slot_id(app, cap=3)
    exc = Conflict("slot_full", slot_id=sid)

    def half_done() -> None:
        places.resize(db.session, sid, 5)
        raise RuntimeError("lock timeout")

    exc.follow_up = half_done
    with app.test_request_context(URL, method="POST"):
        follow_up(exc)  # does not raise
        db.session.expire_all()
        assert db.session.get(Slot, sid).capacity == 3


def test_the_api_speaks_accept_language_and_never_reads_the_cookie(
        app: Flask, client: Any) -> None:
    """The language switch of the pages lives in the session cookie; the API answers in the
    request's Accept-Language alone."""
    assert client.get("/lang/en").status_code == 302  # the pages' switch: a cookie now
    for headers, word in (({}, "手続き"), ({"Accept-Language": "en"}, "procedure")):
        resp = client.post(URL, json={"slot_id": 2**31 - 1, "answers": ANSWERS},
                           headers=headers)
        assert resp.status_code == 404 and word in resp.get_json()["error"]["message"]
    assert 'lang="en"' in client.get("/").get_data(as_text=True)  # the pages still switch
