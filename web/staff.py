"""The staff area: the live workflows, and the navigation other parts add their pages to."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import func, select

from engine.models import Case
from web.context import catalog
from web.extensions import db

bp = Blueprint("staff", __name__, url_prefix="/staff")

# (endpoint, label) of staff pages, in menu order; parts of the app append theirs.
NAV: list[tuple[str, Any]] = [("staff.index", _l("Workflows"))]

F = TypeVar("F", bound=Callable[..., Any])


def admin_required(view: F) -> F:
    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user.role != "admin":
            abort(403)
        return view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


@bp.app_context_processor
def staff_nav() -> dict[str, object]:
    return {"staff_nav": NAV}


@bp.get("/")
@login_required
def index() -> str:
    counts = dict(db.session.execute(
        select(Case.workflow_id, func.count()).where(Case.state == "active")
        .group_by(Case.workflow_id)).all())
    specs = [s for s in sorted(catalog(), key=lambda s: s.id)
             if current_user.serves_workflow(s.id)]
    return render_template("staff/index.html", specs=specs, counts=counts)
