"""The web shell: languages, errors as {"error": {"code", "message", "fields"}}, security
headers, the API list."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.clock import app_now
from tests.conftest import ROOT


def test_language_switch_is_remembered(client):
    resp = client.get("/lang/en?next=/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    client.get("/lang/ja")
    assert '<html lang="ja">' in client.get("/").get_data(as_text=True)


def test_language_switch_refuses_open_redirect(client):
    assert client.get("/lang/en?next=https://evil.example/").headers["Location"] == "/"
    assert client.get("/lang/en?next=//evil.example/").headers["Location"] == "/"


def test_html_error_page_in_the_users_language(client):
    resp = client.get("/no/such/page")
    assert resp.status_code == 404
    assert "ページまたは項目が見つかりません" in resp.get_data(as_text=True)
    en = client.get("/no/such/page", headers={"Accept-Language": "en"})
    assert "The page or item was not found." in en.get_data(as_text=True)


def test_json_errors_have_a_stable_code(client):
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404
    assert resp.get_json() == {"error": {"code": "not_found",
                                         "message": "ページまたは項目が見つかりません。"}}


def test_staff_api_needs_a_bearer_token_not_a_cookie(make_app):
    from flask import Blueprint

    from web.api import staff_user

    probe = Blueprint("probe", __name__, url_prefix="/api/v1/_probe")
    probe.get("/")(lambda: {"email": staff_user().email})  # a staff-only call for this test
    app = make_app()
    app.register_blueprint(probe)
    client = app.test_client()
    with app.app_context():

        from engine import staff
        from web.extensions import db
        user = staff.create(db.session, "s@example.jp", role="staff",
                            password="correct horse battery staple", now=app_now(app))
        token = staff.issue_api_token(db.session, user, now=app_now(app))
        db.session.commit()
    client.post("/staff/login", data={"email": "s@example.jp",
                                      "password": "correct horse battery staple"})
    resp = client.get("/api/v1/_probe/")  # signed in with a cookie, but no bearer token
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    ok = app.test_client().get("/api/v1/_probe/", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.get_json() == {"email": "s@example.jp"}


def test_too_large_body_is_refused_cleanly(client):
    resp = client.post("/staff/login", data={"email": "x" * (2 * 1024 * 1024)})
    assert resp.status_code == 413
    assert "送信された内容が大きすぎます" in resp.get_data(as_text=True)


def test_security_headers(client):
    resp = client.get("/")
    h = resp.headers
    assert "default-src 'self'" in h["Content-Security-Policy"]
    assert "object-src 'none'" in h["Content-Security-Policy"]
    assert h["Referrer-Policy"] == "no-referrer"
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert "camera=(self)" in h["Permissions-Policy"]


def test_json_responses_get_the_api_security_headers(client):
    h = client.get("/api/v1/workflows").headers
    assert h["Content-Type"].startswith("application/json")
    assert h["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "Permissions-Policy" not in h
    assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "DENY"
    assert h["Cache-Control"] == "no-store" and h["Referrer-Policy"] == "no-referrer"


def test_security_headers_over_https_for_static_files_and_a_views_own(make_app):
    """HSTS only under an https BASE_URL; static files may be cached; a header the view set
    itself is kept, not doubled."""
    from flask import Response

    plain = make_app().test_client().get("/")
    assert "Strict-Transport-Security" not in plain.headers
    app = make_app(BASE_URL="https://madoguchi.example.jp")

    @app.get("/own-policy")
    def own_policy() -> Response:
        resp = Response("x", mimetype="text/html")
        resp.headers["Content-Security-Policy"] = "sandbox"
        resp.headers["Cache-Control"] = "private, max-age=60"
        return resp

    client = app.test_client()
    h = client.get("/").headers
    assert h["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    static = client.get("/static/app.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    assert static.headers["X-Content-Type-Options"] == "nosniff"
    own = client.get("/own-policy").headers
    assert own.getlist("Content-Security-Policy") == ["sandbox"]
    assert own.getlist("Cache-Control") == ["private, max-age=60"]
    assert own["X-Frame-Options"] == "DENY" and "Strict-Transport-Security" in own


def test_api_lists_workflows_and_serves_openapi(client):
    data = client.get("/api/v1/workflows").get_json()
    flagship = next(w for w in data["workflows"] if w["id"] == "boshi-techo")
    assert flagship["steps"][0] == {"id": "visit", "type": "booking"}
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.") and "/api/v1/workflows" in doc["paths"]


def test_health(client):
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_engine_never_imports_flask():
    offenders = []
    for path in (ROOT / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.split(".")[0].startswith("flask") or n.split(".")[0] == "web"]
    assert offenders == []


def test_every_string_has_a_japanese_translation():
    from web.i18n import missing

    assert missing("ja") == [], "run `flask --app wsgi i18n-missing` and translate these"


def test_no_workflow_lacks_a_golden_path():
    for yaml_file in Path(ROOT / "workflows").glob("*.yaml"):
        assert yaml_file.with_suffix(".path").exists(), yaml_file.name


def test_a_message_has_one_translation_across_catalogues():
    """Catalogues are merged; the same msgid translated twice would show either at random.
    Use distinct msgids (or pgettext) where a word means different things."""
    from babel.messages.pofile import read_po

    from web.i18n import TRANSLATIONS

    seen: dict[str, set[str]] = {}
    for po in TRANSLATIONS.glob("*/ja/LC_MESSAGES/messages.po"):
        with po.open("rb") as f:
            for message in read_po(f):
                if message.id and message.string:
                    seen.setdefault(str(message.id), set()).add(str(message.string))
    assert {k: v for k, v in seen.items() if len(v) > 1} == {}
