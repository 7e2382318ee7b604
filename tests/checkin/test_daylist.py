"""The day list: a counter's bookings by time with their status, filters and search,
no-shows marked by staff and counted automatically after the grace period (by the clock,
with no job running)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from engine.models import Booking
from tests.checkin.support import VISIT, at, events, make_ticket, submit_form
from web.extensions import db

URL = "/staff/checkin/day?date=2027-03-10"


def setup_day(app: Any, client: Any, auth: Any, make_staff: Any) -> dict[str, Any]:
    make_staff("desk@example.jp")
    auth.login("desk@example.jp")
    made = {
        "booked": make_ticket(app, starts_at=VISIT + timedelta(hours=2), name="青木 一郎",
                              kana="アオキ イチロウ"),
        "done": make_ticket(app, starts_at=VISIT + timedelta(hours=1), name="井上 二郎",
                            kana="イノウエ ジロウ"),
        "in": make_ticket(app, starts_at=VISIT, name="上田 三郎", kana="ウエダ サブロウ"),
        "cancelled": make_ticket(app, starts_at=VISIT, name="江藤 四郎", status="cancelled"),
        "late": make_ticket(app, starts_at=VISIT - timedelta(hours=1), name="大野 五郎"),
        "other_day": make_ticket(app, starts_at=VISIT + timedelta(days=1), name="加藤 六郎"),
    }
    submit_form(app, made["done"].case_id)
    at(app, VISIT + timedelta(minutes=5))
    assert client.post("/staff/checkin", data={"payload": made["in"].token}).status_code == 200
    return made


def row_status(html: str, name: str) -> str:
    row = html.split(name, 1)[1].split("</tr>", 1)[0]
    return row.split('class="status status-', 1)[1].split('"', 1)[0]


def test_list_by_time_with_statuses(app: Any, client: Any, auth: Any, make_staff: Any) -> None:
    setup_day(app, client, auth, make_staff)
    html = client.get(URL).get_data(as_text=True)
    order = [html.index(n) for n in ("大野 五郎", "上田 三郎", "井上 二郎", "青木 一郎")]
    assert order == sorted(order)
    assert "加藤 六郎" not in html  # another day
    assert row_status(html, "青木 一郎") == "booked"
    assert row_status(html, "井上 二郎") == "questionnaire_done"
    assert row_status(html, "上田 三郎") == "checked_in"
    assert row_status(html, "江藤 四郎") == "cancelled"
    # At 10:05 the 09:00 booking is past its 30-minute grace period: a no-show by the clock.
    assert row_status(html, "大野 五郎") == "no_show"


def test_automatic_no_show_follows_the_clock(app: Any, client: Any, auth: Any,
                                             make_staff: Any) -> None:
    made = setup_day(app, client, auth, make_staff)
    at(app, VISIT + timedelta(hours=2, minutes=29))
    assert row_status(client.get(URL).get_data(as_text=True), "青木 一郎") == "booked"
    at(app, VISIT + timedelta(hours=2, minutes=31))
    assert row_status(client.get(URL).get_data(as_text=True), "青木 一郎") == "no_show"
    with app.app_context():  # computed, not written
        assert db.session.get(Booking, made["booked"].booking_id).status == "confirmed"


def test_grace_period_is_a_setting(make_app: Any, make_staff: Any) -> None:
    app = make_app(NO_SHOW_GRACE_MINUTES=90)
    client = app.test_client()
    from tests.conftest import AuthActions

    make_staff("desk@example.jp")
    AuthActions(client).login("desk@example.jp")
    make_ticket(app, name="青木 一郎")
    at(app, VISIT + timedelta(minutes=60))
    assert row_status(client.get(URL).get_data(as_text=True), "青木 一郎") == "booked"


def test_filters_and_search(app: Any, client: Any, auth: Any, make_staff: Any) -> None:
    made = setup_day(app, client, auth, make_staff)
    html = client.get(URL + "&status=checked_in").get_data(as_text=True)
    assert "上田 三郎" in html and "青木 一郎" not in html
    # Search by reading typed in half-width katakana, by name without the space, by number.
    assert "青木 一郎" in client.get(URL + "&q=ｱｵｷ").get_data(as_text=True)
    assert "井上 二郎" in client.get(URL + "&q=井上二郎").get_data(as_text=True)
    with app.app_context():
        from engine.models import Case
        ref = db.session.get(Case, made["late"].case_id).reference
    html = client.get(URL + f"&q={ref.lower()}").get_data(as_text=True)
    assert "大野 五郎" in html and "青木 一郎" not in html
    assert "1件の予約" in html


def test_staff_mark_no_show_recorded(app: Any, client: Any, auth: Any, make_staff: Any) -> None:
    made = setup_day(app, client, auth, make_staff)
    # An hour past its start (more than the grace time): a visit still to come is refused
    # (tests/booking/test_no_show.py).
    resp = client.post(f"/staff/checkin/bookings/{made['late'].booking_id}/no-show",
                       data={"date": "2027-03-10"})
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(Booking, made["late"].booking_id).status == "no_show"
    assert ("checkin", "no_show", "staff:1") in [e[:3] for e in events(
        app, made["late"].case_id)]
    # Marking a checked-in visitor is refused, nothing changes.
    assert client.post(f"/staff/checkin/bookings/{made['in'].booking_id}/no-show"
                       ).status_code == 409


def test_day_list_only_for_staff_of_the_counter(app: Any, client: Any, auth: Any,
                                                make_staff: Any) -> None:
    made = setup_day(app, client, auth, make_staff)
    make_staff("other@example.jp", workflows=("boshi-techo",), counters=("shimin-ka",))
    other = app.test_client()
    from tests.conftest import AuthActions

    AuthActions(other).login("other@example.jp")
    assert other.get(URL + "&counter=hoken-center").status_code == 403
    assert other.post(f"/staff/checkin/bookings/{made['booked'].booking_id}/no-show"
                      ).status_code == 404


def test_printable(app: Any, client: Any, auth: Any, make_staff: Any) -> None:
    setup_day(app, client, auth, make_staff)
    html = client.get(URL).get_data(as_text=True)
    assert "checkin.css" in html and 'class="filters no-print"' in html
    css = client.get("/static/checkin.css").get_data(as_text=True)
    assert "@media print" in css


def test_day_list_downloads_as_csv_with_the_same_filters(app: Any, client: Any, auth: Any,
                                                         make_staff: Any) -> None:
    setup_day(app, client, auth, make_staff)
    html = client.get(URL).get_data(as_text=True)
    assert "/staff/checkin/day.csv?" in html
    resp = client.get("/staff/checkin/day.csv?date=2027-03-10&status=checked_in")
    text = resp.get_data(as_text=True)
    assert resp.mimetype == "text/csv" and "attachment" in resp.headers["Content-Disposition"]
    assert "上田 三郎" in text and "青木 一郎" not in text
    assert text.startswith("\ufeffcase_id,") and text.count("\r\n") == 2
