"""The scan log: every scan of the day at the counters a member of staff serves, in words,
with nothing of the scans of other counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from engine import runtime
from engine.localtime import TZ
from engine.models import CheckIn
from engine.steps.checkin import scanlog
from engine.steps.checkin.scan import perform_checkin
from tests.checkin.support import VISIT, at, make_ticket
from web.context import token_key
from web.extensions import db

OTHER = {"workflows": ("boshi-techo", "kouko-kyoshitsu"), "counters": ("kouko-kyoshitsu",)}


def scan(app: Any, payload: str, staff: Any, *, now: Any = VISIT,
         counter: str | None = "hoken-center") -> str:
    with app.app_context():
        result = perform_checkin(runtime.Env(db.session, app.extensions["catalog"], now),
                                 payload=payload, key=token_key(), staff=staff, counter=counter)
        db.session.commit()
        return result.reason


def a_day_of_scans(app: Any, staff: Any) -> dict[str, Any]:
    """On the visit's day: a check-in, a repeat, a forged code and a wrong-day refusal."""
    ticket = make_ticket(app)
    early = make_ticket(app, name="佐藤 次郎", starts_at=VISIT + timedelta(days=1))
    assert scan(app, ticket.token, staff) == "ok"
    assert scan(app, ticket.token, staff, now=VISIT + timedelta(minutes=1)) == (
        "already_checked_in")
    assert scan(app, "FORGED-CODE-0000", staff, now=VISIT + timedelta(minutes=2)) == "forged"
    assert scan(app, early.token, staff, now=VISIT + timedelta(minutes=3)) == "wrong_day"
    return {"ticket": ticket, "early": early}


def page(client: Any, **args: str) -> tuple[int, str]:
    resp = client.get("/staff/checkin/scans", query_string=args)
    return resp.status_code, resp.get_data(as_text=True)


def test_every_scan_of_the_day_in_words(app: Any, client: Any, auth: Any,
                                        make_staff: Any) -> None:
    staff = make_staff("desk@example.jp", name="佐藤 一郎")
    made = a_day_of_scans(app, staff)
    auth.login("desk@example.jp")
    at(app, VISIT + timedelta(minutes=10))
    status, html = page(client)
    assert status == 200
    assert "4件の読み取り" in html
    for words in ("受付済み", "既に受付済み", "無効なコード", "予約日時が違う", "受付できず",
                  "佐藤 一郎", "保健センター 母子保健窓口", "10:02:00"):
        assert words in html, words
    # Codes never show: not the reasons, the counter id or the actor.
    body = html[html.index("<tbody"):html.index("</tbody>")]
    for code in ("wrong_day", "forged", "already_checked_in", "hoken-center", "staff:"):
        assert f">{code}" not in body and f"{code}<" not in body, code
    # Cases the viewer may see are linked by their reference; the wrong-day one may be
    # accepted from here.
    with app.app_context():
        from engine.models import Case

        ref = db.session.get(Case, made["ticket"].case_id).reference
        refused = db.session.scalar(select(CheckIn.id).where(CheckIn.reason == "wrong_day"))
    assert f'href="/staff/cases/{made["ticket"].case_id}"' in body and ref in body
    assert f'href="/staff/checkin/scans/{refused}/accept"' in body


def test_staff_of_another_counter_see_none_of_its_scans(app: Any, client: Any, auth: Any,
                                                        make_staff: Any) -> None:
    desk = make_staff("desk@example.jp")
    make_staff("other@example.jp", **OTHER)
    made = a_day_of_scans(app, desk)
    auth.login("other@example.jp")
    at(app, VISIT + timedelta(minutes=10))
    status, html = page(client)
    assert status == 200 and "この日の読み取りはありません。" in html
    assert "山田" not in html and made["ticket"].token not in html
    assert f"/staff/cases/{made['ticket'].case_id}" not in html
    assert page(client, counter="hoken-center")[0] == 403


def test_a_scan_without_a_counter_belongs_to_its_bookings(app: Any, make_staff: Any) -> None:
    desk = make_staff("desk@example.jp")
    ticket = make_ticket(app)
    # Through the API, which may name no counter.
    assert scan(app, ticket.token, desk, counter=None, now=VISIT - timedelta(hours=3)) == (
        "wrong_day")
    assert scan(app, "FORGED-CODE-0000", desk, counter=None) == "forged"
    day = VISIT.astimezone(TZ).date()
    with app.app_context():
        mine = scanlog.scans(db.session, day=day, counters=["hoken-center"], now=VISIT)
        other = scanlog.scans(db.session, day=day, counters=["kouko-kyoshitsu"], now=VISIT)
        everything = scanlog.scans(db.session, day=day, counters=None, now=VISIT)
    assert [(e.reason, e.counter) for e in mine] == [("wrong_day", "hoken-center")]
    assert other == []
    assert [e.reason for e in everything] == ["forged", "wrong_day"]  # admins see all


def test_filters_by_day_counter_and_result(app: Any, client: Any, auth: Any,
                                           make_staff: Any) -> None:
    staff = make_staff("desk@example.jp", **{
        "workflows": ("boshi-techo", "kouko-kyoshitsu"),
        "counters": ("hoken-center", "kouko-kyoshitsu")})
    a_day_of_scans(app, staff)
    auth.login("desk@example.jp")
    # The default day is today in Japan: 00:30 on the visit's day is still the 9th in UTC.
    at(app, datetime(2027, 3, 9, 15, 30, tzinfo=UTC))
    assert "4件の読み取り" in page(client)[1]
    assert "この日の読み取りはありません。" in page(client, date="2027-03-09")[1]
    assert "この日の読み取りはありません。" in page(client, counter="kouko-kyoshitsu")[1]
    assert "4件の読み取り" in page(client, counter="hoken-center")[1]
    assert "3件の読み取り" in page(client, result="refused")[1]
    assert "1件の読み取り" in page(client, result="ok")[1]
    assert "0件の読み取り" in page(client, result="accepted")[1]
    assert "4件の読み取り" in page(client, result="nonsense")[1]
    assert "4件の読み取り" in page(client, date="not-a-date")[1]


def test_an_acceptance_shows_with_its_reason(app: Any, client: Any, auth: Any,
                                             make_staff: Any) -> None:
    make_staff("desk@example.jp", name="佐藤 一郎")
    ticket = make_ticket(app, starts_at=VISIT + timedelta(days=1))
    auth.login("desk@example.jp")
    at(app, VISIT)
    client.post("/staff/checkin", data={"payload": ticket.token, "counter": "hoken-center"})
    with app.app_context():
        refused = db.session.scalar(select(CheckIn.id).where(CheckIn.reason == "wrong_day"))
    resp = client.post(f"/staff/checkin/scans/{refused}/accept",
                       data={"reason": "前日に来庁、本人確認済み"})
    assert resp.status_code == 302
    status, html = page(client, result="accepted")
    assert "1件の読み取り" in html and "職員が承認して受付" in html
    assert "前日に来庁、本人確認済み" in html and "佐藤 一郎" in html
    status, html = page(client)
    assert "後で承認済み" in html  # the refused scan points to its acceptance
    assert f'href="/staff/checkin/scans/{refused}/accept"' not in html  # accepted already


def test_the_case_is_linked_only_for_staff_who_may_see_it(app: Any, client: Any, auth: Any,
                                                          make_staff: Any) -> None:
    desk = make_staff("desk@example.jp")
    # Serves the counter but not the workflow: sees the scans at the desk, not the case.
    make_staff("counter-only@example.jp", workflows=("kouko-kyoshitsu",),
               counters=("hoken-center",))
    made = a_day_of_scans(app, desk)
    auth.login("counter-only@example.jp")
    at(app, VISIT + timedelta(minutes=10))
    status, html = page(client)
    assert status == 200 and "4件の読み取り" in html
    assert f"/staff/cases/{made['ticket'].case_id}" not in html
    assert "/accept" not in html


def test_the_menu_has_the_scan_log(app: Any, client: Any, auth: Any, make_staff: Any) -> None:
    make_staff("desk@example.jp")
    auth.login("desk@example.jp")
    html = client.get("/staff/").get_data(as_text=True)
    assert 'href="/staff/checkin/scans"' in html and "読み取り記録" in html
