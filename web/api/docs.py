"""The API reference page: Swagger UI over /api/v1/openapi.json, served by the app itself.

Swagger UI's files come from the flask-swagger-ui package (its ``dist`` folder: the
upstream release, with its licence), so the page loads nothing from another site and
passes the pages' Content-Security-Policy; its start-up is web/static/api-docs.js."""

from __future__ import annotations

from importlib.resources import files

from flask import Blueprint, Flask, abort, render_template, send_from_directory
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from web import parts

bp = Blueprint("apidocs", __name__, url_prefix="/api/docs", template_folder="templates")

DIST = str(files("flask_swagger_ui") / "dist")
ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "VERSION"})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    parts.of(app).menu_entry(80, "apidocs.page", _l("API reference"))


@bp.get("/")
def page() -> ResponseReturnValue:
    """The reference of the JSON API, for anyone (the document it shows is public)."""
    return render_template("api/docs.html")


@bp.get("/assets/<name>")
def asset(name: str) -> ResponseReturnValue:
    if name not in ASSETS:
        abort(404)
    return send_from_directory(DIST, name, max_age=86400)
