"""The check-in pages and API through HTTP: the ticket page and its QR, the scanner without
JavaScript, the API's status per reason, garbage scans, roles, and the case history."""

from __future__ import annotations

import io
import secrets
from datetime import timedelta
from typing import Any

import PIL.Image
import pytest
import zxingcpp
from sqlalchemy import func, select

from engine import tokens
from engine.models import CheckIn
from tests.checkin.support import VISIT, at, events, make_ticket, submit_form
from web.extensions import db


@pytest.fixture
def bearer(app: Any, make_staff: Any, runner: Any) -> Any:
    def make(email: str = "api@example.jp", **kw: Any) -> dict[str, str]:
        make_staff(email, **kw)
        out = runner.invoke(args=["staff", "token", email])
        assert out.exit_code == 0, out.output
        return {"Authorization": f"Bearer {out.output.strip().splitlines()[-1]}"}
    return make


def checkin_count(app: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(CheckIn)))


def test_ticket_page_shows_qr_booking_and_questionnaire(app: Any, client: Any) -> None:
    ticket = make_ticket(app)
    page = client.get(f"/t/{ticket.token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<svg role="img" class="qr"' in html and "山田 花子" in html
    assert "2027-03-10 10:00" in html and "まだ回答されていません" in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    submit_form(app, ticket.case_id)
    assert "回答済み" in client.get(f"/t/{ticket.token}").get_data(as_text=True)


def test_ticket_png_decodes_and_checks_in_through_the_api(app: Any, client: Any,
                                                           bearer: Any) -> None:
    headers = bearer()
    ticket = make_ticket(app)
    png = client.get(f"/t/{ticket.token}/qr.png")
    assert png.mimetype == "image/png"
    decoded = zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(png.data)))[0].text
    assert decoded == ticket.token
    at(app, VISIT)
    resp = client.post("/api/v1/checkins", json={"payload": decoded, "nonce": "abc"},
                       headers=headers)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["reason"] == "ok" and body["name"] == "山田 花子" and body["queue_number"] == 1
    again = client.post("/api/v1/checkins", json={"payload": decoded}, headers=headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_checked_in"
    assert again.get_json()["checkin"]["first_at"] == body["at"]
    replay = client.post("/api/v1/checkins", json={"payload": decoded, "nonce": "abc"},
                         headers=headers)
    assert replay.status_code == 200 and replay.get_json()["replayed"] is True
    assert checkin_count(app) == 2


def test_api_refuses_a_nonce_reused_for_another_ticket(app: Any, client: Any,
                                                        bearer: Any) -> None:
    headers = bearer()
    first, other = make_ticket(app), make_ticket(app, name="佐藤 一郎")
    at(app, VISIT)
    ok = client.post("/api/v1/checkins", json={"payload": first.token, "nonce": "abc"},
                     headers=headers)
    assert ok.status_code == 200
    reused = client.post("/api/v1/checkins", json={"payload": other.token, "nonce": "abc"},
                         headers=headers)
    assert reused.status_code == 409, reused.get_json()
    error = reused.get_json()["error"]
    assert error["code"] == "nonce_reused" and "使用済み" in error["message"]
    assert "checkin" not in reused.get_json()  # nothing of the first scan leaks
    assert checkin_count(app) == 1


def test_scanner_page_refuses_a_nonce_reused_for_another_ticket(app: Any, client: Any,
                                                                auth: Any,
                                                                make_staff: Any) -> None:
    make_staff("desk@example.jp")
    first, other = make_ticket(app), make_ticket(app, name="佐藤 一郎")
    auth.login("desk@example.jp")
    at(app, VISIT)
    assert client.post("/staff/checkin", data={"payload": first.token,
                                               "nonce": "n1"}).status_code == 200
    page = client.post("/staff/checkin", data={"payload": other.token, "nonce": "n1"})
    html = page.get_data(as_text=True)
    assert page.status_code == 409 and "別の読み取りで使用済み" in html
    assert "受付しました" not in html and "佐藤 一郎" not in html and "山田 花子" not in html
    fragment = client.post("/staff/checkin", data={"payload": other.token, "nonce": "n1"},
                           headers={"X-Requested-With": "fetch"})
    assert fragment.status_code == 200 and 'data-reason="nonce_reused"' in fragment.get_data(
        as_text=True)
    assert checkin_count(app) == 1


def test_ticket_links_are_registered(app: Any) -> None:
    from web import parts

    kinds = parts.of(app).link_kinds
    assert kinds["ticket"].purpose == kinds["qr"].purpose == "ticket"
    ticket = make_ticket(app)
    with app.test_request_context():
        from engine.models import Case
        from web.links import link

        url = link(db.session.get(Case, ticket.case_id), "qr")
        db.session.commit()
    assert url.startswith("http://localhost/t/") and url.endswith("/qr.png")


def test_forged_ticket_page_is_404(client: Any) -> None:
    assert client.get("/t/NOTATOKEN").status_code == 404
    assert client.get("/t/" + "A" * 35 + "/qr.png").status_code == 404


@pytest.mark.parametrize(("make", "code", "status"), [
    ("forged", "forged", 404), ("unknown", "unknown", 404), ("cancelled", "cancelled", 410),
    ("wrong_day", "wrong_day", 422), ("wrong_counter", "wrong_counter", 403),
])
def test_api_reason_codes(app: Any, client: Any, bearer: Any, make: str, code: str,
                          status: int) -> None:
    headers = bearer(counters=("hoken-center", "shimin-ka"))
    ticket = make_ticket(app, status="cancelled" if make == "cancelled" else "confirmed")
    payload, counter = ticket.token, None
    at(app, VISIT + (timedelta(days=2) if make == "wrong_day" else timedelta(0)))
    if make == "forged":
        payload = ticket.token[:-2] + "ZZ" if not ticket.token.endswith("ZZ") else "Y" * 35
    if make == "unknown":
        with app.app_context():
            from web.context import token_key
            payload = tokens.make(token_key(), "ticket")
    if make == "wrong_counter":
        counter = "shimin-ka"
    resp = client.post("/api/v1/checkins", json={"payload": payload, "counter": counter},
                       headers=headers)
    assert resp.status_code == status
    assert resp.get_json()["error"]["code"] == code
    assert checkin_count(app) == 1  # the audit row survived the error answer


GARBAGE = {
    "other-site-url": "https://evil.example.com/t/ABCDEFGHJKMNPQRSTUVWXYZ2345678ABCDEFGH",
    "truncated": "ABCDEFGHJKMNPQ",
    "noise-4kb": secrets.token_urlsafe(3072)[:4096],
    "control-chars": "\x00\x01\x1b[31m\u202e",
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_scans_never_500(app: Any, client: Any, bearer: Any, auth: Any,
                                 make_staff: Any, name: str) -> None:
    headers = bearer()
    resp = client.post("/api/v1/checkins", json={"payload": GARBAGE[name]}, headers=headers)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "forged"
    make_staff("desk@example.jp")
    auth.login("desk@example.jp")
    page = client.post("/staff/checkin", data={"payload": GARBAGE[name], "nonce": name})
    assert page.status_code == 422
    assert "この役所の受付票ではありません" in page.get_data(as_text=True)
    assert checkin_count(app) == 2


def test_other_instance_code_is_forged(app: Any, client: Any, bearer: Any) -> None:
    other = tokens.make(tokens.derive_key("another city " * 4), "ticket")
    resp = client.post("/api/v1/checkins", json={"payload": other}, headers=bearer())
    assert resp.get_json()["error"]["code"] == "forged"


def test_api_needs_a_staff_token(client: Any) -> None:
    assert client.post("/api/v1/checkins", json={"payload": "X"}).status_code == 401
    assert client.get("/api/v1/cases?workflow=boshi-techo&date=2027-03-10").status_code == 401


def test_api_rejects_bad_body_with_422(client: Any, bearer: Any) -> None:
    resp = client.post("/api/v1/checkins", json={"nonce": "x"}, headers=bearer())
    assert resp.status_code == 422 and resp.get_json()["error"]["fields"]["payload"]


def test_scanner_without_javascript_checks_in(app: Any, client: Any, auth: Any,
                                              make_staff: Any) -> None:
    staff = make_staff("desk@example.jp")
    ticket = make_ticket(app)
    auth.login("desk@example.jp")
    at(app, VISIT)
    page = client.get("/staff/checkin")
    assert 'autofocus' in page.get_data(as_text=True)
    # An IME left on turns the scan full-width; the scanner folds it back.
    wide = ticket.token.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    resp = client.post("/staff/checkin", data={"payload": wide, "nonce": "n1"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "受付しました" in html and "山田 花子" in html
    assert "未回答" in html  # questionnaire missing
    assert [e[:3] for e in events(app, ticket.case_id)][-1] == (
        "checkin", "checked_in", staff.actor)


def test_scanner_fetch_returns_the_result_fragment(app: Any, client: Any, auth: Any,
                                                   make_staff: Any) -> None:
    make_staff("desk@example.jp")
    auth.login("desk@example.jp")
    resp = client.post("/staff/checkin", data={"payload": "garbage"},
                       headers={"X-Requested-With": "fetch"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in html and 'data-reason="forged"' in html


def test_staff_of_another_counter_cannot_open_the_scanner_there(app: Any, client: Any,
                                                                auth: Any,
                                                                make_staff: Any) -> None:
    make_staff("other@example.jp", workflows=("x",), counters=("nowhere",))
    auth.login("other@example.jp")
    assert client.get("/staff/checkin").status_code == 403
    assert client.get("/staff/checkin/day?counter=hoken-center").status_code == 403
    assert client.get("/staff/checkin/queue?counter=hoken-center").status_code == 403


def test_export_json_and_csv(app: Any, client: Any, bearer: Any) -> None:
    headers = bearer()
    ticket = make_ticket(app, name="=HYPERLINK(1)")
    submit_form(app, ticket.case_id)
    at(app, VISIT - timedelta(hours=1))
    url = "/api/v1/cases?workflow=boshi-techo&date=2027-03-10"
    data = client.get(url, headers=headers).get_json()
    # The general export (web.staff.export): the day's case with its booking and answers.
    assert [(c["case_id"], c["booking_status"], c["answers"]["questionnaire"]["name"])
            for c in data["cases"]] == [(ticket.case_id, "confirmed", "山田 花子")]
    csv_resp = client.get(url + "&format=csv", headers=headers)
    text = csv_resp.get_data(as_text=True)
    assert csv_resp.mimetype == "text/csv" and text.startswith("\ufeffケースID,")
    assert "'=HYPERLINK(1)" in text
    assert client.get("/api/v1/cases?workflow=boshi-techo&date=2027-13-01",
                      headers=headers).status_code == 422
    assert client.get("/api/v1/cases?workflow=nope&date=2027-03-10",
                      headers=headers).status_code == 404


def test_export_refused_to_staff_of_other_workflows(app: Any, client: Any,
                                                     bearer: Any) -> None:
    headers = bearer(workflows=("other",))
    resp = client.get("/api/v1/cases?workflow=boshi-techo&date=2027-03-10", headers=headers)
    assert resp.status_code == 403


def test_openapi_lists_the_calls(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/checkins" in paths and "/api/v1/cases" in paths


def test_result_links_to_the_printed_document_and_case_page_lists_scans(
        app: Any, client: Any, auth: Any, make_staff: Any) -> None:
    make_staff("desk@example.jp")
    ticket = make_ticket(app)
    auth.login("desk@example.jp")
    at(app, VISIT)
    client.post("/staff/checkin", data={"payload": "garbage"})
    html = client.post("/staff/checkin", data={"payload": ticket.token}).get_data(as_text=True)
    assert f'href="/staff/cases/{ticket.case_id}/documents/notification.pdf"' in html
    client.post("/staff/checkin", data={"payload": ticket.token})
    page = client.get(f"/staff/cases/{ticket.case_id}").get_data(as_text=True)
    panel = page[page.index("窓口での読み取り"):]
    panel = panel[:panel.index("</section>")]
    # In words: the result, the counter's name and the staff member, never their codes.
    assert "受付済み" in panel and "既に受付済み" in panel and "保健センター" in panel
    assert "desk@example.jp" in panel
    assert "staff:" not in panel and "already_checked_in" not in panel


def test_hostile_nonce_and_counter_are_refused_cleanly(app: Any, client: Any, bearer: Any,
                                                       auth: Any, make_staff: Any) -> None:
    headers = bearer()
    for body in ({"payload": "X", "nonce": "a\x00b"}, {"payload": "X", "counter": "c\x00"},
                 {"payload": "X" * 9000}, {"payload": 12}):
        resp = client.post("/api/v1/checkins", json=body, headers=headers)
        assert resp.status_code == 422, (body, resp.status_code)
    make_staff("desk@example.jp")
    auth.login("desk@example.jp")
    page = client.post("/staff/checkin", data={"payload": "a\x00b", "nonce": "\x00" * 70})
    assert page.status_code == 422  # answered "forged", stored without the nonce
    assert checkin_count(app) == 1


def test_cancelled_booking_ticket_shows_no_qr(app: Any, client: Any) -> None:
    ticket = make_ticket(app, status="cancelled")
    html = client.get(f"/t/{ticket.token}").get_data(as_text=True)
    assert "この予約はキャンセルされています" in html and 'class="qr"' not in html


def test_two_counters_post_the_same_ticket_at_once_over_http(app: Any, bearer: Any) -> None:
    """Two scanners, two HTTP connections to a threaded server, one ticket: one 200, one
    409 that names the first check-in."""
    import threading

    import httpx

    from tests.services import LiveServer

    headers = bearer()
    ticket = make_ticket(app)
    at(app, VISIT)
    server = LiveServer(app)
    url = f"{server.url}/api/v1/checkins"
    barrier = threading.Barrier(2)
    answers: list[tuple[int, dict[str, Any]]] = []

    def scanner() -> None:
        with httpx.Client(timeout=30) as http:
            barrier.wait(10)
            resp = http.post(url, json={"payload": ticket.token}, headers=headers)
            answers.append((resp.status_code, resp.json()))

    try:
        workers = [threading.Thread(target=scanner) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
    finally:
        server.stop()
    assert sorted(code for code, _ in answers) == [200, 409]
    ok = next(body for code, body in answers if code == 200)
    late = next(body for code, body in answers if code == 409)
    assert late["checkin"]["first_at"] == ok["at"]
    assert checkin_count(app) == 2
