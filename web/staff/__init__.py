"""The staff area: the live workflows, a case's staff page (with the panels the step types
add) and the navigation other parts add their pages to (``web.parts``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Flask, abort, render_template
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import func, select

from engine import access
from engine.fields import to_wareki
from engine.models import Case, CaseEvent
from web import parts
from web.context import catalog
from web.extensions import db
from web.i18n import current_locale, local

bp = Blueprint("staff", __name__, url_prefix="/staff")


F = TypeVar("F", bound=Callable[..., Any])


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    parts.of(app).menu_entry(0, "staff.index", _l("Workflows"))


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
    return {"staff_nav": parts.of().nav}


@bp.app_template_filter("answer")
def answer_text(value: Any, field: Any = None) -> str:
    """An answer as staff read it: choice labels, はい/いいえ, dates in 和暦 (and 西暦)."""
    loc = current_locale()
    kind = getattr(field, "type", None)
    values = value if isinstance(value, list) else [value]
    if kind in ("choice", "select", "multichoice"):
        labels = {c.value: c.label.get(loc) for c in field.choices}
        values = [labels.get(str(v), v) for v in values]
    elif kind == "yesno":
        values = [gettext("Yes") if v == "yes" else gettext("No") for v in values]
    elif kind == "consent":
        values = [gettext("Agreed") if v else gettext("Not agreed") for v in values]
    elif kind == "date" and isinstance(value, str):
        try:
            day = date.fromisoformat(value)
            values = [f"{to_wareki(day)}（{value}）" if loc == "ja" else value]
        except ValueError:
            pass
    elif isinstance(value, str) and len(value) >= 19 and value[10] == "T":
        try:
            values = [local(datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M")]
        except ValueError:
            pass
    return "、".join(str(v) for v in values if v is not None)


@bp.get("/")
@login_required
def index() -> str:
    counts = dict(db.session.execute(
        select(Case.workflow_id, func.count()).where(Case.state == "active")
        .group_by(Case.workflow_id)).all())
    specs = [s for s in sorted(catalog(), key=lambda s: s.id)
             if current_user.serves_workflow(s.id)]
    return render_template("staff/index.html", specs=specs, counts=counts)


def case_for_staff(case_id: int) -> Case:
    """The case, if the signed-in staff member may see it (``engine.access``: its workflow,
    routing group and counters); 404 otherwise, so others learn nothing about it."""
    case = db.session.get(Case, case_id)
    if case is None or not access.sees(db.session, current_user, case):
        abort(404)
    return case


@bp.get("/cases/<int:case_id>")
@login_required
def case(case_id: int) -> str:
    case = case_for_staff(case_id)
    spec = catalog().for_case(db.session, case.workflow_id, case.workflow_version)
    events = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                .order_by(CaseEvent.id)).all()
    return render_template("staff/case.html", case=case, spec=spec, events=events,
                           panels=parts.of().case_panels)
