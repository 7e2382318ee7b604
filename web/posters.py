"""Posters: ``/p/<code>`` counts a scan and leads into the workflow's first step; cases started
from there remember the poster. Staff create posters, print them, and see what they did.

Counting on GET is deliberate: the poster is read by phone cameras, not by mail scanners, and
the count is a statistic, not anyone's data."""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from engine import posters
from engine.models import Poster
from engine.steps.checkin.tickets import png, svg
from web import messages, parts
from web.context import actor, api_request, catalog, external_url, now
from web.errors import field_messages
from web.extensions import db
from web.public import entry_url

bp = Blueprint("posters", __name__)
messages.register({"unknown_poster": _l("This QR code is no longer in use.")})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    parts.of(app).menu_entry(30, "posters.index", _l("Posters"))


@bp.before_app_request
def _origin() -> None:
    """Cases started in this visit are attributed to the poster the citizen came from. The
    JSON API never reads the session cookie (its calls are no visit), nor do static files."""
    if api_request() or request.endpoint == "static":
        return
    origin = session.get("origin")
    if origin:
        db.session.info["origin"] = origin


@bp.get("/p/<code>")
def scan(code: str) -> Response:
    poster = posters.scan(db.session, code)
    spec = catalog().specs.get(poster.workflow_id)
    target = entry_url(spec) if spec else None
    if target is None:
        abort(404)
    db.session.commit()
    session["origin"] = {"poster_id": poster.id, "workflow_id": poster.workflow_id}
    return redirect(target)  # type: ignore[return-value]


def _poster(poster_id: int) -> Poster:
    poster = db.session.get(Poster, poster_id)
    if poster is None or not current_user.serves_workflow(poster.workflow_id):
        abort(404)
    return poster


@bp.route("/staff/posters", methods=["GET", "POST"])
@login_required
def index() -> Response | tuple[str, int] | str:
    errors: dict[str, str] = {}
    if request.method == "POST":
        workflow_id = request.form.get("workflow", "")
        if not current_user.serves_workflow(workflow_id):
            errors["workflow"] = messages.field_message("invalid_choice")
        else:
            try:
                poster = posters.create(db.session, catalog(), workflow_id=workflow_id,
                                        label=request.form.get("label", ""), actor=actor(),
                                        now=now())
            except posters.Invalid as exc:
                db.session.rollback()
                errors = field_messages(exc.fields)
            else:
                db.session.commit()
                flash(_l("Poster created. Print it and put it up."), "success")
                return redirect(url_for("posters.show", poster_id=poster.id))  # type: ignore[return-value]
    served = [s for s in sorted(catalog(), key=lambda s: s.id)
              if current_user.serves_workflow(s.id) and entry_url(s)]
    rows = posters.stats(db.session, [s.id for s in served])
    titles = {s.id: s.title for s in served}
    page = render_template("posters/index.html", rows=rows, specs=served, titles=titles,
                           errors=errors, form=request.form)
    return (page, 422) if errors else page


@bp.get("/staff/posters/<int:poster_id>")
@login_required
def show(poster_id: int) -> str:
    poster = _poster(poster_id)
    spec = catalog().specs.get(poster.workflow_id)
    url = external_url("posters.scan", code=poster.code)
    title = spec.title if spec else None
    return render_template("posters/show.html", poster=poster, url=url, title=title,
                           qr=svg(url, label=str(_l("QR code for %(url)s", url=url))))


@bp.get("/staff/posters/<int:poster_id>/qr.png")
@login_required
def qr_png(poster_id: int) -> Response:
    poster = _poster(poster_id)
    data = png(external_url("posters.scan", code=poster.code), box_size=16)
    return Response(data, mimetype="image/png", headers={
        "Content-Disposition": f'attachment; filename="poster-{poster.code}.png"'})
