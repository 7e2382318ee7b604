"""Processing on the web: the moves on a case's staff page, the inbox's bulk moves, a routing
group's day page (a school's morning list of absence notices, by grade and class, printable,
updating itself), and the processing call of the JSON API."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from werkzeug.wrappers import Response

from engine import access, inbox, runtime
from engine.errors import Conflict, Invalid, NotFound
from engine.localtime import local_date
from engine.models import Case, CaseEvent
from engine.spec import WorkflowSpec
from engine.steps.review import processing
from engine.steps.review.spec import Group
from engine.steps.review.spec import Params as ReviewStep
from web import messages
from web.api import STAFF, answers, spec, staff_only, staff_user
from web.api import bp as api_bp
from web.context import catalog
from web.environment import env
from web.errors import error_response, field_messages
from web.extensions import db
from web.staff import case_for_staff, render_case

bp = Blueprint("review", __name__, template_folder="templates")

messages.register(messages={
    "transition_not_allowed": _l("This case has moved on since you opened it, or this step is "
                                 "not possible from where it is (%(status)s). Possible now: "
                                 "%(allowed)s."),
    "no_processing": _l("This procedure is not processed by staff."),
})

# How often the day page asks for what is new (seconds); ``REVIEW_LIVE_SECONDS`` overrides it.
LIVE_SECONDS = 15


@bp.post("/staff/cases/<int:case_id>/processing")
@login_required
def move(case_id: int) -> Any:
    case = processing.lock(db.session, case_for_staff(case_id))
    action = request.form.get("action", "")
    message = request.form.get("message", "")
    try:
        processing.move(env().ctx(case), action, expected=request.form.get("expected") or None,
                        message=message)
    except Invalid as exc:
        db.session.rollback()
        return render_case(db.session.get(Case, case_id) or case, status=422,
                           errors=field_messages(exc.fields), values={"message": message})
    except Conflict as exc:
        db.session.rollback()
        flash(messages.message(exc.code, _refusal(exc)), "error")
        return render_case(db.session.get(Case, case_id) or case, status=409)
    db.session.commit()
    flash(gettext("Processing: %(status)s.", status=_status_word(case.processing)), "success")
    return redirect(url_for("staff.case", case_id=case_id), 303)


def _refusal(exc: Conflict) -> dict[str, str]:
    """The refused move's parameters in words: where the case is, and the moves open."""
    allowed = exc.params.get("allowed") or []
    none = gettext("nothing")
    return {"status": _status_word(exc.params.get("status")) or gettext("nothing received"),
            "allowed": "、".join(str(MOVE_LABELS[m]) for m in allowed) or none}


def _status_word(code: str | None) -> str:
    from web.labels import state_label

    return state_label(code, kind="processing")


@bp.post("/staff/cases/bulk")
@login_required
def bulk() -> Response:
    """The same move on the cases ticked in the inbox or on a day page. Cases the person may
    not see are not touched (and not told apart from cases that do not exist)."""
    ids = [int(i) for i in request.form.getlist("case") if i.isdigit() and len(i) < 10]
    action = request.form.get("action", "")
    back = request.form.get("back") or ""
    args = {k[5:]: v for k, v in request.form.items() if k.startswith("back_") and v}
    target = back if back.startswith("/staff/") and not back.startswith("//") else url_for(
        "staff.cases", **args)  # type: ignore[arg-type]
    if action not in ("in_progress", "completed"):
        flash(gettext("Choose what to do with the selected cases."), "error")
        return redirect(target, 303)
    if not ids:
        flash(gettext("Select at least one case."), "error")
        return redirect(target, 303)
    cases = [c for c in db.session.scalars(select(Case).where(Case.id.in_(ids[:500])))
             if access.sees(db.session, current_user, c)]
    result = processing.bulk(env(), cases, action)
    db.session.commit()
    word = _status_word(action)
    flash(gettext("%(n)s cases marked “%(status)s”.", n=len(result.moved), status=word),
          "success")
    if result.refused:
        flash(gettext("%(n)s cases could not be marked from where they are.",
                      n=len(result.refused)), "error")
    return redirect(target, 303)


# --- a group's day page ---------------------------------------------------------------------

def my_groups() -> list[tuple[str, Group, list[WorkflowSpec]]]:
    """(id, group, workflows routing to it) of the groups this person serves."""
    found = processing.served_groups(sorted(catalog(), key=lambda s: s.id), current_user)
    return [(gid, g, specs) for gid, (g, specs) in found.items()]


@bp.get("/staff/today")
@login_required
def today_index() -> Any:
    groups = my_groups()
    if len(groups) == 1:
        return redirect(url_for("review.today", group=groups[0][0]))
    return render_template("review/groups.html", groups=groups)


def _day_arg(now_day: date) -> date:
    raw = request.args.get("day", "")
    if not raw:
        return now_day
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        abort(400)
    if not inbox.FIRST_DAY <= day <= inbox.LAST_DAY:  # its neighbours must exist too
        abort(400)
    return day


@bp.get("/staff/groups/<group>/today")
@login_required
def today(group: str) -> Any:
    from web.context import now

    found = next(((g, specs) for gid, g, specs in my_groups() if gid == group), None)
    if found is None:
        raise NotFound("not_found")
    definition, specs = found
    day = _day_arg(local_date(now()))
    lists = [(spec_, _day_list(spec_, group, day)) for spec_ in specs]
    template = "review/today_list.html" if request.args.get("part") == "list" else (
        "review/today.html")
    html = render_template(template, group_id=group, group=definition, day=day, lists=lists,
                           live_seconds=live_seconds(), today=local_date(now()),
                           count=sum(len(rows) for _s, blocks in lists for _k, rows in blocks))
    # Recorded after rendering: the commit would expire the rows the page reads.
    _record_views([c for _s, blocks in lists for _k, rows in blocks for c, _cells in rows],
                  now())
    return html


VIEW_RECORDED_FOR = timedelta(hours=1)


def _record_views(cases: list[Case], at: datetime) -> None:
    """The day page shows personal data (a child's name): each case shown is recorded as
    viewed by this staff member, once an hour at most however often the page refreshes."""
    if not cases:
        return
    actor = str(current_user.actor)
    seen = set(db.session.scalars(select(CaseEvent.case_id).where(
        CaseEvent.case_id.in_([c.id for c in cases]), CaseEvent.event == "viewed_by_staff",
        CaseEvent.actor == actor, CaseEvent.at > at - VIEW_RECORDED_FOR)))
    for case in cases:
        if case.id not in seen:
            runtime.record(db.session, case, "viewed_by_staff", step=None, actor=actor, now=at,
                           detail={"page": "day"})
    db.session.commit()


def live_seconds() -> int:
    from flask import current_app

    return int(current_app.config.get("REVIEW_LIVE_SECONDS") or LIVE_SECONDS)


def _day_list(spec_: WorkflowSpec, group: str, day: date
              ) -> list[tuple[tuple[Any, ...], list[tuple[Case, list[tuple[Any, Any]]]]]]:
    """The day's cases of the group in ``spec_``, in blocks by the step's ``day_group_by``
    (grade, class), each row with the step's columns."""
    step = processing.review_step(spec_)
    assert isinstance(step, ReviewStep)
    cases = db.session.scalars(select(Case).where(
        access.visible(current_user), Case.workflow_id == spec_.id, Case.group_id == group,
        Case.day == day, Case.erased_at.is_(None)).order_by(Case.submitted_at, Case.id)).all()
    columns = step.columns(spec_)

    def value(case: Case, ref: str) -> Any:
        step_id, _, field_id = ref.partition(".")
        return ((case.data or {}).get(step_id) or {}).get(field_id)

    def block_key(case: Case) -> tuple[Any, ...]:
        return tuple(_sortable(value(case, ref)) for ref in step.day_group_by)

    rows = sorted(cases, key=block_key)
    out = []
    for key, members in groupby(rows, key=block_key):
        out.append((key, [(c, [(_definition(spec_, ref), value(c, ref)) for ref in columns])
                          for c in members]))
    return out


def _sortable(value: Any) -> Any:
    """Grades sort as numbers, classes as text; a missing answer sorts last."""
    if value is None:
        return (2, "")
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


def _definition(spec_: WorkflowSpec, ref: str) -> Any:
    step_id, _, field_id = ref.partition(".")
    try:
        return spec_.step(step_id).collects().get(field_id)
    except KeyError:
        return None


@bp.app_template_filter("block_title")
def block_title(key: tuple[Any, ...], spec_: WorkflowSpec) -> str:
    """"2年 3組" for a (grade, class) block key (labels from the step's fields)."""
    step = processing.review_step(spec_)
    if step is None or not key:
        return ""
    parts = []
    for ref, (_rank, raw) in zip(step.day_group_by, key, strict=False):
        definition = _definition(spec_, ref)
        label = definition.label.get(_loc()) if definition is not None else ref
        parts.append(f"{label} {raw}" if raw != "" else f"{label} —")
    return " · ".join(parts)


def _loc() -> str:
    from web.i18n import current_locale

    return current_locale()


# --- the API --------------------------------------------------------------------------------

class MoveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(description="in_progress, completed, returned or rejected")
    expected: str | None = Field(default=None, description="the processing status the "
                                 "caller saw (null: nothing received yet); the move is "
                                 "refused with 409 when the case has moved on")
    message: str = Field(default="", max_length=processing.MAX_MESSAGE,
                         description="what the citizen is told (required to return or "
                         "reject)")


class MoveResult(BaseModel):
    case_id: int
    processing: str | None
    state: str


@api_bp.post("/cases/<int:case_id>/processing")
@staff_only
@spec.validate(json=MoveBody, **answers(401, 403, 404, 409, 422, body=True,
                                        HTTP_200=MoveResult),
               tags=["processing"], security=STAFF)
def api_move(case_id: int) -> Response:
    """Move a case's processing (staff): 409 ``transition_not_allowed`` with the moves open
    from where it is when it has moved on or the move is not possible from there."""
    user = staff_user()
    case = db.session.get(Case, case_id)
    if case is None or not access.sees(db.session, user, case):
        raise NotFound("not_found")
    body = MoveBody.model_validate(request.get_json(silent=True) or {})
    case = processing.lock(db.session, case)
    try:
        processing.move(env(user.actor).ctx(case), body.action, expected=body.expected,
                        message=body.message)
    except Conflict as exc:
        if exc.code != "transition_not_allowed":
            raise
        return error_response(409, exc.code, params=_refusal(exc), extra={
            "status": exc.params.get("status"), "allowed": exc.params.get("allowed", [])})
    db.session.commit()
    return jsonify(MoveResult(case_id=case.id, processing=case.processing,
                              state=case.state).model_dump())



# --- template helpers -----------------------------------------------------------------------

MOVE_LABELS = {
    "in_progress": _l("Start working on it"),
    "completed": _l("Mark completed"),
    "returned": _l("Return for correction"),
    "rejected": _l("Reject"),
}


@bp.app_context_processor
def helpers() -> dict[str, Any]:
    return {"processing_moves": processing.allowed, "processing_message": processing.message_of,
            "processing_move_label": lambda move: str(MOVE_LABELS.get(move, ""))}


@bp.app_template_filter("day_text")
def day_text(day: date) -> str:
    """2026年12月3日（木） / Thu 3 Dec 2026."""
    if _loc() == "ja":
        return f"{day.year}年{day.month}月{day.day}日（{'月火水木金土日'[day.weekday()]}）"
    return day.strftime("%a %-d %b %Y")


@bp.app_template_filter("add_days")
def add_days(day: date, n: int) -> date:
    return day + timedelta(days=n)
