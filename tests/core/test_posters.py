"""A poster's QR code leads into its workflow; scans and the cases they start are counted."""

from __future__ import annotations

import io
import re

import zxingcpp
from PIL import Image
from sqlalchemy import select

from engine.models import Case, CaseEvent, Poster
from web.extensions import db


def _create(client, workflow="kesseki-todoke", label="市役所1階 掲示板"):
    return client.post("/staff/posters", data={"workflow": workflow, "label": label})


def _poster_code(app, client, auth, make_staff):
    """An admin creates the absence-notice poster; its code."""
    make_staff(role="admin")
    auth.login()
    _create(client)
    with app.app_context():
        return db.session.scalar(select(Poster.code))


def test_staff_create_a_poster_and_its_qr_code_scans_to_its_address(app, client, auth,
                                                                    make_staff):
    make_staff(role="admin")
    auth.login()
    resp = _create(client)
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    url = re.search(r"<code>(http://localhost/p/[a-z2-9]{8})</code>", page).group(1)
    assert "<svg" in page and "欠席・遅刻・早退の連絡" in page
    png = client.get(resp.headers["Location"] + "/qr.png")
    assert png.mimetype == "image/png"
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    assert decoded.text == url


def test_scans_and_started_cases_are_counted(app, client, auth, make_staff):
    code = _poster_code(app, client, auth, make_staff)
    citizen = app.test_client()
    first = citizen.get(f"/p/{code}")
    assert first.status_code == 302 and first.headers["Location"] == "/forms/kesseki-todoke"
    app.test_client().get(f"/p/{code.upper()}")  # another phone; upper case still works
    # The citizen saves the form: the case remembers the poster.
    saved = citizen.post("/forms/kesseki-todoke", data={"action": "save",
                                                        "child_name": "藤井 太郎"})
    assert saved.status_code in (302, 303), saved.get_data(as_text=True)[:500]
    # Someone who did not come from the poster is not counted.
    app.test_client().post("/forms/kesseki-todoke", data={"action": "save",
                                                          "child_name": "道明 花子"})
    with app.app_context():
        poster = db.session.scalar(select(Poster))
        assert poster.scans == 2
        cases = db.session.scalars(select(Case).order_by(Case.id)).all()
        assert [c.poster_id for c in cases] == [poster.id, None]
        started = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == cases[0].id,
                                                            CaseEvent.event == "started"))
        assert started.detail["poster_id"] == poster.id
    listing = client.get("/staff/posters").get_data(as_text=True)
    row = re.search(r"市役所1階 掲示板</a></th>.*?<td>(\d+)</td>\s*<td>(\d+)</td>", listing,
                    re.S)
    assert row.groups() == ("2", "1")


def test_api_calls_are_not_a_posters_visit(app, client, auth, make_staff):
    """The poster a browser came from lives in its session cookie, which the JSON API never
    reads: a case started through the API is not attributed to the poster."""
    from tests.form.test_forms import NOTICE

    code = _poster_code(app, client, auth, make_staff)
    citizen = app.test_client()
    assert citizen.get(f"/p/{code}").status_code == 302
    resp = citizen.post("/api/v1/workflows/kesseki-todoke/cases", json={"answers": NOTICE})
    assert resp.status_code == 201, resp.get_json()
    with app.app_context():
        assert db.session.scalar(select(Case.poster_id)) is None


def test_unknown_poster_code(client):
    resp = client.get("/p/nosuchcd")
    assert resp.status_code == 404
    assert "このQRコードは現在使われていません" in resp.get_data(as_text=True)


def test_bad_poster_input_changes_nothing(app, client, auth, make_staff):
    make_staff(role="staff", workflows=("boshi-techo",))
    auth.login()
    resp = _create(client, workflow="boshi-techo", label="   ")
    assert resp.status_code == 422 and "この項目は必須です" in resp.get_data(as_text=True)
    resp = _create(client, workflow="kesseki-todoke")  # a workflow this person does not serve
    assert resp.status_code == 422
    with app.app_context():
        assert db.session.scalars(select(Poster)).all() == []


def test_posters_need_sign_in(client):
    assert client.get("/staff/posters").status_code == 302
