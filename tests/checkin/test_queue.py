"""The call queue: numbers per counter and day, call next or a chosen visitor, served or
missed, each recorded in the case history with who did it; the public display shows numbers
only and updates from its JSON."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from engine import runtime
from engine.errors import Conflict
from engine.models import QueueTicket
from engine.steps.checkin import queue
from tests.checkin.support import VISIT, at, events, make_ticket
from web.extensions import db


def checked_in(app: Any, client: Any, auth: Any, make_staff: Any, n: int) -> list[Any]:
    make_staff("desk@example.jp")
    auth.login("desk@example.jp")
    at(app, VISIT)
    made = [make_ticket(app, name=f"来庁者 {i}") for i in range(n)]
    for t in made:
        assert client.post("/staff/checkin", data={"payload": t.token}).status_code == 200
    return made


def statuses(app: Any) -> dict[int, str]:
    with app.app_context():
        return {t.number: t.status for t in db.session.query(QueueTicket)}


def test_numbers_start_at_one_per_counter_and_day(app: Any, client: Any, auth: Any,
                                                  make_staff: Any) -> None:
    checked_in(app, client, auth, make_staff, 3)
    assert statuses(app) == {1: "waiting", 2: "waiting", 3: "waiting"}
    at(app, VISIT + timedelta(days=1))
    tomorrow = make_ticket(app, starts_at=VISIT + timedelta(days=1))
    client.post("/staff/checkin", data={"payload": tomorrow.token})
    with app.app_context():
        days = sorted((t.day, t.number) for t in db.session.query(QueueTicket))
    assert days[-1] == ("2027-03-11", 1)


def test_call_next_served_missed_recorded_with_actor(app: Any, client: Any, auth: Any,
                                                     make_staff: Any) -> None:
    made = checked_in(app, client, auth, make_staff, 3)
    page = client.post("/staff/checkin/queue/next", follow_redirects=True)
    assert "1番をお呼びしています" in page.get_data(as_text=True)
    assert statuses(app)[1] == "called"
    with app.app_context():
        ids = {t.number: t.id for t in db.session.query(QueueTicket)}
    client.post(f"/staff/checkin/queue/{ids[1]}/served")
    client.post(f"/staff/checkin/queue/{ids[3]}/called")  # a chosen visitor
    client.post(f"/staff/checkin/queue/{ids[3]}/missed")
    assert statuses(app) == {1: "served", 2: "waiting", 3: "missed"}
    first = [e[1:3] for e in events(app, made[0].case_id)]
    assert ("called", "staff:1") in first and ("served", "staff:1") in first
    assert ("missed", "staff:1") in [e[1:3] for e in events(app, made[2].case_id)]
    # The next call skips the missed one; a missed visitor can be called again by choice.
    client.post("/staff/checkin/queue/next")
    assert statuses(app)[2] == "called"
    client.post(f"/staff/checkin/queue/{ids[3]}/called")
    assert statuses(app)[3] == "called"


def test_served_twice_is_a_conflict_not_a_500(app: Any, client: Any, auth: Any,
                                              make_staff: Any) -> None:
    checked_in(app, client, auth, make_staff, 1)
    with app.app_context():
        tid = db.session.query(QueueTicket).one().id
    assert client.post(f"/staff/checkin/queue/{tid}/served").status_code == 302
    assert client.post(f"/staff/checkin/queue/{tid}/missed").status_code == 409


def test_empty_queue_says_nobody_waiting(app: Any, client: Any, auth: Any,
                                         make_staff: Any) -> None:
    make_staff("desk@example.jp")
    auth.login("desk@example.jp")
    page = client.post("/staff/checkin/queue/next", follow_redirects=True)
    assert "お待ちの方はいません" in page.get_data(as_text=True)


def test_two_callers_at_once_call_two_visitors(app: Any, client: Any, auth: Any,
                                               make_staff: Any) -> None:
    checked_in(app, client, auth, make_staff, 2)
    barrier = threading.Barrier(2)
    called: list[int] = []
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            barrier.wait(10)
            with app.app_context():
                env = runtime.Env(db.session, app.extensions["catalog"], VISIT, "staff:1")
                t = queue.call_next(env, "hoken-center")
                db.session.commit()
                called.append(t.number)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and sorted(called) == [1, 2]


def test_move_from_wrong_state_is_refused(app: Any, client: Any, auth: Any,
                                          make_staff: Any) -> None:
    checked_in(app, client, auth, make_staff, 1)
    with app.app_context():
        tid = db.session.query(QueueTicket).one().id
        try:
            queue.move(runtime.Env(db.session, app.extensions["catalog"], VISIT, "x"), tid,
                       "missed")
        except Conflict as exc:
            assert exc.code == "queue_state"
        else:
            raise AssertionError("a waiting visitor cannot be missed before being called")


def test_display_shows_numbers_only(app: Any, client: Any, auth: Any, make_staff: Any) -> None:
    checked_in(app, client, auth, make_staff, 2)
    client.post("/staff/checkin/queue/next")
    auth.logout()
    public = app.test_client()
    data = public.get("/queue/hoken-center.json").get_json()
    assert data == {"counter": "hoken-center", "calling": [1], "waiting": 1, "served": 0}
    html = public.get("/queue/hoken-center").get_data(as_text=True)
    assert "来庁者" not in html and ">1</li>" in html
    assert public.get("/queue/unknown-counter").status_code == 404


def test_queue_page_lists_names_for_staff(app: Any, client: Any, auth: Any,
                                          make_staff: Any) -> None:
    checked_in(app, client, auth, make_staff, 2)
    html = client.get("/staff/checkin/queue").get_data(as_text=True)
    assert "来庁者 0" in html and "来庁者 1" in html and "次の方を呼び出す" in html
