"""Codes into words: the one place that says what a state, an event, an actor, a refusal
reason, a step or a field id reads as in the page's language (Japanese first, English).

Staff and citizens read words, never codes. Every table here is keyed by the stable codes
the engine writes; a code missing from a table reads as a generic word ("other record"),
never as itself, and ``tests/core/test_labels.py`` keeps every event the engine can record
in the tables. The functions are Jinja filters and globals (``init_app``) so templates write
``{{ booking.status|state_label("booking") }}`` or ``{{ event_detail(e, spec) }}``.

The msgids are English and shared with the other catalogues (Flask-Babel merges them), so a
word used elsewhere keeps the translation it has there; where two kinds share a code but not
a meaning (a booking's ``cancelled`` and a processing ``completed``) the kind picks the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from flask import Flask, current_app, g, has_request_context
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from engine.models import Case, Slot, StaffUser
from engine.spec import StepSpec, WorkflowSpec
from web.extensions import db
from web.i18n import current_locale, local

# -- states and statuses, by kind ------------------------------------------------------------

CASE_STATES: dict[str, Any] = {
    "active": _l("In progress"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
    "expired": _l("Expired"),
    "rejected": _l("Rejected"),
    "returned": _l("Returned for correction"),
    "erased": _l("Personal data erased"),
}
BOOKING_STATUSES: dict[str, Any] = {
    "held": _l("Time kept"),
    "confirmed": _l("Booked"),
    "cancelled": _l("Cancelled"),
    "expired": _l("Expired"),
    "checked_in": _l("Checked in"),
    "no_show": _l("No-show"),
}
WAITLIST_STATUSES: dict[str, Any] = {
    "waiting": _l("On the waiting list"),
    "offered": _l("A place is offered"),
    "accepted": _l("Took the offered place"),
    "lapsed": _l("Offer lapsed"),
    "cancelled": _l("Cancelled"),
}
MESSAGE_STATUSES: dict[str, Any] = {
    "queued": _l("Queued"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "retry": _l("Waiting to retry"),
    "failed": _l("Failed"),
}
PROCESSING_STATUSES: dict[str, Any] = {
    "received": _l("Received"),
    "in_progress": _l("Being handled"),
    "returned": _l("Returned for correction"),
    "completed": _l("Completed"),
    "rejected": _l("Rejected"),
}
# The day list's statuses (engine.steps.checkin.daylist.STATUSES).
DAYLIST_STATUSES: dict[str, Any] = {
    "booked": _l("Booked"),
    "questionnaire_done": _l("Questionnaire done"),
    "checked_in": _l("Checked in"),
    "no_show": _l("No-show"),
    "cancelled": _l("Cancelled"),
}
QUEUE_STATUSES: dict[str, Any] = {
    "waiting": _l("Waiting"), "called": _l("Called"), "served": _l("Served"),
    "missed": _l("Missed"),
}
# A step on the citizen's case page, by the step's last event (web.case.step_status).
STEP_STATUSES: dict[str, Any] = {
    "": _l("Not started"),
    "started": _l("Not started"),
    "held": _l("Time kept"),
    "booked": _l("Booked"),
    "rescheduled": _l("Booked (time changed)"),
    "cancelled": _l("Cancelled"),
    "hold_expired": _l("Expired"),
    "waitlisted": _l("On the waiting list"),
    "waitlist_offer": _l("A place is offered"),
    "saved": _l("Draft saved"),
    "submitted": _l("Sent"),
    "prefilled": _l("Not started"),
    "chained": _l("Started"),
    "document_printed": _l("Printed"),
    "checked_in": _l("Checked in"),
    "checkin_accepted": _l("Checked in"),
    "called": _l("Checked in"),
    "missed": _l("Checked in"),
    "served": _l("Visit done"),
    "no_show": _l("Missed"),
    "no_show_undone": _l("Booked"),
    "completed": _l("Completed"),
    "received": _l("Received"),
    "in_progress": _l("Being handled"),
    "returned": _l("Returned for correction"),
    "rejected": _l("Rejected"),
}
# The result of a scan in the scan log (engine.steps.checkin.scanlog.RESULTS).
SCAN_RESULTS: dict[str, Any] = {
    "ok": _l("Checked in"),
    "accepted": _l("Accepted by staff"),
    "refused": _l("Refused"),
}
STATE_KINDS: dict[str, dict[str, Any]] = {
    "case": CASE_STATES, "booking": BOOKING_STATUSES, "waitlist": WAITLIST_STATUSES,
    "message": MESSAGE_STATUSES, "processing": PROCESSING_STATUSES,
    "daylist": DAYLIST_STATUSES, "queue": QUEUE_STATUSES, "step": STEP_STATUSES,
    "scan": SCAN_RESULTS,
}

# -- events: every name the engine records (tests/core/test_labels.py keeps this whole) ------

EVENTS: dict[str, Any] = {
    "started": _l("Started"),
    "held": _l("Time kept for the booking"),
    "booked": _l("Booking confirmed"),
    "rescheduled": _l("Booking time changed"),
    "hold_expired": _l("Kept time ran out"),
    "cancelled": _l("Booking cancelled"),
    "waitlisted": _l("Joined the waiting list"),
    "waitlist_offer": _l("Place offered from the waiting list"),
    "saved": _l("Draft saved"),
    "submitted": _l("Form sent"),
    "prefilled": _l("Answers filled in beforehand"),
    "chained": _l("Next procedure started"),
    "document_printed": _l("Document printed"),
    "checked_in": _l("Checked in at the counter"),
    "called": _l("Called to the counter"),
    "served": _l("Visit done"),
    "missed": _l("Not there when called"),
    "no_show": _l("Did not come"),
    "no_show_undone": _l("No-show undone"),
    "completed": _l("Completed"),
    "message_queued": _l("Email queued"),
    "message_sent": _l("Email sent"),
    "message_failed": _l("Email could not be sent"),
    "message_resent": _l("Email sent again"),
    "webhook_resent": _l("Webhook sent again"),
    "viewed_by_staff": _l("Viewed by staff"),
    "reminder": _l("Reminder sent"),
    "erased": _l("Personal data erased"),
    "note": _l("Note"),
    "checkin_refused": _l("Check-in refused"),
    "checkin_accepted": _l("Scan on another day accepted"),
    # processing by staff (engine.steps.review)
    "received": _l("Received for processing"),
    "in_progress": _l("Handling started"),
    "returned": _l("Returned for correction"),
    "rejected": _l("Rejected"),
    "assigned": _l("Assigned"),
    "note_added": _l("Internal note added"),
}
UNKNOWN_EVENT = _l("Other record")

# -- refusal reasons and other reason codes staff read ------------------------------------

REASONS: dict[str, Any] = {
    "ok": _l("Checked in"),
    "unknown": _l("Unknown ticket"),
    "forged": _l("Not a valid ticket"),
    "cancelled": _l("Booking cancelled"),
    "wrong_day": _l("Another day or time"),
    "wrong_counter": _l("Another counter"),
    "already_checked_in": _l("Already checked in"),
    "nonce_reused": _l("Request already used for another scan"),
    "invalid_transition": _l("Not possible in the current state"),
}
UNKNOWN_REASON = _l("Other reason")

# -- who did it ------------------------------------------------------------------------------

ACTORS: dict[str, Any] = {
    "citizen": _l("The citizen"),
    "system": _l("System"),
}
ACTOR_KINDS: dict[str, Any] = {
    "api": _l("An external system (API)"),
    "webhook": _l("An external system (webhook)"),
    "cli": _l("An administrator (command line)"),
}

# -- step types and the fields a booking fills in itself ---------------------------------

STEP_TYPES: dict[str, Any] = {
    "booking": _l("Booking"),
    "notify": _l("Email notification"),
    "form": _l("Form"),
    "document": _l("Document"),
    "checkin": _l("Check-in at the counter"),
    "chain": _l("Next procedure"),
    "review": _l("Processing by staff"),
    "webhook": _l("Sending to another system"),
}
UNKNOWN_STEP_TYPE = _l("Step")
BOOKING_FIELDS: dict[str, Any] = {
    "date": _l("Date"), "start": _l("Start time"), "end": _l("End time"), "counter": _l("Counter"),
    "reference": _l("Reception number"), "slot_id": _l("Time slot"),
}
UNKNOWN_FIELD = _l("An answer")


def _word(table: Mapping[str, Any], code: Any, fallback: Any) -> str:
    return str(table.get(str(code or ""), fallback))


def state_label(code: str | None, kind: str = "case") -> str:
    """A state or status of ``kind`` (case, booking, waitlist, message, processing, daylist,
    queue, step, scan) as words; the same code reads differently by kind."""
    table = STATE_KINDS.get(kind, CASE_STATES)
    if kind == "step":
        return _word(table, code, _l("In progress"))
    return _word(table, code, _l("Other state"))


def event_label(code: str | None) -> str:
    return _word(EVENTS, code, UNKNOWN_EVENT)


def reason_label(code: str | None) -> str:
    return _word(REASONS, code, UNKNOWN_REASON)


def step_type_label(kind: str | None) -> str:
    return _word(STEP_TYPES, kind, UNKNOWN_STEP_TYPE)


def actor_name(actor: str | None) -> str:
    """Who did it: the citizen, the system, a staff member by name (or email), an integration.
    Staff are looked up once per request."""
    actor = actor or ""
    if actor in ACTORS:
        return str(ACTORS[actor])
    kind, _, rest = actor.partition(":")
    if kind == "staff" and rest.isdigit():
        return _staff_name(int(rest))
    return str(ACTOR_KINDS.get(kind, _l("Someone else")))


def _staff_name(staff_id: int) -> str:
    cache: dict[int, str] = (g.setdefault("staff_names", {}) if has_request_context()
                             else {})
    if staff_id not in cache:
        user = db.session.get(StaffUser, staff_id)
        cache[staff_id] = (user.name or user.email) if user else gettext(
            "A former staff member")
    return cache[staff_id]


def step_label(spec: WorkflowSpec | None, step_id: str | None) -> str:
    """The step's title, else the name of its type; a step the workflow no longer has reads
    as "a step"."""
    step = _step(spec, step_id)
    if step is None:
        return str(UNKNOWN_STEP_TYPE)
    return step.title.get(current_locale()) if step.title else step_type_label(step.type)


def _step(spec: WorkflowSpec | None, step_id: str | None) -> StepSpec | None:
    if spec is None or not step_id:
        return None
    try:
        return spec.step(step_id)
    except KeyError:
        return None


def field_label(spec: WorkflowSpec | None, ref: str, field: str | None = None) -> str:
    """The label of a field, named as ``"step.field"``, as ``(step, field)``, or as a prefill
    source ``"parent.<workflow>.<step>.<field>"`` (the label in that workflow, after its
    title)."""
    if field is None:
        parts = ref.split(".")
        if parts[0] == "parent" and len(parts) == 4:
            other = _live_spec(parts[1])
            title = other.title.get(current_locale()) if other else str(UNKNOWN_STEP_TYPE)
            return f"{title}: {field_label(other, parts[2], parts[3])}"
        ref, _, field = ref.rpartition(".")
    step = _step(spec, ref)
    if step is None:
        return str(UNKNOWN_FIELD)
    found = step.collects().get(field)
    label = getattr(found, "label", None)
    if label is not None:
        return str(label.get(current_locale()))
    if step.type == "booking" and field in BOOKING_FIELDS:
        return str(BOOKING_FIELDS[field])
    return str(UNKNOWN_FIELD)


def spec_of(case: Case | None) -> WorkflowSpec | None:
    """The spec version ``case`` was started with (for labels of its steps and fields)."""
    if case is None:
        return None
    return current_app.extensions["catalog"].for_case(  # type: ignore[no-any-return]
        db.session, case.workflow_id, case.workflow_version)


def _live_spec(workflow_id: str) -> WorkflowSpec | None:
    try:
        return current_app.extensions["catalog"].get(workflow_id)  # type: ignore[no-any-return]
    except KeyError:
        return None


def counter_label(counter: str | None) -> str:
    """A counter's name from the booking steps that serve it (``counter_name``), else that
    booking step's title; the id only when no live workflow names it."""
    if not counter:
        return gettext("No counter")
    for spec in current_app.extensions["catalog"]:
        for step in spec.steps_of("booking"):
            if getattr(step, "counter", None) != counter:
                continue
            name = getattr(step, "counter_name", None) or step.title or spec.title
            return str(name.get(current_locale()))
    return counter


# -- an event's details in a sentence ------------------------------------------------------

def event_detail(event: Any, spec: WorkflowSpec | None) -> str:
    """The details of a case event that matter to staff, in a short sentence: never JSON.
    Details no describer knows are left out rather than shown raw."""
    detail: Mapping[str, Any] = getattr(event, "detail", None) or {}
    name: str = getattr(event, "event", "")
    step_id: str | None = getattr(event, "step_id", None)
    parts = [text for describe in _DESCRIBERS
             for text in [describe(name, detail, spec, step_id)] if text]
    return ("、" if current_locale() == "ja" else "; ").join(parts)


Describer = Callable[[str, Mapping[str, Any], "WorkflowSpec | None", "str | None"], str | None]


def _form(name: str, detail: Mapping[str, Any], spec: WorkflowSpec | None,
          step_id: str | None) -> str | None:
    """Which fields a prefill, a draft or a new revision touched, by their labels."""
    out: list[str] = []
    fields = detail.get("fields")
    if name in ("prefilled", "saved") and fields:
        words = _fields(spec, step_id, list(fields))
        out.append(gettext("filled in: %(fields)s", fields=words) if name == "prefilled"
                   else gettext("answers kept: %(fields)s", fields=words))
    if isinstance(detail.get("revision"), int):
        out.append(gettext("Revision %(n)s", n=detail["revision"]))
    changed = detail.get("changed")
    if isinstance(changed, list) and changed:
        words = _fields(spec, step_id, changed)
        out.append(gettext("changed by the citizen: %(fields)s", fields=words)
                   if name == "prefilled" else gettext("changed: %(fields)s", fields=words))
    return ("、" if current_locale() == "ja" else "; ").join(out)


def _reason(name: str, detail: Mapping[str, Any], spec: WorkflowSpec | None,
            step_id: str | None) -> str | None:
    """A refusal's reason code, or the words a staff member wrote (an acceptance)."""
    text = detail.get("reason")
    if not isinstance(text, str):
        return None
    coded = name == "checkin_refused" or text in REASONS
    return gettext("reason: %(reason)s", reason=reason_label(text) if coded else text)


def _counter(name: str, detail: Mapping[str, Any], spec: WorkflowSpec | None,
             step_id: str | None) -> str | None:
    out = []
    if name in ("checked_in", "checkin_refused", "checkin_accepted", "called", "served",
                "missed", "note") and detail.get("counter"):
        out.append(counter_label(str(detail["counter"])))
    if isinstance(detail.get("queue_number"), int):
        out.append(gettext("call number %(n)s", n=detail["queue_number"]))
    if name == "checked_in" and detail.get("accepted"):
        out.append(str(SCAN_RESULTS["accepted"]))
    return ("、" if current_locale() == "ja" else "; ").join(out)


def _rescheduled(name: str, detail: Mapping[str, Any], spec: WorkflowSpec | None,
                 step_id: str | None) -> str | None:
    return _reschedule(detail) if name == "rescheduled" else None


def _cases(name: str, detail: Mapping[str, Any], spec: WorkflowSpec | None,
           step_id: str | None) -> str | None:
    """Where a case came from, the procedure it chained to."""
    if name == "chained" and detail.get("workflow"):
        other = _live_spec(str(detail["workflow"]))
        return other.title.get(current_locale()) if other else None
    if detail.get("chain_missing"):
        return gettext("the next procedure is no longer offered")
    if name != "started":
        return None
    if isinstance(detail.get("parent_case"), int):
        parent = db.session.get(Case, detail["parent_case"])
        if parent is not None:
            return gettext("continued from case %(ref)s", ref=parent.reference)
    return gettext("from a poster's QR code") if detail.get("poster_id") else None


def _messages(name: str, detail: Mapping[str, Any], spec: WorkflowSpec | None,
              step_id: str | None) -> str | None:
    if name in ("message_queued", "message_failed", "message_resent") and detail.get("notify"):
        return step_label(spec, str(detail["notify"]))
    if name == "message_queued" and detail.get("group"):
        return _group(spec, str(detail["group"]))
    if isinstance(detail.get("messages_deleted"), int):
        return gettext("%(n)s emails deleted", n=detail["messages_deleted"])
    return None


def _processing(name: str, detail: Mapping[str, Any], spec: WorkflowSpec | None,
                step_id: str | None) -> str | None:
    """Processing by staff: the group a case was routed to, the status it moved from, the
    person it was given to."""
    if name == "received":
        out = [gettext("sent to %(group)s", group=_group(spec, str(detail["group"])))
               ] if detail.get("group") else []
        if detail.get("resubmitted"):
            out.append(gettext("corrected and sent again"))
        return ("、" if current_locale() == "ja" else "; ").join(out)
    if name in PROCESSING_STATUSES and detail.get("from") in PROCESSING_STATUSES:
        return gettext("from %(status)s", status=state_label(detail["from"], "processing"))
    if name == "assigned" and "staff" in detail:
        who = detail["staff"]
        return gettext("to %(name)s", name=actor_name(f"staff:{who}")) if isinstance(
            who, int) else gettext("to nobody")
    return None


def _group(spec: WorkflowSpec | None, group_id: str) -> str:
    """A routing group's title, from the review step of ``spec`` (else any live workflow)."""
    specs = [spec] if spec is not None else []
    specs += list(current_app.extensions["catalog"])
    for candidate in specs:
        for step in candidate.steps_of("review"):
            group = (getattr(step, "groups", None) or {}).get(group_id)
            if group is not None:
                return str(group.title.get(current_locale()))
    return gettext("a routing group")


_DESCRIBERS: tuple[Describer, ...] = (_form, _reason, _counter, _rescheduled, _cases,
                                      _messages, _processing)


def _fields(spec: WorkflowSpec | None, step_id: str | None, ids: list[Any]) -> str:
    sep = "、" if current_locale() == "ja" else ", "
    return sep.join(field_label(spec, str(step_id or ""), str(f)) if "." not in str(f)
                    else field_label(spec, str(f)) for f in ids)


def _reschedule(detail: Mapping[str, Any]) -> str:
    """From and to times of a rescheduled booking, from the slots it names."""
    def start(slot_id: Any) -> str | None:
        slot = db.session.get(Slot, slot_id) if isinstance(slot_id, int) else None
        return _when(slot.starts_at) if slot is not None else None

    old, new = start(detail.get("from_slot")), start(detail.get("to_slot"))
    if old and new:
        return gettext("from %(old)s to %(new)s", old=old, new=new)
    return gettext("to %(new)s", new=new) if new else ""


def _when(moment: datetime) -> str:
    at = local(moment)
    if current_locale() == "ja":
        return f"{at.month}月{at.day}日 {at:%H:%M}"
    return f"{at:%Y-%m-%d %H:%M}"


FILTERS = {
    "state_label": state_label, "event_label": event_label, "actor_name": actor_name,
    "reason_label": reason_label, "step_type_label": step_type_label,
    "counter_label": counter_label, "spec_of": spec_of,
}
# Functions of a spec first: globals (``field_label(spec, "step.field")``) and filters
# (``spec|field_label("step.field")``) alike.
SPEC_FUNCTIONS = {"field_label": field_label, "step_label": step_label,
                  "event_detail": event_detail}


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.filters.update(SPEC_FUNCTIONS)
    app.jinja_env.globals.update(FILTERS)
    app.jinja_env.globals.update(SPEC_FUNCTIONS)
