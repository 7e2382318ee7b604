"""Staff side of email: the messages panel on a case's page (statuses, times, reasons, and a
resend action recorded in the case history), and the dev mail page of the embedded default
(no SMTP server set): every message kept in the outbox, readable with clickable links.

The dev mail page exists only without ``SMTP_HOST`` (``MAIL_DEV_PAGE`` may force it), so in
production nobody reads citizens' mail in the browser."""

from __future__ import annotations

import base64
import os
import re
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from engine import access, runtime
from engine.models import Case, Message
from engine.steps.notify import outbox
from engine.steps.notify import spec as notify
from web import labels, staff
from web.context import catalog, now
from web.environment import env
from web.extensions import db
from web.steps.notify import tasks as tasks_mail

bp = Blueprint("mail", __name__, url_prefix="/staff/mail", template_folder="templates")
STATUS_LABELS = labels.MESSAGE_STATUSES
NAV_ENTRY = ("mail.index", _l("Dev mail"))
URL = re.compile(r"https?://[^\s<>\"']+")


def configure(app: Flask) -> None:
    """Whether this app shows the dev mail page: by default when it has no SMTP server
    (mail stays in the outbox), or as MAIL_DEV_PAGE says."""
    if "MAIL_DEV_PAGE" not in app.config:
        forced = os.environ.get("MAIL_DEV_PAGE", "").lower()
        app.config["MAIL_DEV_PAGE"] = (forced in ("1", "true", "yes") if forced
                                       else not app.config.get("SMTP_HOST"))


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"case_messages": case_messages, "mail_status": status_label,
            "mail_unwritten": unwritten_label,
            "dev_mail_page": current_app.config.get("MAIL_DEV_PAGE", False)}


def case_messages(case_id: int) -> list[Message]:
    return list(db.session.scalars(select(Message).where(Message.case_id == case_id)
                                   .order_by(Message.id)))


def status_label(message: Message) -> str:
    if message.status == "sent" and message.transport == "log":
        return _("Kept in the outbox (no mail server)")
    return str(STATUS_LABELS.get(message.status, message.status))


def unwritten_label(message: Message) -> str | None:
    """What stands in for the subject and text of a message queued by its cause and not
    written yet (the delivery writes it); None once it is written."""
    if outbox.written(message):
        return None
    if message.status == "failed":
        return _("Not written (see the reason)")
    return _("Written when it is sent")


def linkify(text: str) -> Markup:
    """Plain text with its URLs as links (the rest escaped)."""
    out, last = [], 0
    for m in URL.finditer(text):
        out.append(escape(text[last:m.start()]))
        out.append(Markup('<a href="{0}">{0}</a>').format(m.group(0)))
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _visible(message_id: int) -> Message:
    """The message, if the staff member may see its case (``engine.access``; 404 otherwise)."""
    row = db.session.get(Message, message_id)
    if row is None:
        abort(404)
    case = db.session.get(Case, row.case_id) if row.case_id else None
    if case is None:
        if current_user.role != "admin":
            abort(404)
    elif not access.sees(db.session, current_user, case):
        abort(404)
    return row


def _dev_only() -> None:
    if not current_app.config.get("MAIL_DEV_PAGE"):
        abort(404)


@bp.get("/")
@login_required
def index() -> str:
    _dev_only()
    rows = db.session.execute(
        select(Message, Case).outerjoin(Case, Message.case_id == Case.id)
        .order_by(Message.id.desc()).limit(200)).all()
    visible = [(m, c) for m, c in rows
               if (c is None and current_user.role == "admin")
               or (c is not None and access.sees(db.session, current_user, c))]
    return render_template("notify/index.html", rows=visible)


@bp.get("/<int:message_id>")
@login_required
def show(message_id: int) -> str:
    _dev_only()
    row = _visible(message_id)
    body = linkify(row.body_text) if row.body_text is not None else None
    case = db.session.get(Case, row.case_id) if row.case_id else None
    return render_template("notify/message.html", message=row, body=body,
                           unwritten=unwritten_label(row), case=case)


@bp.get("/<int:message_id>/html")
@login_required
def show_html(message_id: int) -> Response:
    """The HTML part as the citizen's mail client would get it, in a sandbox: no scripts,
    no requests to anywhere, no access to this site's cookies."""
    _dev_only()
    row = _visible(message_id)
    if not row.body_html:
        abort(404)
    resp = Response(row.body_html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = (
        "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'")
    return resp


@bp.get("/<int:message_id>/attachments/<int:index>")
@login_required
def attachment(message_id: int, index: int) -> Response:
    _dev_only()
    row = _visible(message_id)
    items = row.attachments or []
    if not 0 <= index < len(items):
        abort(404)
    item = items[index]
    resp = Response(base64.b64decode(item["data"]),
                    mimetype=item["content_type"].split(";")[0])
    resp.headers["Content-Disposition"] = f'attachment; filename="{item["filename"]}"'
    return resp


@bp.post("/<int:message_id>/resend")
@login_required
def resend(message_id: int) -> BaseResponse:
    """Queue a copy of the message (to the case's current address) and record it."""
    row = _visible(message_id)
    case = db.session.get(Case, row.case_id) if row.case_id else None
    if case is None:
        abort(404)
    spec = catalog().for_case(db.session, case.workflow_id, case.workflow_version)
    to = row.to_addr
    try:
        step = spec.step(row.step_id or "")
        if isinstance(step, notify.Params):
            sid, _dot, field = step.to.partition(".")
            to = str(((case.data or {}).get(sid) or {}).get(field) or to)
    except KeyError:
        pass
    sender = current_app.config["MAIL_FROM"]
    new_id = outbox.resend(db.session, row, to=to, now=now(),
                           domain=outbox.domain_of(sender))
    runtime.apply(env().ctx(case), "message_resent", step=None,
                  detail={"message": row.id, "copy": new_id, "notify": row.step_id})
    db.session.commit()
    flash(_("The message was queued again."), "success")
    return redirect(url_for("staff.case", case_id=case.id) + "#messages")


@bp.post("/sweep")
@staff.admin_required
def run_sweep() -> BaseResponse:
    """Dev page: run the reminders and the sweep now (what beat does in production)."""
    _dev_only()
    db.session.commit()  # the sweeps commit on their own; start them from a clean slate
    count = tasks_mail.send_reminders.run()
    tasks_mail.sweep.run()
    flash(_("Reminders queued: %(count)s", count=count), "success")
    return redirect(url_for("mail.index"))


@bp.cli.command("sweep")
def sweep_command() -> None:
    """Queue due reminders and dispatch every message waiting for delivery, once (what beat
    does every few minutes; for the embedded default, run it from cron)."""
    import click

    count = tasks_mail.send_reminders.run()
    dispatched = tasks_mail.sweep.run()
    click.echo(f"reminders queued: {count}; messages dispatched: {dispatched}")
