"""The only code that changes a case's state. Every change appends a CaseEvent (who, when,
what), and the steps of the case's workflow get to react to each event (``on_event``).

Transitions are tables of (state, event) -> new state; an event absent from a table for the
current state is refused with ``InvalidTransition`` and nothing is written.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine import database, inbox
from engine.database import DbSession
from engine.errors import InvalidTransition
from engine.models import Case, CaseEvent
from engine.spec import WorkflowSpec
from engine.versions import record_version

if TYPE_CHECKING:
    from engine.catalog import Catalog

# Case states: active -> completed | cancelled | expired | rejected; erased when retention ends.
CASE_TRANSITIONS: dict[tuple[str, str], str] = {
    ("active", "started"): "active",
    ("active", "held"): "active",
    ("active", "booked"): "active",
    ("active", "rescheduled"): "active",
    ("active", "hold_expired"): "expired",
    ("active", "cancelled"): "cancelled",
    ("active", "waitlisted"): "active",
    ("active", "waitlist_offer"): "active",
    ("active", "saved"): "active",
    ("active", "submitted"): "active",
    ("active", "prefilled"): "active",
    ("active", "chained"): "active",
    ("active", "document_printed"): "active",
    ("active", "checked_in"): "active",
    ("active", "called"): "active",
    ("active", "served"): "completed",
    ("active", "missed"): "active",
    ("active", "no_show"): "completed",
    ("active", "completed"): "completed",
    # Processing by staff (engine.steps.review): the case ends when completed or rejected.
    ("active", "received"): "active",
    ("active", "in_progress"): "active",
    ("active", "returned"): "active",
    ("active", "rejected"): "rejected",
    ("completed", "document_printed"): "completed",
    ("completed", "served"): "completed",
    ("completed", "checked_in"): "active",  # a visitor marked no-show arrives late after all
    ("completed", "no_show_undone"): "active",  # staff marked the no-show by mistake
    ("expired", "waitlisted"): "active",
    ("cancelled", "waitlisted"): "cancelled",
}
# Events that never change the state and are allowed in any state (records, not transitions).
RECORD_EVENTS = frozenset({"message_queued", "message_sent", "message_failed", "message_resent",
                           "viewed_by_staff", "reminder", "erased", "note",
                           "checkin_refused", "checkin_accepted", "assigned", "note_added",
                           "webhook_resent"})

def next_state(table: Mapping[tuple[str, str], str], state: str, event: str) -> str:
    try:
        return table[(state, event)]
    except KeyError:
        raise InvalidTransition(state=state, event=event) from None


@dataclass(frozen=True)
class Env:
    """What every engine call that changes something needs besides its arguments: the
    session, the workflow catalog, when and by whom. ``settings`` and ``links`` (kind ->
    absolute URL for a case, issuing a fresh token) reach the steps' reactions; the web layer
    builds one per request or task (``web.environment.env``)."""

    session: DbSession
    catalog: Catalog
    now: datetime
    actor: str = "citizen"
    settings: Mapping[str, Any] = field(default_factory=dict)
    links: Callable[[Case, str], str] | None = None

    def ctx(self, case: Case, actor: str | None = None) -> Context:
        """This environment bound to ``case`` and the spec version it was started with."""
        env = replace(self, actor=actor) if actor and actor != self.actor else self
        spec = self.catalog.for_case(self.session, case.workflow_id, case.workflow_version)
        return Context(env, case, spec)


@dataclass(frozen=True)
class Context:
    """An ``Env`` bound to one case (``Env.ctx``): what a step's ``on_event`` gets. ``env``
    serves engine calls on behalf of other cases (a waitlist offer)."""

    env: Env = field(repr=False)
    case: Case
    spec: WorkflowSpec

    @property
    def session(self) -> DbSession:
        return self.env.session

    @property
    def catalog(self) -> Catalog:
        return self.env.catalog

    @property
    def now(self) -> datetime:
        return self.env.now

    @property
    def actor(self) -> str:
        return self.env.actor

    @property
    def settings(self) -> Mapping[str, Any]:
        return self.env.settings

    @property
    def links(self) -> Callable[[str], str] | None:
        """kind -> absolute URL for this case ("ticket", "cancel", "ics", a form step id ...),
        issuing a fresh token; None without the web layer, which knows the routes."""
        build, case = self.env.links, self.case
        return (lambda kind: build(case, kind)) if build else None


def new_reference() -> str:
    """A short public case number for people to read out (no secret; 40 random bits)."""
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))


def start_case(session: DbSession, spec: WorkflowSpec, *, actor: str, now: datetime,
               locale: str = "ja", parent: Case | None = None,
               detail: Mapping[str, Any] | None = None,
               data: Mapping[str, Any] | None = None, reference: str | None = None) -> Case:
    """A new case with its ``started`` event. ``data`` is its first answers (keyed by step),
    ``reference`` its public number if the caller made one (``new_reference``) to store in
    them. The row is inserted at once and the case has its id."""
    record_version(session, spec)
    # Where the citizen came from (a poster's QR code), set per request by the web layer.
    origin = session.info.get("origin") or {}
    poster_id = origin.get("poster_id") if origin.get("workflow_id") == spec.id else None
    if parent is not None and parent.id is None:
        session.flush()
    reference = reference or new_reference()
    case = database.insert_now(session, Case, {
        "reference": reference, "workflow_id": spec.id,
        "workflow_version": spec.version, "state": "active", "data": dict(data or {}),
        "locale": locale, "parent_id": parent.id if parent is not None else None,
        "poster_id": poster_id, "created_at": now, "updated_at": now, "erased_at": None,
        **inbox.index_values(spec, data or {}, reference)})
    if poster_id is not None:
        detail = {**(detail or {}), "poster_id": poster_id}
    _append(session, case, None, "started", actor, now, detail)
    return case


def apply(ctx: Context, event: str, *, step: str | None,
          detail: Mapping[str, Any] | None = None) -> None:
    """Record ``event`` on the case (moving its state by the table), then let the workflow's
    steps react to it in the same transaction."""
    if event not in RECORD_EVENTS:
        state = next_state(CASE_TRANSITIONS, ctx.case.state, event)
        if state != ctx.case.state:
            ctx.case.state = state
    _append(ctx.session, ctx.case, step, event, ctx.actor, ctx.now, detail)
    dispatch(ctx, event, step=step, detail=detail or {})
    if event in inbox.ANSWER_EVENTS:
        inbox.refresh(ctx.spec, ctx.case)


def record(session: DbSession, case: Case, event: str, *, step: str | None, actor: str,
           now: datetime, detail: Mapping[str, Any] | None = None) -> None:
    """Append an event that never changes the state (``RECORD_EVENTS``) without a Context:
    no step reacts to these (e.g. ``erased`` from the retention job)."""
    if event not in RECORD_EVENTS:
        raise InvalidTransition(state=case.state, event=event)
    _append(session, case, step, event, actor, now, detail)


def set_step_data(session: DbSession, case: Case, step: str, values: Mapping[str, Any], *,
                  merge: bool = False) -> None:
    """Replace (or merge into) the answers a step holds. Callers record the event.

    The answers of all steps are one JSON value, so the case row is re-read under a lock
    first (PostgreSQL; SQLite transactions are exclusive already): a booking rescheduled while
    the questionnaire is sent must not write back a stale copy of the other step's answers."""
    if (case.id is not None and not database.inserted_here(session, case)  # others see it
            and session.get_bind().dialect.name == "postgresql"):
        session.flush()
        session.refresh(case, ["data"], with_for_update=True)
    data = dict(case.data or {})
    data[step] = {**(data.get(step) or {}), **values} if merge else dict(values)
    case.data = data  # reassign: JSON columns only see a new object


def dispatch(ctx: Context, event: str, *, step: str | None, detail: Mapping[str, Any]) -> None:
    """Every step of the case's workflow reacts to ``event`` (``StepSpec.on_event``)."""
    for spec_step in ctx.spec.steps:
        spec_step.on_event(ctx, event, source_step=step, detail=detail)


def _append(session: DbSession, case: Case, step: str | None, event: str, actor: str,
            now: datetime, detail: Mapping[str, Any] | None) -> None:
    """The event row is written with the transaction's others in one INSERT (before its
    next statement or at commit, see ``database.insert_later``): events are never updated."""
    database.insert_later(session, _EVENTS, {
        "step_id": step, "event": event, "actor": actor, "at": now,
        "detail": dict(detail or {})}, owner=case, collection="events")
    if case.updated_at != now:  # an unchanged value would still mark the case for a flush
        case.updated_at = now


_EVENTS = CaseEvent.metadata.tables["case_event"]
