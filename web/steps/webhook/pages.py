"""The staff page "Webhook deliveries": every delivery of the cases the staff member may see
(``engine.access``), newest first, with its status, the receiver's HTTP status, the attempts,
when the next one is due and why the last one failed, in words; and *send again*, which puts
the same delivery (same event id, same body) back in the queue and records who did it in the
case's history."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from engine import access, runtime
from engine.models import Case, WebhookDelivery
from engine.steps.webhook import outbox
from web.context import catalog, now
from web.environment import env
from web.extensions import db
from web.i18n import current_locale
from web.staff import case_for_staff
from web.steps.webhook import tasks

bp = Blueprint("webhooks", __name__, url_prefix="/staff/webhooks", template_folder="templates")
NAV_ENTRY = ("webhooks.index", _l("Webhook deliveries"))
PAGE = 50

STATUS_LABELS = {
    "queued": _l("Waiting to be sent"),
    "sending": _l("Sending now"),
    "sent": _l("Delivered"),
    "retry": _l("Will be tried again"),
    "failed": _l("Not delivered"),
    "stopped": _l("Stopped by the receiver"),
}
REASONS = {
    "timeout": _l("The receiver did not answer in time."),
    "connection": _l("The receiver could not be reached."),
    "server_error": _l("The receiver had an error."),
    "rate_limited": _l("The receiver asked us to send less often."),
    "gone": _l("The receiver says this address is no longer in use, so no more attempts "
               "are made."),
    "refused": _l("The receiver refused the delivery."),
    "redirect": _l("The receiver answered with a redirect, which is not followed."),
    "no_secret": _l("The shared secret is not set on the server, so nothing was sent. Ask "
                    "the administrator to set it, then send again."),
    "interrupted": _l("Every attempt was interrupted before it ended."),
}


@bp.app_template_global()
def webhook_status(row: WebhookDelivery) -> str:
    return str(STATUS_LABELS.get(row.status, _("Unknown")))


@bp.app_template_global()
def webhook_reason(row: WebhookDelivery) -> str | None:
    """Why the last attempt did not deliver, in words (None if nothing went wrong)."""
    if not row.last_reason:
        return None
    text = str(REASONS.get(row.last_reason, _("The delivery failed.")))
    if row.status == "failed" and row.last_reason in outbox.TEMPORARY:
        return _("Gave up after %(n)s attempts. %(reason)s", n=row.attempts, reason=text)
    return text


@bp.get("/")
@login_required
def index() -> str:
    """Newest first, ``PAGE`` at a time (``?before=<id>`` for older ones)."""
    before = request.args.get("before", type=int)
    query = (select(WebhookDelivery, Case).join(Case, Case.id == WebhookDelivery.case_id)
             .where(access.visible(current_user)).order_by(WebhookDelivery.id.desc())
             .limit(PAGE + 1))
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    rows = db.session.execute(query).all()
    older = rows[PAGE - 1][0].id if len(rows) > PAGE else None
    items = [_item(row, case) for row, case in rows[:PAGE]]
    return render_template("webhook/index.html", items=items, older=older,
                           resendable=outbox.RESENDABLE)


def _item(row: WebhookDelivery, case: Case) -> dict[str, Any]:
    try:
        spec = catalog().for_case(db.session, case.workflow_id, case.workflow_version)
    except LookupError:
        spec = None
    return {"row": row, "case": case, "spec": spec,
            "workflow": spec.title.get(current_locale()) if spec else case.workflow_id,
            "host": urlsplit(row.url).hostname or row.url}


@bp.post("/<int:delivery_id>/resend")
@login_required
def resend(delivery_id: int) -> BaseResponse:
    """Queue the same delivery again; 404 unless the staff member may see its case."""
    row = db.session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if row is None:
        abort(404)
    case = case_for_staff(row.case_id)
    if row.status not in outbox.RESENDABLE:
        flash(_("This delivery has not finished yet, so it cannot be sent again now."),
              "error")
        return redirect(url_for("webhooks.index"))
    previous = row.status
    outbox.resend(db.session, row, now=now())
    runtime.apply(env().ctx(case), "webhook_resent", step=None,
                  detail={"delivery": row.id, "webhook": row.step_id, "was": previous})
    db.session.commit()
    flash(_("The delivery was queued again with the same event id."), "success")
    return redirect(url_for("webhooks.index"))


@bp.cli.command("sweep")
def sweep_command() -> None:
    """Dispatch every webhook delivery waiting for an attempt, once (what beat does every
    WEBHOOK_SWEEP_SECONDS; for the embedded default, run it from cron)."""
    import click

    click.echo(f"webhook deliveries dispatched: {tasks.sweep.run()}")
