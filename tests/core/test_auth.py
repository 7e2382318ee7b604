"""Staff sign-in: argon2 hashes, CSRF on every form, clear errors that change nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.models import StaffUser
from tests.clock import app_now
from tests.conftest import PASSWORD, csrf_token
from web.extensions import db


def test_staff_pages_need_sign_in(client):
    resp = client.get("/staff/")
    assert resp.status_code == 302 and "/staff/login" in resp.headers["Location"]


def test_sign_in_and_out(client, auth, make_staff):
    make_staff()
    resp = auth.login()
    assert resp.status_code == 302 and resp.headers["Location"] == "/staff/"
    assert "公開中の手続き" in client.get("/staff/").get_data(as_text=True)
    auth.logout()
    assert client.get("/staff/").status_code == 302


def test_password_is_stored_as_argon2id(app, make_staff):
    make_staff()
    with app.app_context():
        user = db.session.scalar(select(StaffUser))
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


def test_bad_password_gets_a_clear_message_and_changes_nothing(app, client, auth, make_staff):
    make_staff()
    resp = auth.login(password="wrong password")
    assert resp.status_code == 422
    assert "メールアドレスまたはパスワードが正しくありません" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(StaffUser.last_login_at)) is None
    resp = auth.login(email="nobody@example.jp")
    assert "メールアドレスまたはパスワードが正しくありません" in resp.get_data(as_text=True)


def test_english_message(client, auth, make_staff):
    make_staff()
    client.get("/lang/en")
    assert "Email or password is incorrect." in auth.login(password="nope").get_data(
        as_text=True)


def test_missing_csrf_token_is_refused_with_a_clear_page(make_app, make_staff):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():

        from engine import staff
        staff.create(db.session, "a@example.jp", role="staff", password=PASSWORD,
                     now=app_now(app))
        db.session.commit()
    resp = client.post("/staff/login", data={"email": "a@example.jp", "password": PASSWORD})
    assert resp.status_code == 400
    assert "フォームの有効期限が切れたか" in resp.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302  # not signed in
    page = client.get("/staff/login").get_data(as_text=True)
    ok = client.post("/staff/login", data={"email": "a@example.jp", "password": PASSWORD,
                                           "csrf_token": csrf_token(page)})
    assert ok.status_code == 302


def test_expired_session_asks_to_sign_in_again(make_app):
    import time

    app = make_app(PERMANENT_SESSION_LIFETIME=timedelta(seconds=1))
    client = app.test_client()
    with app.app_context():

        from engine import staff
        staff.create(db.session, "a@example.jp", role="staff", password=PASSWORD,
                     now=app_now(app))
        db.session.commit()
    client.post("/staff/login", data={"email": "a@example.jp", "password": PASSWORD})
    assert client.get("/staff/").status_code == 200
    time.sleep(2.1)
    resp = client.get("/staff/", follow_redirects=True)
    assert "/staff/login" in resp.request.path
    assert "続けるにはサインインしてください" in resp.get_data(as_text=True)


def test_open_redirect_after_login_is_refused(client, auth, make_staff):
    make_staff()
    page = client.get("/staff/login?next=//evil.example/")
    assert page.status_code == 200
    resp = client.post("/staff/login?next=//evil.example/",
                       data={"email": "staff@example.jp", "password": PASSWORD})
    assert resp.headers["Location"] == "/staff/"


def test_staff_only_see_workflows_they_serve(client, auth, make_staff):
    make_staff(workflows=())
    auth.login()
    html = client.get("/staff/").get_data(as_text=True)
    assert "担当している手続きはありません" in html
