"""The export of cases for the back office, from the inbox (``/staff/cases/export.*``) and the
API (``GET /api/v1/cases``): CSV a spreadsheet opens as Japanese with words for headers and
no formula run, an xlsx that opens with its rows, JSON with stable keys, exactly the cases the
inbox lists, unknown filter values refused by name, and nothing of a case for staff of
another workflow, counter or routing group."""

from __future__ import annotations

import csv
import io
import logging
from datetime import datetime
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select

from engine import export, inbox
from engine.models import Case, StaffUser
from tests.review.support import notice
from web.extensions import db

SCHOOL = "kesseki-todoke"


@pytest.fixture
def token(runner: Any) -> Any:
    """The Authorization header of a new API token of an existing staff member."""
    def make(email: str) -> dict[str, str]:
        out = runner.invoke(args=["staff", "token", email])
        assert out.exit_code == 0, out.output
        return {"Authorization": f"Bearer {out.output.strip().splitlines()[-1]}"}
    return make


@pytest.fixture
def bearer(make_staff: Any, token: Any) -> Any:
    def make(email: str, **kw: Any) -> dict[str, str]:
        make_staff(email, **kw)
        return token(email)  # type: ignore[no-any-return]
    return make


def school_staff(make_staff: Any, email: str = "domyoji@example.jp",
                 groups: tuple[str, ...] = ("domyoji-e",)) -> StaffUser:
    return make_staff(email, workflows=(SCHOOL,), counters=(), groups=groups)


def book(client: Any, name: str = "山田 花子") -> int:
    """A visit booked through the API, as a citizen's portal books it."""
    day = "2026-12-01"
    slots = client.get("/api/v1/workflows/boshi-techo/slots",
                       query_string={"from": day, "to": "2026-12-28"}).get_json()["slots"]
    booked = client.post("/api/v1/workflows/boshi-techo/bookings", json={
        "slot_id": slots[0]["id"], "answers": {
            "name": name, "kana": "ヤマダ ハナコ", "email": f"{len(name)}@example.jp",
            "phone": "090-1234-5678"}}).get_json()
    return int(booked["case_id"])


def case_ids(app: Any) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(Case.id).order_by(Case.id)))


def csv_rows(resp: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))


def test_csv_has_a_bom_words_for_headers_and_values_and_quotes_formulas(
        app: Any, client: Any, make_staff: Any, auth: Any) -> None:
    school_staff(make_staff)
    notice(app.test_client(), message="=HYPERLINK(\"http://evil\")", kind="late",
           time="10:30")
    auth.login("domyoji@example.jp")
    resp = client.get("/staff/cases/export.csv", query_string={"workflow": SCHOOL})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    raw = resp.get_data()
    assert raw.startswith("\ufeff".encode()) and b"\r\n" in raw
    header, row = csv_rows(resp)
    assert header[:4] == ["ケースID", "受付番号", "手続きID", "手続き"]
    # One column per field of the workflow, headed by its label.
    assert {"学校", "学年", "連絡の種類", "学校への連絡事項"} <= set(header)
    cell = dict(zip(header, row, strict=True))
    assert cell["学校"] == "道明寺小学校" and cell["連絡の種類"] == "遅刻"  # labels, not codes
    assert cell["状態"] == "手続き中" and cell["処理状況"] == "受付済み"  # words, not codes
    assert cell["担当グループ"] == "道明寺小学校"
    assert cell["送信日時"].endswith("+09:00")
    assert cell["学校への連絡事項"] == "'=HYPERLINK(\"http://evil\")"


def test_labels_shared_by_two_fields_are_told_apart_by_step_and_section(app: Any) -> None:
    with app.app_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        headers = [c.header for c in export.columns(spec, "ja")]
    assert len(headers) == len(set(headers))
    assert "お名前" in headers  # unique: the label alone
    assert "氏名（妊娠届出アンケート・妊婦さんについて）" in headers
    assert "フリガナ（来所予約）" in headers


def test_xlsx_opens_and_holds_the_rows_as_text_and_times(
        app: Any, client: Any, make_staff: Any, auth: Any) -> None:
    school_staff(make_staff)
    notice(app.test_client(), message="=1+1")
    notice(app.test_client(), child_name="佐藤 次郎")
    auth.login("domyoji@example.jp")
    resp = client.get("/staff/cases/export.xlsx", query_string={"workflow": SCHOOL})
    assert resp.status_code == 200
    assert resp.mimetype == ("application/vnd.openxmlformats-officedocument"
                             ".spreadsheetml.sheet")
    book_ = openpyxl.load_workbook(io.BytesIO(resp.get_data()))
    sheet = book_.active
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    assert header[0] == "ケースID" and "児童・生徒の氏名" in header
    assert len(rows) == 3
    by_name = {r[header.index("児童・生徒の氏名")].value: r for r in rows[1:]}
    assert set(by_name) == {"山田 太郎", "佐藤 次郎"}
    message = by_name["山田 太郎"][header.index("学校への連絡事項")]
    assert message.value == "=1+1" and message.data_type == "s"  # text, never a formula
    sent = by_name["山田 太郎"][header.index("送信日時")].value
    assert isinstance(sent, datetime) and sent.hour == 10  # 01:00 UTC is 10:00 in Japan
    assert sheet.column_dimensions["D"].width >= 20


def test_json_keeps_codes_and_stable_keys_with_the_labels_beside(
        app: Any, client: Any, make_staff: Any, auth: Any) -> None:
    school_staff(make_staff)
    notice(app.test_client())
    auth.login("domyoji@example.jp")
    data = client.get("/staff/cases/export.json",
                      query_string={"workflow": SCHOOL}).get_json()
    (case,) = data["cases"]
    assert set(case) == {*export.FIXED, "answers"}
    assert case["workflow"] == SCHOOL and case["group"] == "domyoji-e"
    assert case["processing"] == "received" and case["state"] == "active"
    assert case["created_at"].endswith("+09:00")
    assert case["answers"]["notice"]["school"] == "domyoji-e"
    assert case["answers"]["notice"]["kind"] == "absent"
    assert data["labels"][SCHOOL]["notice.kind"] == "連絡の種類"
    assert data["choices"][SCHOOL]["notice.kind"]["absent"] == "欠席"
    assert data["next"] is None


def test_exports_list_exactly_what_the_inbox_query_lists(
        app: Any, client: Any, make_staff: Any, auth: Any, token: Any) -> None:
    staff = school_staff(make_staff, groups=("domyoji-e", "fujiidera-e"))
    headers = token("domyoji@example.jp")
    citizen = app.test_client()
    notice(citizen)
    notice(citizen, school="fujiidera-e", child_name="佐藤 次郎", child_kana="さとう じろう")
    app.config["CLOCK"].advance(days=1)
    notice(citizen, kind="early", time="13:00", child_name="鈴木 三郎",
           child_kana="すずき さぶろう")
    with app.app_context():
        first = db.session.scalars(select(Case).order_by(Case.id)).first()
        assert first is not None
        first.assignee_id = staff.id
        first.state = "completed"
        db.session.commit()
    auth.login("domyoji@example.jp")
    for args in ({}, {"group": "fujiidera-e"}, {"state": "completed"},
                 {"state": "active"}, {"assigned": "me"}, {"assigned": "none"},
                 {"submitted_from": "2026-12-02"}, {"submitted_to": "2026-12-01"},
                 {"q": "サトウ"}, {"processing": "received", "q": "すずき"}):
        with app.app_context():
            user = db.session.get(StaffUser, staff.id)
            expected = [c.id for c in db.session.scalars(inbox.query(user, inbox.parse_filters(
                args, workflows=[SCHOOL], groups=["domyoji-e", "fujiidera-e"])))]
        page = client.get("/staff/cases/export.json", query_string=args).get_json()
        assert [c["case_id"] for c in page["cases"]] == expected, args
        rows = csv_rows(client.get("/staff/cases/export.csv", query_string=args))[1:]
        assert [int(r[0]) for r in rows] == expected, args
        api = client.get("/api/v1/cases", query_string=args, headers=headers).get_json()
        assert [c["case_id"] for c in api["cases"]] == expected, args
    assert len(case_ids(app)) == 3


def test_a_long_export_is_read_in_batches_without_gaps_or_repeats(
        app: Any, client: Any, make_staff: Any, auth: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "BATCH", 2)
    school_staff(make_staff)
    citizen = app.test_client()
    for i in range(5):
        notice(citizen, child_name=f"児童 {i}")
    auth.login("domyoji@example.jp")
    rows = csv_rows(client.get("/staff/cases/export.csv"))[1:]
    assert sorted(int(r[0]) for r in rows) == case_ids(app)


def test_unknown_filter_values_are_refused_with_a_message_naming_them(
        app: Any, client: Any, make_staff: Any, auth: Any, bearer: Any) -> None:
    headers = bearer("api@example.jp", workflows=(SCHOOL,), counters=(),
                     groups=("domyoji-e",))
    for args, name in (({"state": "bogus"}, "state"), ({"processing": "done"}, "processing"),
                       ({"group": "no-such-school"}, "group"), ({"assigned": "you"}, "assigned"),
                       ({"format": "xml"}, "format")):
        resp = client.get("/api/v1/cases", query_string=args, headers=headers)
        assert resp.status_code == 400, args
        error = resp.get_json()["error"]
        assert error["code"] == "unknown_value" and f"「{name}」" in error["message"]
        assert name in error["fields"]
    for args in ({"visit_from": "2026-13-01"}, {"date": "20261201"},
                 {"visit_to": "9999-12-31"}, {"date": "2026-12-01", "visit_to": "2026-12-02"},
                 {"stat": "active"}, {"state": ""}, {"after": "bm90IGEgY3Vyc29y"}):
        resp = client.get("/api/v1/cases", query_string=args, headers=headers)
        assert resp.status_code == 422, args
    school_staff(make_staff)
    auth.login("domyoji@example.jp")
    for fmt in ("csv", "xlsx", "json"):
        resp = client.get(f"/staff/cases/export.{fmt}", query_string={"state": "bogus"})
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400 and "「state」" in html and "<strong>state</strong>" in html
    assert client.get("/staff/cases/export.csv",
                      query_string={"q": "a\x00b"}).status_code == 400


def test_staff_of_another_workflow_counter_or_group_export_none_of_the_cases(
        app: Any, client: Any, make_staff: Any, auth: Any, bearer: Any) -> None:
    citizen = app.test_client()
    notice(citizen)
    book(citizen)
    with app.app_context():
        references = list(db.session.scalars(select(Case.reference)))
    others = {
        "other-workflow@example.jp": {"workflows": ("inu-shibou",),
                                      "groups": ("kankyo-eisei", "domyoji-e")},
        "other-counter@example.jp": {"workflows": ("boshi-techo",), "counters": ("desk-b",)},
        "other-school@example.jp": {"workflows": (SCHOOL,), "groups": ("fujiidera-e",)},
    }
    for email, scope in others.items():
        headers = bearer(email, **{"counters": (), **scope})
        for fmt in ("json", "csv", "xlsx"):
            resp = client.get("/api/v1/cases", query_string={"format": fmt}, headers=headers)
            assert resp.status_code == 200, (email, fmt)
            if fmt == "json":
                assert resp.get_json()["cases"] == [], email
            elif fmt == "csv":
                assert len(csv_rows(resp)) == 1, email  # the header alone
            else:
                sheet = openpyxl.load_workbook(io.BytesIO(resp.get_data())).active
                assert sheet.max_row == 1, email
        page = app.test_client()
        type(auth)(page).login(email)
        for fmt in ("csv", "json"):
            body = page.get(f"/staff/cases/export.{fmt}").get_data(as_text=True)
            assert "山田" not in body, (email, fmt)
            assert not [r for r in references if r in body], (email, fmt)
    # A workflow they do not serve: 403 from the API (404 for one that does not exist), 400
    # from the inbox's export as from the inbox page itself.
    other = bearer("counter-only@example.jp", workflows=("inu-shibou",))
    assert client.get("/api/v1/cases", query_string={"workflow": SCHOOL},
                      headers=other).status_code == 403
    assert client.get("/api/v1/cases", query_string={"workflow": "nope"},
                      headers=other).status_code == 404
    page = app.test_client()
    type(auth)(page).login("other-workflow@example.jp")
    assert page.get("/staff/cases/export.csv",
                    query_string={"workflow": SCHOOL}).status_code == 400
    # ... and the staff who serve them see both.
    headers = bearer("admin@example.jp", role="admin")
    assert len(client.get("/api/v1/cases", headers=headers).get_json()["cases"]) == 2


def test_api_lists_form_only_cases_without_a_date_and_pages_by_cursor(
        app: Any, client: Any, bearer: Any) -> None:
    headers = bearer("admin@example.jp", role="admin")
    citizen = app.test_client()
    booked = book(citizen)
    for i in range(3):
        notice(citizen, child_name=f"児童 {i}")
    seen: list[int] = []
    after = None
    while True:
        args = {"limit": "2", **({"after": after} if after else {})}
        page = client.get("/api/v1/cases", query_string=args, headers=headers).get_json()
        seen += [c["case_id"] for c in page["cases"]]
        after = page["next"]
        if after is None:
            break
    assert sorted(seen) == case_ids(app) and len(seen) == 4
    assert seen == sorted(seen, reverse=True)  # newest first
    # The day's bookings, as before: `date` is the visit day.
    day = client.get("/api/v1/cases", query_string={"date": "2026-12-01"},
                     headers=headers).get_json()["cases"]
    assert [c["case_id"] for c in day] == [booked]
    assert day[0]["counter"] == "hoken-center" and day[0]["booking_status"] == "confirmed"


def test_an_export_of_several_workflows_has_one_answers_column(
        app: Any, client: Any, bearer: Any) -> None:
    headers = bearer("admin@example.jp", role="admin")
    citizen = app.test_client()
    book(citizen)
    notice(citizen)
    resp = client.get("/api/v1/cases", headers={**headers, "Accept": "text/csv"})
    assert resp.mimetype == "text/csv"
    header, *rows = csv_rows(resp)
    assert header[-1] == "回答内容" and len(rows) == 2
    answers = {r[2]: r[-1] for r in rows}
    assert "お名前: 山田 花子" in answers["boshi-techo"].splitlines()
    assert "学校: 道明寺小学校" in answers[SCHOOL].splitlines()


def test_an_export_is_logged_without_personal_data(
        app: Any, client: Any, make_staff: Any, auth: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    staff = school_staff(make_staff)
    notice(app.test_client())
    auth.login("domyoji@example.jp")
    with caplog.at_level(logging.INFO):
        rows = csv_rows(client.get("/staff/cases/export.csv", query_string={"q": "山田"}))
    lines = [r.getMessage() for r in caplog.records if "cases_exported" in r.getMessage()]
    assert len(rows) == 2 and len(lines) == 1
    assert f"'staff_id': {staff.id}" in lines[0] and "'rows': 1" in lines[0]
    assert "山田" not in lines[0] and "'q': True" in lines[0]


def test_the_inbox_links_to_the_exports_with_its_filters(
        app: Any, client: Any, make_staff: Any, auth: Any) -> None:
    school_staff(make_staff)
    auth.login("domyoji@example.jp")
    html = client.get("/staff/cases", query_string={
        "workflow": SCHOOL, "state": "active", "q": "山田"}).get_data(as_text=True)
    for fmt in ("csv", "xlsx", "json"):
        assert f'href="/staff/cases/export.{fmt}?' in html, fmt
    link = html[html.index('href="/staff/cases/export.csv?') + 6:]
    link = link[:link.index('"')].replace("&amp;", "&")
    assert "workflow=kesseki-todoke" in link and "state=active" in link
    notice(app.test_client())
    notice(app.test_client(), child_name="佐藤 次郎", child_kana="さとう じろう",
           guardian_name="佐藤 一郎")
    rows = csv_rows(client.get(link))[1:]
    assert len(rows) == 1
