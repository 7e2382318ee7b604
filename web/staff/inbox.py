"""The inbox (``/staff/cases``): every case the signed-in staff member may see, newest first,
filtered and searched by ``engine.inbox``, a page at a time by keyset. The query string is the
whole state of the page, so a filtered view can be bookmarked, shared with a colleague (who
sees only what they may) and exported as it is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import inbox
from engine.errors import EngineError, Invalid
from engine.models import StaffUser
from engine.spec import WorkflowSpec
from engine.steps.review import processing
from web import messages
from web.context import catalog
from web.errors import field_messages
from web.extensions import db
from web.staff import bp


class BadFilter(EngineError):
    """A filter value the inbox does not know: 400, naming the parameter."""

    code = "bad_filter"
    status = 400


messages.register(messages={
    "bad_filter": _l("A filter has a value that does not exist: check the highlighted fields."),
})


def served_specs(staff: StaffUser) -> list[WorkflowSpec]:
    return [s for s in sorted(catalog(), key=lambda s: s.id) if staff.serves_workflow(s.id)]


def served_groups(staff: StaffUser) -> dict[str, Any]:
    """Routing groups of the workflows this person serves that they may filter by."""
    return {gid: group for gid, (group, _specs) in processing.served_groups(
        served_specs(staff), staff).items()}


def filters_from(args: Mapping[str, str], staff: StaffUser) -> inbox.Filters:
    try:
        return inbox.parse_filters(args, workflows=[s.id for s in served_specs(staff)],
                                   groups=served_groups(staff))
    except Invalid as exc:
        raise BadFilter(fields=exc.fields) from None


@bp.get("/cases")
@login_required
def cases() -> Any:
    specs = served_specs(current_user)
    groups = served_groups(current_user)
    try:
        filters = filters_from(request.args, current_user)
        page = inbox.page(db.session, current_user, filters,
                          after=request.args.get("after") or None)
        errors: dict[str, str] = {}
        status = 200
    except (BadFilter, Invalid) as exc:  # a value no filter has, or a cursor not ours
        filters, page = inbox.Filters(), inbox.Page([], None)
        errors, status = field_messages(exc.fields), 400
    by_id = {s.id: s for s in catalog()}
    assignees = {u.id: u for u in db.session.scalars(select(StaffUser).where(
        StaffUser.id.in_({c.assignee_id for c in page.cases if c.assignee_id})))}
    shown = by_id.get(filters.workflow) if filters.workflow else None
    args = {k: v for k, v in request.args.items() if k in inbox.FILTER_NAMES and v}
    return render_template(
        "staff/cases.html", page=page, filters=filters, specs=specs, groups=groups,
        by_id=by_id, shown=shown, assignees=assignees, errors=errors, args=args,
        states=inbox.STATES, statuses=inbox.PROCESSING, list_values=inbox.list_values,
        first_page=not request.args.get("after"), exports=export_links(args)), status


def export_links(args: Mapping[str, str]) -> list[tuple[str, str]]:
    """(label, URL) of the exports of the cases shown, if the export part is installed."""
    out = []
    for label, endpoint in (("CSV", "staff.export_csv"), ("Excel", "staff.export_xlsx"),
                            ("JSON", "staff.export_json")):
        if endpoint in current_app.view_functions:
            out.append((label, url_for(endpoint, **dict(args))))  # type: ignore[arg-type]
    return out
