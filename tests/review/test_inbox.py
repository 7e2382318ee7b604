"""The inbox: search as staff type (kana of either script and width, phone digits, reference,
email), filters refused when they name nothing, keyset pages, and staff of another workflow,
counter or group shown nothing of a case — on every page and call that shows or changes it."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from engine import inbox
from engine.models import Case
from tests.review.support import dog, notice
from web.extensions import db


def refs(html: str) -> set[str]:
    return set(re.findall(r'/staff/cases/\d+">([A-Z0-9]{8})<', html))


def test_search_finds_what_citizens_typed_however_staff_type_it(
        app: Any, client: Any, make_staff: Any, auth: Any) -> None:
    make_staff("kankyo@example.jp", workflows=("inu-shibou",), groups=("kankyo-eisei",))
    auth.login("kankyo@example.jp")
    dog(app.test_client())
    dog(app.test_client(), owner_name="田中 次郎", owner_kana="タナカ ジロウ",
        phone="06-1111-2222", email="jiro@example.jp")
    with app.app_context():
        suzuki = db.session.scalars(select(Case).order_by(Case.id)).first()
        assert suzuki is not None
    for typed in ("すずき", "スズキ", "ｽｽﾞｷ", "鈴木", "0729391111", "072-939-1111",
                  "ICHIRO@EXAMPLE.JP", suzuki.reference.lower()):
        found = refs(client.get("/staff/cases", query_string={"q": typed}).get_data(
            as_text=True))
        assert found == {suzuki.reference}, typed


def test_unknown_filter_values_are_refused_and_named(app: Any, client: Any,
                                                     make_staff: Any, auth: Any) -> None:
    make_staff("kankyo@example.jp", workflows=("inu-shibou",), groups=("kankyo-eisei",))
    auth.login("kankyo@example.jp")
    for args, name in (({"state": "bogus"}, "state"), ({"workflow": "kesseki-todoke"},
                       "workflow"), ({"submitted_from": "2026-13-40"}, "submitted_from"),
                       ({"group": "domyoji-e"}, "group"), ({"after": "!!"}, "after")):
        resp = client.get("/staff/cases", query_string=args)
        assert resp.status_code == 400, args
        assert f'href="#f-{name}"' in resp.get_data(as_text=True)


def test_pages_follow_the_keyset_without_gaps_or_repeats(app: Any, make_staff: Any) -> None:
    staff = make_staff("admin@example.jp", role="admin")
    citizen = app.test_client()
    for i in range(7):
        notice(citizen, child_name=f"児童 {i}")
        app.config["CLOCK"].advance(seconds=0 if i % 2 else 1)  # ties in created_at too
    seen: list[int] = []
    after = None
    with app.app_context():
        while True:
            page = inbox.page(db.session, staff, inbox.Filters(), after=after, size=3)
            seen.extend(c.id for c in page.cases)
            if page.next_cursor is None:
                break
            after = page.next_cursor
        ordered = [c.id for c in db.session.scalars(
            select(Case).order_by(Case.created_at.desc(), Case.id.desc()))]
    assert seen == ordered and len(seen) == 7


def test_staff_of_another_group_workflow_or_counter_see_nothing_of_a_case(
        app: Any, make_staff: Any, make_case: Any, auth: Any) -> None:
    make_staff("other-school@example.jp", workflows=("kesseki-todoke",),
               groups=("fujiidera-e",))
    make_staff("other-workflow@example.jp", workflows=("inu-shibou",),
               groups=("kankyo-eisei", "domyoji-e"))
    make_staff("own@example.jp", workflows=("kesseki-todoke",), groups=("domyoji-e",))
    notice(app.test_client())
    with app.app_context():
        case = db.session.scalars(select(Case)).one()
        case_id, reference = case.id, case.reference
    calls = [
        ("get", f"/staff/cases/{case_id}", None),
        ("post", f"/staff/cases/{case_id}/processing", {"action": "in_progress",
                                                        "expected": "received"}),
        ("post", f"/staff/cases/{case_id}/notes", {"note": "x"}),
        ("post", f"/staff/cases/{case_id}/assign", {"staff": "me"}),
        ("get", "/staff/groups/domyoji-e/today?day=2026-12-01", None),
    ]
    for email in ("other-school@example.jp", "other-workflow@example.jp"):
        client = app.test_client()
        type(auth)(client).login(email)
        for method, url, data in calls:
            resp = getattr(client, method)(url, data=data)
            assert resp.status_code == 404, (email, url, resp.status_code)
        assert reference not in client.get("/staff/cases").get_data(as_text=True)
        assert refs(client.get("/staff/cases", query_string={
            "q": reference}).get_data(as_text=True)) == set()
    with app.app_context():
        after = db.session.get(Case, case_id)
        assert after is not None and after.processing == "received" and not after.assignee_id
    own = app.test_client()
    type(auth)(own).login("own@example.jp")
    assert reference in own.get("/staff/cases").get_data(as_text=True)
    assert own.get(f"/staff/cases/{case_id}").status_code == 200


def test_a_booking_at_another_counter_of_the_same_workflow_is_not_shown(
        app: Any, make_staff: Any, auth: Any) -> None:
    from datetime import timedelta

    from engine.models import Booking, Slot
    from tests.clock import app_now

    make_staff("counter-b@example.jp", workflows=("boshi-techo",), counters=("another-desk",))
    case_id = None
    with app.app_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        from engine import runtime
        case = runtime.start_case(db.session, spec, actor="citizen", now=app_now(app))
        start = app_now(app) + timedelta(days=3)
        slot = Slot(workflow_id=spec.id, step_id="visit", counter="hoken-center",
                    starts_at=start, ends_at=start + timedelta(minutes=30), capacity=1,
                    booked=1)
        db.session.add(slot)
        db.session.flush()
        db.session.add(Booking(case_id=case.id, workflow_id=spec.id, step_id="visit",
                               slot_id=slot.id, status="confirmed", created_at=app_now(app)))
        db.session.commit()
        case_id, reference = case.id, case.reference
    client = app.test_client()
    type(auth)(client).login("counter-b@example.jp")
    assert client.get(f"/staff/cases/{case_id}").status_code == 404
    assert reference not in client.get("/staff/cases").get_data(as_text=True)
    assert client.post(f"/staff/cases/{case_id}/notes", data={"note": "x"}).status_code == 404


def test_the_processing_call_refuses_with_the_moves_open(app: Any, make_staff: Any,
                                                          runner: Any) -> None:
    make_staff("api@example.jp", workflows=("kesseki-todoke",), groups=("domyoji-e",))
    make_staff("api-other@example.jp", workflows=("kesseki-todoke",), groups=("gakumu",))
    notice(app.test_client())
    with app.app_context():
        case_id = db.session.scalars(select(Case.id)).one()
    tokens = {}
    for email in ("api@example.jp", "api-other@example.jp"):
        out = runner.invoke(args=["staff", "token", email])
        tokens[email] = out.output.strip().splitlines()[-1]
    client = app.test_client()

    def call(email: str, body: dict[str, Any]) -> Any:
        return client.post(f"/api/v1/cases/{case_id}/processing", json=body,
                           headers={"Authorization": f"Bearer {tokens[email]}"})

    assert call("api-other@example.jp", {"action": "in_progress",
                                         "expected": "received"}).status_code == 404
    ok = call("api@example.jp", {"action": "in_progress", "expected": "received"})
    assert ok.status_code == 200 and ok.json["processing"] == "in_progress"
    again = call("api@example.jp", {"action": "in_progress", "expected": "received"})
    assert again.status_code == 409
    assert again.json["error"]["allowed"] == ["completed", "returned", "rejected"]
    assert call("api@example.jp", {"action": "returned", "expected": "in_progress"}
                ).status_code == 422


def test_filters_out_of_any_calendar_or_with_control_characters_are_refused(
        app: Any, client: Any, make_staff: Any, auth: Any) -> None:
    make_staff("kankyo@example.jp", workflows=("inu-shibou",), groups=("kankyo-eisei",))
    auth.login("kankyo@example.jp")
    for args in ({"visit_to": "9999-12-31"}, {"submitted_from": "0001-01-01"},
                 {"q": "すずき\x00"}, {"q": "あ" * 101}):
        resp = client.get("/staff/cases", query_string=args)
        assert resp.status_code == 400, args


def test_the_day_page_records_whose_names_staff_saw_once_an_hour(
        app: Any, client: Any, make_staff: Any, auth: Any) -> None:
    from engine.models import CaseEvent

    make_staff("own@example.jp", workflows=("kesseki-todoke",), groups=("domyoji-e",))
    auth.login("own@example.jp")
    notice(app.test_client())
    url = "/staff/groups/domyoji-e/today?day=2026-12-01"

    def views() -> int:
        with app.app_context():
            return len(db.session.scalars(select(CaseEvent).where(
                CaseEvent.event == "viewed_by_staff")).all())

    assert client.get(url).status_code == 200 and views() == 1
    assert client.get(url + "&part=list").status_code == 200 and views() == 1  # refreshes
    app.config["CLOCK"].advance(minutes=61)
    assert client.get(url + "&part=list").status_code == 200 and views() == 2
    for day in ("9999-12-31", "2026-02-30", "x"):
        assert client.get(f"/staff/groups/domyoji-e/today?day={day}").status_code == 400


def test_a_cursor_naming_no_row_there_can_be_is_refused(app: Any, client: Any,
                                                         make_staff: Any, auth: Any) -> None:
    import base64

    make_staff("kankyo@example.jp", workflows=("inu-shibou",), groups=("kankyo-eisei",))
    auth.login("kankyo@example.jp")
    for raw in ("2026-12-01T00:00:00+00:00|1099511627776", "0001-01-01T00:00:00+09:00|5"):
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        assert client.get("/staff/cases", query_string={"after": cursor}).status_code == 400
