"""Processing a case: the statuses, the moves staff may make, routing on arrival, assignment,
notes and telling the routing group.

``Case.processing`` moves by ``TRANSITIONS`` only; each move is the case event of the same
name (``received``, ``in_progress``, ``returned``, ``completed``, ``rejected``), so notify
and webhook steps react to it like to any other. Completed and rejected end the case
(``engine.runtime.CASE_TRANSITIONS``). The text staff write to the citizen when returning or
rejecting is kept with the case's answers (erased with them), not in its history.

Moves are made on the case's row lock and name the status the staff member saw: when two
people move one case at once, the second is refused (409) with the moves open from where the
case now is, and nothing of theirs is written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from engine import runtime
from engine.database import DbSession
from engine.errors import Conflict, Invalid, NotFound
from engine.models import Case, CaseNote, Message, StaffUser
from engine.runtime import Context
from engine.spec import WorkflowSpec
from engine.steps.notify import outbox
from engine.steps.review.spec import Group, Params

# (status, move) -> status. None: nothing received yet.
TRANSITIONS: dict[tuple[str | None, str], str] = {
    (None, "received"): "received",
    ("returned", "received"): "received",  # the citizen corrected and sent it again
    ("received", "in_progress"): "in_progress",
    ("received", "completed"): "completed",
    ("received", "returned"): "returned",
    ("received", "rejected"): "rejected",
    ("in_progress", "completed"): "completed",
    ("in_progress", "returned"): "returned",
    ("in_progress", "rejected"): "rejected",
    ("returned", "completed"): "completed",
    ("returned", "rejected"): "rejected",
}
STAFF_MOVES = ("in_progress", "completed", "returned", "rejected")
# Moves that write to the citizen, and so need the text they are told.
NEEDS_MESSAGE = ("returned", "rejected")
MESSAGE_KEY = "_review"
MAX_MESSAGE = 2000
MAX_NOTE = 4000


def review_step(spec: WorkflowSpec) -> Params | None:
    return next((s for s in spec.steps if isinstance(s, Params)), None)


def allowed(status: str | None) -> list[str]:
    """The moves staff may make from ``status``."""
    return [move for move in STAFF_MOVES if (status, move) in TRANSITIONS]


def groups(specs: Iterable[WorkflowSpec]) -> dict[str, Group]:
    """Every routing group the workflows name (the first definition of an id wins)."""
    out: dict[str, Group] = {}
    for spec in specs:
        step = review_step(spec)
        if step is not None:
            for group_id, group in step.groups.items():
                out.setdefault(group_id, group)
    return out


def day_of(step: Params, case: Case, now: datetime) -> date:
    """The day a case belongs to on its group's day page."""
    from engine.localtime import local_date

    if step.day_field:
        step_id, _, field_id = step.day_field.partition(".")
        value = ((case.data or {}).get(step_id) or {}).get(field_id)
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            pass
    return local_date(case.submitted_at or now)


def served_groups(specs: Iterable[WorkflowSpec], staff: StaffUser
                  ) -> dict[str, tuple[Group, list[WorkflowSpec]]]:
    """The routing groups ``staff`` serves in the workflows they serve, each with the
    workflows routing to it (in the order of ``specs``)."""
    found: dict[str, tuple[Group, list[WorkflowSpec]]] = {}
    for spec in specs:
        step = review_step(spec)
        if step is None or not staff.serves_workflow(spec.id):
            continue
        for group_id, group in step.groups.items():
            if staff.serves_group(group_id):
                found.setdefault(group_id, (group, []))[1].append(spec)
    return found


def message_of(case: Case) -> str:
    """What staff last wrote to the citizen (returned or rejected), for the email."""
    return str(((case.data or {}).get(MESSAGE_KEY) or {}).get("message") or "")


# --- arrival --------------------------------------------------------------------------------

def on_event(ctx: Context, step: Params, event: str, *, source_step: str | None,
             detail: Mapping[str, Any]) -> None:
    """A submission of the source form is received: routed, and its group told. A correction
    sent after the case was returned brings it back; other edits change nothing here."""
    if event != "submitted":
        return
    source = step.source_step(ctx.spec)
    if source is None or source_step != source.id:
        return
    case = ctx.case
    if case.processing not in (None, "returned"):
        return
    resubmitted = case.processing == "returned"
    group = step.group_for(case.data or {})
    case.group_id = group
    case.processing = TRANSITIONS[(case.processing, "received")]
    if case.submitted_at is None:
        case.submitted_at = ctx.now
    case.day = day_of(step, case, ctx.now)
    runtime.apply(ctx, "received", step=step.id,
                  detail={"group": group, **({"resubmitted": True} if resubmitted else {})})
    if group is not None:
        _tell_group(ctx, step, group, resubmitted=resubmitted)


def _tell_group(ctx: Context, step: Params, group_id: str, *, resubmitted: bool) -> None:
    group = step.groups[group_id]
    if not group.email or group.digest_minutes:
        return  # nobody to tell, or told by the digest
    case = ctx.case
    revision = ((case.data or {}).get("_forms") or {}).get(
        (step.source_step(ctx.spec) or step).id, {}).get("revision", 1)
    subject, text = arrival_text(ctx.spec, [case], ctx.settings, resubmitted=resubmitted)
    sender = str(ctx.settings.get("MAIL_FROM") or "no-reply@localhost")
    new_id = outbox.enqueue(
        ctx.session, key=f"review:{case.id}:{group_id}:{revision}", to=group.email,
        now=ctx.now, domain=outbox.domain_of(sender), subject=subject, text=text, case=case,
        step_id=step.id, event="received", locale="ja")
    if new_id is not None:
        runtime.apply(ctx, "message_queued", step=None,
                      detail={"message": new_id, "group": group_id})


def staff_url(settings: Mapping[str, Any], case_id: int) -> str:
    base = str(settings.get("BASE_URL") or "").rstrip("/")
    return f"{base}/staff/cases/{case_id}"


def _summary(spec: WorkflowSpec, case: Case) -> str:
    """The workflow's list columns of the case (school, grade, class, kind): what lets the
    group see at a glance what arrived. Names and contact details stay on the staff page."""
    from engine.inbox import list_values

    parts = []
    for definition, value in list_values(spec, case):
        if definition is None or value in (None, ""):
            continue
        choices = {c.value: c.label.ja for c in getattr(definition, "choices", None) or ()}
        parts.append(f"{definition.label.ja}: {choices.get(str(value), value)}")
    return " / ".join(parts)


def arrival_text(spec: WorkflowSpec, cases: Sequence[Case], settings: Mapping[str, Any], *,
                 resubmitted: bool = False, window: str = "") -> tuple[str, str]:
    """Subject and text (Japanese, then English) of the email telling a group what arrived.
    Staff read the answers on the staff page (after signing in), not in the email."""
    title = spec.title
    site = str(settings.get("SITE_NAME") or "")
    prefix = f"[{site}] " if site else ""
    if len(cases) == 1 and not window:
        case = cases[0]
        what = "再送信" if resubmitted else "新しい受付"
        what_en = "Corrected and sent again" if resubmitted else "New submission"
        subject = f"{prefix}{what}: {title.ja} {case.reference}"
        lines = [f"{title.ja}（受付番号 {case.reference}）が届きました。", _summary(spec, case),
                 "", "確認・処理はこちら（職員のサインインが必要です）:",
                 staff_url(settings, case.id), "", "---",
                 f"{what_en}: {title.get('en')} ({case.reference}).",
                 "Open it on the staff pages (sign-in required) at the address above."]
        return subject, "\n".join(line for line in lines if line is not None) + "\n"
    subject = f"{prefix}{title.ja}: {len(cases)}件の受付（{window}）"
    lines = [f"{window} に{title.ja}が{len(cases)}件届きました。", ""]
    for case in cases:
        lines.append(f"・{case.reference} {_summary(spec, case)}")
        lines.append(f"  {staff_url(settings, case.id)}")
    lines += ["", "---", f"{len(cases)} new: {title.get('en')} ({window}).",
              "Open each on the staff pages (sign-in required)."]
    return subject, "\n".join(lines) + "\n"


# --- staff moves ----------------------------------------------------------------------------

def lock(session: DbSession, case: Case) -> Case:
    """The case re-read under its row lock (PostgreSQL; SQLite write transactions are
    exclusive already)."""
    locked = session.scalar(select(Case).where(Case.id == case.id).with_for_update()
                            .execution_options(populate_existing=True))
    if locked is None:
        raise NotFound("not_found")
    return locked


def move(ctx: Context, action: str, *, expected: str | None, message: str = "") -> None:
    """Make the staff move ``action`` on the case, if it is open from the status the staff
    member saw (``expected``) and the case is still where they saw it."""
    step = review_step(ctx.spec)
    if step is None:
        raise Conflict("no_processing")
    if action not in STAFF_MOVES:
        raise Invalid(fields={"action": "invalid_choice"})
    message = (message or "").strip()
    if action in NEEDS_MESSAGE and not message:
        raise Invalid(fields={"message": "required"})
    if len(message) > MAX_MESSAGE:
        raise Invalid(fields={"message": "too_long"})
    case = ctx.case
    current = case.processing
    if current != expected or (current, action) not in TRANSITIONS:
        raise Conflict("transition_not_allowed", status=current, allowed=allowed(current))
    if action in NEEDS_MESSAGE:
        runtime.set_step_data(ctx.session, case, MESSAGE_KEY,
                              {"message": message, "at": ctx.now.isoformat()})
    case.processing = TRANSITIONS[(current, action)]
    runtime.apply(ctx, action, step=step.id, detail={"from": current})


def assign(ctx: Context, staff: StaffUser | None) -> None:
    """Give the case to ``staff`` (None: to nobody)."""
    new = staff.id if staff is not None else None
    if ctx.case.assignee_id == new:
        return
    ctx.case.assignee_id = new
    runtime.apply(ctx, "assigned", step=None, detail={"to": new})


def add_note(ctx: Context, staff: StaffUser, text: str) -> CaseNote:
    """An internal note (never shown to the citizen)."""
    text = (text or "").strip()
    if not text:
        raise Invalid(fields={"note": "required"})
    if len(text) > MAX_NOTE:
        raise Invalid(fields={"note": "too_long"})
    note = CaseNote(case_id=ctx.case.id, staff_id=staff.id, text=text, created_at=ctx.now)
    ctx.session.add(note)
    ctx.session.flush()
    runtime.apply(ctx, "note_added", step=None, detail={"note": note.id})
    return note


@dataclass(frozen=True)
class BulkResult:
    moved: list[int]
    refused: list[int]


def bulk(env: runtime.Env, cases: Sequence[Case], action: str) -> BulkResult:
    """The same move on many cases (mark this morning's notices completed): each case that
    allows it from where it is moves; the others are left as they are and listed."""
    moved: list[int] = []
    refused: list[int] = []
    for case in sorted(cases, key=lambda c: c.id):  # one lock order: no deadlock
        locked = lock(env.session, case)
        ctx = env.ctx(locked)
        if (locked.processing, action) in TRANSITIONS and action not in NEEDS_MESSAGE:
            move(ctx, action, expected=locked.processing)
            moved.append(locked.id)
        else:
            refused.append(locked.id)
    return BulkResult(moved, refused)


# --- digests --------------------------------------------------------------------------------

DIGEST_LOOKBACK = timedelta(days=1)


def send_digests(session: DbSession, specs: Iterable[WorkflowSpec], *, now: datetime,
                 settings: Mapping[str, Any]) -> int:
    """One email per group, workflow and finished window of ``digest_minutes`` in which
    cases arrived. Run every minute by the beat; a window already told is never told again
    (the message's key), and a window the beat missed (it was down) is told on its next run,
    up to a day back."""
    from engine.localtime import TZ

    sender = str(settings.get("MAIL_FROM") or "no-reply@localhost")
    queued = 0
    for spec in specs:
        step = review_step(spec)
        if step is None:
            continue
        for group_id, group in step.groups.items():
            if not group.email or not group.digest_minutes:
                continue
            width = timedelta(minutes=group.digest_minutes)
            epoch = datetime(2000, 1, 1, tzinfo=now.tzinfo)
            current = epoch + ((now - epoch) // width) * width  # the window still open
            rows = session.scalars(select(Case).where(
                Case.workflow_id == spec.id, Case.group_id == group_id,
                Case.submitted_at >= current - DIGEST_LOOKBACK, Case.submitted_at < current)
                .order_by(Case.submitted_at, Case.id)).all()
            windows: dict[datetime, list[Case]] = {}
            for case in rows:
                assert case.submitted_at is not None
                start = epoch + ((case.submitted_at - epoch) // width) * width
                windows.setdefault(start, []).append(case)
            for start, cases in windows.items():
                key = f"digest:{spec.id}:{group_id}:{start.isoformat()}"
                if session.scalar(select(func.count(Message.id)).where(
                        Message.idempotency_key == key)):
                    continue
                end = start + width
                label = (f"{start.astimezone(TZ):%m/%d %H:%M}–{end.astimezone(TZ):%H:%M}")
                subject, text = arrival_text(spec, cases, settings, window=label)
                if outbox.enqueue(session, key=key, to=group.email, now=now,
                                  domain=outbox.domain_of(sender), subject=subject,
                                  text=text, step_id=step.id, event="digest") is not None:
                    queued += 1
    return queued
