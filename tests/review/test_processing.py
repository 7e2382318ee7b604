"""Processing by staff: routing a submission to its group, telling the group, the moves staff
may make (and those refused with nothing written), returning for correction through email,
bulk moves, notes and assignment, and the end of a case."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from engine import retention
from engine.models import Case, CaseEvent, CaseNote, Message
from engine.steps.review import processing
from tests.clock import app_now
from tests.conftest import csrf_token
from tests.review.support import DOG, NOTICE, dog, notice
from web.extensions import db


def only_case(app: Any) -> Case:
    with app.app_context():
        case = db.session.scalars(select(Case).order_by(Case.id.desc())).first()
        assert case is not None
        db.session.expunge(case)
        return case


def messages_to(app: Any, address: str) -> list[Message]:
    with app.app_context():
        rows = db.session.scalars(select(Message).where(Message.to_addr == address)
                                  .order_by(Message.id)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def events(app: Any, case_id: int) -> list[str]:
    with app.app_context():
        return [f"{e.step_id} {e.event}" for e in db.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))]


def post_move(client: Any, case_id: int, action: str, expected: str | None,
              message: str = "") -> Any:
    return client.post(f"/staff/cases/{case_id}/processing", data={
        "action": action, "expected": expected or "", "message": message})


@pytest.fixture
def school(make_staff: Any, auth: Any) -> Any:
    """A signed-in staff member of 道明寺小学校's group."""
    make_staff("domyoji@example.jp", workflows=("kesseki-todoke",), groups=("domyoji-e",))
    auth.login("domyoji@example.jp")
    return auth


def test_a_notice_reaches_its_school_and_the_school_is_told(app: Any, client: Any) -> None:
    notice(app.test_client())
    case = only_case(app)
    assert (case.group_id, case.processing) == ("domyoji-e", "received")
    assert case.day.isoformat() == NOTICE["date"]
    assert "review received" in events(app, case.id)
    [mail] = messages_to(app, "domyoji-e@school.fujiidera.example.jp")
    assert case.reference in mail.subject
    assert f"/staff/cases/{case.id}" in (mail.body_text or "")
    assert NOTICE["child_name"] not in (mail.body_text or "")  # names stay on the staff page
    assert "学年: 2" in (mail.body_text or "")


def test_a_value_no_route_names_goes_to_the_default_group(app: Any) -> None:
    step = processing.review_step(app.extensions["catalog"].get("kesseki-todoke"))
    assert step is not None
    assert step.group_for({"notice": {"school": "a-school-not-listed"}}) == "gakumu"
    assert step.group_for({"notice": {}}) == "gakumu"


def test_digest_groups_get_one_mail_per_window_never_twice(app: Any) -> None:
    clock = app.config["CLOCK"]
    citizen = app.test_client()
    notice(citizen, school="fujiidera-j", child_name="一 郎")
    notice(citizen, school="fujiidera-j", child_name="二 郎", grade="3")
    address = "fujiidera-j@school.fujiidera.example.jp"
    assert messages_to(app, address) == []  # not one mail per notice
    with app.app_context():
        assert processing.send_digests(db.session, app.extensions["catalog"],
                                       now=app_now(app), settings=app.config) == 0
    clock.advance(minutes=25)  # the beat was down for two windows
    for _ in range(2):
        with app.app_context():
            processing.send_digests(db.session, app.extensions["catalog"], now=app_now(app),
                                    settings=app.config)
            db.session.commit()
    [digest] = messages_to(app, address)
    assert "2件" in digest.subject
    assert digest.body_text is not None and digest.body_text.count("/staff/cases/") == 2


def test_moves_follow_the_table_and_a_refused_one_writes_nothing(app: Any, client: Any,
                                                                  school: Any) -> None:
    notice(app.test_client())
    case = only_case(app)
    assert post_move(client, case.id, "in_progress", "received").status_code == 303
    before = events(app, case.id)
    stale = post_move(client, case.id, "completed", "received")  # seen before it moved
    assert stale.status_code == 409
    assert "対応中" in stale.get_data(as_text=True)  # where it is now, in words
    assert post_move(client, case.id, "received", "in_progress").status_code == 422
    assert [e for e in events(app, case.id) if "viewed" not in e] == [
        e for e in before if "viewed" not in e]
    assert post_move(client, case.id, "completed", "in_progress").status_code == 303
    done = only_case(app)
    assert (done.processing, done.state) == ("completed", "completed")
    assert post_move(client, case.id, "in_progress", "completed").status_code == 409


def test_returning_needs_a_message_and_nothing_is_written_without_one(
        app: Any, client: Any, make_staff: Any, auth: Any) -> None:
    make_staff("kankyo@example.jp", workflows=("inu-shibou",), groups=("kankyo-eisei",))
    auth.login("kankyo@example.jp")
    dog(app.test_client())
    case = only_case(app)
    before = [e for e in events(app, case.id) if "viewed" not in e]
    resp = post_move(client, case.id, "returned", "received", message="  ")
    assert resp.status_code == 422
    assert 'aria-invalid="true"' in resp.get_data(as_text=True)
    assert [e for e in events(app, case.id) if "viewed" not in e] == before
    assert only_case(app).processing == "received"


def test_returned_corrected_through_the_emailed_link_comes_back_then_completes(
        app: Any, client: Any, make_staff: Any, auth: Any) -> None:
    make_staff("kankyo@example.jp", workflows=("inu-shibou",), groups=("kankyo-eisei",))
    auth.login("kankyo@example.jp")
    owner = app.test_client()
    dog(owner)
    case = only_case(app)
    text = "登録番号が台帳と一致しません。鑑札の番号をご確認ください。"
    assert post_move(client, case.id, "returned", "received", message=text).status_code == 303
    mails = messages_to(app, DOG["email"])
    returned = next(m for m in mails if m.event == "returned")
    assert returned.body_text is not None and text in returned.body_text  # written, sent
    link = re.search(r"http://localhost(/f/\S+)", returned.body_text)
    assert link, returned.body_text
    page = owner.get(link[1])
    assert page.status_code == 200
    assert owner.post(link[1], data={**DOG, "registration_no": "2026-124"}).status_code == 303
    back = only_case(app)
    assert back.processing == "received" and back.data["notice"]["registration_no"] == "2026-124"
    assert events(app, case.id).count("review received") == 2
    assert post_move(client, case.id, "completed", "received").status_code == 303
    assert any(m.event == "completed" for m in messages_to(app, DOG["email"]))
    assert only_case(app).state == "completed"


def test_a_rejected_case_ends_and_is_erased_when_its_retention_ends(
        app: Any, client: Any, make_staff: Any, auth: Any) -> None:
    make_staff("kankyo@example.jp", workflows=("inu-shibou",), groups=("kankyo-eisei",))
    auth.login("kankyo@example.jp")
    dog(app.test_client())
    case = only_case(app)
    assert post_move(client, case.id, "rejected", "received",
                     message="市外の犬のため受け付けできません。").status_code == 303
    assert only_case(app).state == "rejected"
    app.config["CLOCK"].advance(days=1826)
    with app.app_context():
        assert retention.run(db.session, app.extensions["catalog"], now=app_now(app)) == 1
        db.session.commit()
    assert only_case(app).data == {}


def test_bulk_marks_the_cases_that_allow_it_and_lists_the_others(app: Any, client: Any,
                                                                 school: Any) -> None:
    citizen = app.test_client()
    for name in ("一 郎", "二 郎", "三 郎"):
        notice(citizen, child_name=name)
    notice(citizen, school="fujiidera-e")  # another school's: never touched
    with app.app_context():
        ids = [c.id for c in db.session.scalars(select(Case).order_by(Case.id))]
    assert post_move(client, ids[0], "completed", "received").status_code == 303
    page = client.get("/staff/cases").get_data(as_text=True)
    resp = client.post("/staff/cases/bulk", data={
        "csrf_token": csrf_token(page) if "csrf_token" in page else "",
        "action": "completed", "case": [str(i) for i in ids]})
    assert resp.status_code == 303
    with app.app_context():
        got = {c.id: c.processing for c in db.session.scalars(select(Case))}
    assert [got[i] for i in ids] == ["completed", "completed", "completed", "received"]


def test_notes_and_assignment_stay_with_staff(app: Any, client: Any, school: Any,
                                              make_staff: Any) -> None:
    make_staff("colleague@example.jp", name="佐藤 教頭", workflows=("kesseki-todoke",),
               groups=("domyoji-e",))
    make_staff("other@example.jp", name="他校", workflows=("kesseki-todoke",),
               groups=("fujiidera-e",))
    citizen = app.test_client()
    home = notice(citizen)
    case = only_case(app)
    assert client.post(f"/staff/cases/{case.id}/notes", data={"note": " "}).status_code == 422
    assert client.post(f"/staff/cases/{case.id}/notes",
                       data={"note": "担任に伝達済み"}).status_code == 303
    with app.app_context():
        colleague = db.session.scalar(select(CaseNote.staff_id))
        assert colleague is not None
    page = client.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "担任に伝達済み" in page and "他校" not in page  # not offered: cannot see it
    other_id = re.search(r'<option value="(\d+)">佐藤 教頭', page)
    assert other_id
    assert client.post(f"/staff/cases/{case.id}/assign",
                       data={"staff": other_id[1]}).status_code == 303
    assert only_case(app).assignee_id == int(other_id[1])
    assert "担任に伝達済み" not in citizen.get(home).get_data(as_text=True)
    assert "None viewed_by_staff" in events(app, case.id)  # opening it is on record


def test_the_citizen_reads_why_it_was_returned_on_their_page(
        app: Any, client: Any, make_staff: Any, auth: Any) -> None:
    make_staff("kankyo@example.jp", workflows=("inu-shibou",), groups=("kankyo-eisei",))
    auth.login("kankyo@example.jp")
    owner = app.test_client()
    page = dog(owner)
    case = only_case(app)
    assert post_move(client, case.id, "returned", "received",
                     message="犬の名前をご確認ください。").status_code == 303
    html = owner.get(page).get_data(as_text=True)
    assert "もう一度送信してください" in html and "犬の名前をご確認ください。" in html


def test_two_staff_moving_one_case_at_once_exactly_one_wins(app: Any, client: Any,
                                                             school: Any) -> None:
    """A holds the case's lock with its move not yet committed while B's move of the same
    case waits behind it; when A commits, B is refused (it saw the case as received)."""
    import threading

    from tests.locks import wait_until_blocked_or_done
    from web.environment import env

    notice(app.test_client())
    case = only_case(app)
    outcome: dict[str, int] = {}

    def colleague() -> None:
        outcome["status"] = post_move(client, case.id, "completed", "received").status_code

    with app.test_request_context():
        locked = processing.lock(db.session, db.session.get(Case, case.id))
        processing.move(env("staff:999").ctx(locked), "in_progress", expected="received")
        db.session.flush()
        other = threading.Thread(target=colleague)
        other.start()
        assert wait_until_blocked_or_done(other, db.engine) == "blocked"
        db.session.commit()
    other.join(30)
    assert outcome["status"] == 409
    moves = [e for e in events(app, case.id) if e in ("review in_progress", "review completed")]
    assert moves == ["review in_progress"] and only_case(app).processing == "in_progress"
