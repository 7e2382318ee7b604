"""Pages anyone may see: the list of procedures, the language switch, a health check."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, render_template, request, session, url_for
from sqlalchemy import text
from werkzeug.routing import BuildError

from engine.spec import WorkflowSpec
from web.context import catalog
from web.extensions import db
from web.i18n import LOCALES

bp = Blueprint("public", __name__)


def entry_url(spec: WorkflowSpec) -> str | None:
    """Where a citizen starts this workflow: the page of its first step's type."""
    first = spec.steps[0]
    try:
        return url_for(f"{first.type}.start", workflow=spec.id)
    except BuildError:
        return None


@bp.app_context_processor
def helpers() -> dict[str, object]:
    return {"entry_url": entry_url}


@bp.get("/")
def index() -> str:
    specs = sorted(catalog(), key=lambda s: s.id)
    return render_template("public/index.html", specs=specs)


@bp.get("/lang/<code>")
def switch_language(code: str) -> Response:
    """Choosing a language is remembered in the session; it changes no data."""
    if code in LOCALES:
        session["lang"] = code
    target = request.args.get("next", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    return redirect(target)  # type: ignore[return-value]


@bp.get("/healthz")
def health() -> Response:
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok", "workflows": len(catalog().specs)})
