"""The staff area: the live workflows, a case's staff page (with the panels the step types
add) and the navigation other parts add their pages to (``web.parts``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import func, select

from engine import access, runtime
from engine.errors import Invalid
from engine.fields import to_wareki
from engine.models import Case, CaseEvent, CaseNote, StaffUser
from engine.spec import WorkflowSpec
from engine.steps.review import processing
from web import parts
from web.context import catalog, now
from web.environment import env
from web.errors import field_messages
from web.extensions import db
from web.i18n import current_locale, local

bp = Blueprint("staff", __name__, url_prefix="/staff")


F = TypeVar("F", bound=Callable[..., Any])


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    parts.of(app).menu_entry(0, "staff.cases", _l("Inbox"))
    parts.of(app).menu_entry(5, "staff.index", _l("Workflows"))


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
    user = current_user
    return {"staff_nav": parts.of().nav_for(user) if user and user.is_authenticated else []}


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
    """A case as staff act on it: its answers by section with their labels, the panels of its
    steps (processing, bookings, forms, documents, messages), its assignment and internal
    notes, and its history in words. Opening it is recorded: staff saw personal data."""
    case = case_for_staff(case_id)
    runtime.record(db.session, case, "viewed_by_staff", step=None, actor=current_user.actor,
                   now=now())
    db.session.commit()
    return render_case(case)


def render_case(case: Case, *, errors: dict[str, str] | None = None, status: int = 200,
                values: dict[str, str] | None = None) -> Any:
    spec = catalog().for_case(db.session, case.workflow_id, case.workflow_version)
    events = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                .order_by(CaseEvent.id)).all()
    notes = db.session.scalars(select(CaseNote).where(CaseNote.case_id == case.id)
                               .order_by(CaseNote.id)).all()
    staff = {u.id: u for u in db.session.scalars(select(StaffUser).where(StaffUser.id.in_(
        {n.staff_id for n in notes if n.staff_id} | ({case.assignee_id} - {None}))))}
    children = [c for c in db.session.scalars(select(Case).where(Case.parent_id == case.id)
                                              .order_by(Case.id))
                if access.sees(db.session, current_user, c)]
    parent = case.parent if case.parent is not None and access.sees(
        db.session, current_user, case.parent) else None
    group = processing.groups([spec]).get(case.group_id) if case.group_id else None
    html = render_template(
        "staff/case.html", case=case, spec=spec, events=events, notes=notes, staff=staff,
        sections=answer_sections(spec, case), parent=parent, children=children, group=group,
        colleagues=colleagues(case), panels=parts.of().case_panels, errors=errors or {},
        values=values or {})
    return Response(html, status=status, mimetype="text/html")


def answer_sections(spec: WorkflowSpec, case: Case) -> list[tuple[str, list[tuple[Any, Any]]]]:
    """(heading, [(field, answer)]) of every answered section: a form's by its sections, a
    booking's details as one. What a step keeps for other steps (the slot, the counter) is
    not an answer and is left to the step's panel."""
    out: list[tuple[str, list[tuple[Any, Any]]]] = []
    loc = current_locale()
    data = case.data or {}
    for step in spec.steps:
        values = data.get(step.id)
        if not isinstance(values, dict) or not values:
            continue
        title = step.title.get(loc) if step.title else ""
        sections = getattr(step, "sections", None)
        if sections:
            for section in sections:
                rows = [(f, values[f.id]) for f in section.fields
                        if values.get(f.id) not in (None, "", [])]
                if rows:
                    heading = section.title.get(loc) if section.title else title
                    out.append((f"{title} — {heading}" if title and heading != title
                                else heading, rows))
            continue
        rows = [(f, values[fid]) for fid, f in step.collects().items()
                if f is not None and values.get(fid) not in (None, "", [])]
        if rows:
            out.append((title, rows))
    return out


def colleagues(case: Case) -> list[StaffUser]:
    """Who the case may be assigned to: active staff who may see it."""
    counters = access.counters_of(db.session, case)  # once, not once per colleague
    return [u for u in db.session.scalars(select(StaffUser).where(StaffUser.active.is_(True))
                                          .order_by(StaffUser.name, StaffUser.email))
            if access.sees_given(u, case, counters)]


@bp.post("/cases/<int:case_id>/assign")
@login_required
def assign(case_id: int) -> Any:
    case = processing.lock(db.session, case_for_staff(case_id))
    raw = request.form.get("staff", "")
    target = None
    if raw == "me":
        target = db.session.get(StaffUser, current_user.id)
    elif raw:
        target = next((u for u in colleagues(case) if str(u.id) == raw), None)
        if target is None:
            return render_case(case, errors={"staff": gettext("Choose one of the options.")},
                               status=422)
    processing.assign(env().ctx(case), target)
    db.session.commit()
    flash(gettext("Assigned to %(name)s.", name=target.name or target.email) if target
          else gettext("Nobody is assigned now."), "success")
    return redirect(url_for("staff.case", case_id=case.id), 303)


@bp.post("/cases/<int:case_id>/notes")
@login_required
def add_note(case_id: int) -> Any:
    case = case_for_staff(case_id)
    text = request.form.get("note", "")
    try:
        processing.add_note(env().ctx(case), current_user._get_current_object(), text)
    except Invalid as exc:
        db.session.rollback()
        return render_case(case, errors=field_messages(exc.fields), status=422,
                           values={"note": text})
    db.session.commit()
    flash(gettext("The note was added. Citizens never see notes."), "success")
    return redirect(url_for("staff.case", case_id=case.id) + "#notes", 303)


from web.staff import export, inbox  # noqa: E402,F401  (their routes on this blueprint)
