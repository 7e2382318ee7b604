"""What a notify step does when an event of its case is one it is sent on: queue the email
in the outbox by its cause (same transaction), and write it (subject, text, HTML, .ics, links)
when it is delivered."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from engine.localtime import TZ
from engine.models import Booking, Case, CaseEvent, Message
from engine.spec import StepSpec
from engine.steps.notify import outbox, render
from engine.steps.notify.events import BOOKING_EVENTS

if TYPE_CHECKING:
    from engine.runtime import Context
    from engine.steps.notify.spec import Params

WEEKDAYS_JA = "月火水木金土日"
# Spelt out rather than strftime's %A/%B, which follow the server's locale.
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")



def on_event(ctx: Context, step: Params, event: str, *, source_step: str | None,
             detail: Mapping[str, Any]) -> None:
    """Queue this step's email if ``event`` is one it is sent on (same transaction)."""
    if event not in step.on:
        return
    booking_step = step.booking_step(ctx.spec)
    wanted = step.source or (booking_step.id if booking_step and event in BOOKING_EVENTS
                             else None)
    if wanted is not None and source_step != wanted:
        return
    booking = _booking(ctx, booking_step, detail)
    if event in BOOKING_EVENTS and booking is None:
        return  # nothing was booked, so there is nothing to tell about
    if event == "reminder":
        if booking is None or not _reminder_due(step, booking, ctx.now):
            return
        key = (f"notify:{ctx.case.id}:{step.id}:reminder:{booking.id}:"
               f"{booking.slot.starts_at.isoformat()}")
    elif booking is not None and event in BOOKING_EVENTS:
        # A booking is booked once and cancelled once, each reschedule bumps its sequence
        # and each waitlist offer is a booking of its own: unique per cause, no query.
        key = f"notify:{ctx.case.id}:{step.id}:{event}:b{booking.id}.{booking.sequence}"
    else:
        # The event row just recorded: unique per cause, so a key per (step, cause).
        cause = ctx.session.scalar(select(func.max(CaseEvent.id)).where(
            CaseEvent.case_id == ctx.case.id, CaseEvent.event == event))
        key = f"notify:{ctx.case.id}:{step.id}:{event}:{cause}"
    queue(ctx, step, event, key=key, booking=booking)


def queue(ctx: Context, step: Params, event: str, *, key: str,
          booking: Booking | None) -> int | None:
    """Queue the message by its cause; ``render`` writes it when it is delivered. A message
    with no address is stored as failed with the reason at once (the change that caused it
    still commits)."""
    case = ctx.case
    sender = str(ctx.settings.get("MAIL_FROM") or "no-reply@localhost")
    to = address(case, step)
    failed = None if to else "no address: the field is empty"
    new_id = outbox.enqueue(
        ctx.session, key=key, to=to, now=ctx.now, domain=outbox.domain_of(sender),
        case=case, step_id=step.id, event=event,
        booking_id=booking.id if booking is not None else None,
        locale=_locale(case, step), failed=failed)
    if new_id is not None:
        from engine import runtime

        runtime.apply(ctx, "message_failed" if failed else "message_queued", step=None,
                      detail={"message": new_id, "notify": step.id})
    return new_id


@dataclass(frozen=True)
class Rendered:
    to: str
    subject: str
    text: str
    html: str | None
    attachments: list[dict[str, Any]]


class CannotRender(Exception):
    """The message cannot be written; ``str(exc)`` is the reason staff see."""


def write(ctx: Context, step: Params, message: Message) -> Rendered:
    """Write the message queued for ``step``: subject, text, HTML, .ics, in its locale, with
    links from ``ctx.links`` (each issues a token in ``ctx.session``). Raises CannotRender."""
    to = address(ctx.case, step)
    if not to:
        raise CannotRender("no address: the field is empty")
    if step.links and ctx.links is None:
        raise CannotRender("cannot render: links cannot be built here (no web layer to name "
                           "the pages)")
    locale, event = message.locale, message.event or ""
    booking_step = step.booking_step(ctx.spec)
    booking = (ctx.session.get(Booking, message.booking_id)
               if message.booking_id is not None else None)
    try:
        variables = {**_variables(ctx, step, locale, booking_step, booking), "event": event}
        subject = " ".join(render.render(
            step.subject.get(locale), html=False, variables=variables).split())
        text = render.render(ctx.spec.asset(f"{step.template}.{locale}.txt"),
                                    html=False, variables=variables)
        html = (render.render(ctx.spec.asset(f"{step.template}.{locale}.html"),
                                     html=True, variables=variables) if step.html else None)
        attachments = ([_ics(ctx, booking_step, booking, event)]
                       if step.attach_ics and booking is not None and booking_step is not None
                       else [])
    except SQLAlchemyError:
        raise  # the database, not this message: the delivery is tried again
    except Exception as exc:  # a template or data problem of this one message
        raise CannotRender(f"cannot render: {type(exc).__name__}: {exc}"[:500]) from exc
    return Rendered(to=to, subject=subject, text=text, html=html, attachments=attachments)


def address(case: Case, step: Params) -> str:
    """The address in the field ``step.to`` names ("" if empty)."""
    step_id, _, field_id = step.to.partition(".")
    return str(((case.data or {}).get(step_id) or {}).get(field_id) or "")


def _locale(case: Case, step: Params) -> str:
    return "en" if (case.locale or "ja").startswith("en") and step.subject.en else "ja"


def _booking(ctx: Context, booking_step: StepSpec | None, detail: Mapping[str, Any]
             ) -> Booking | None:
    if detail.get("booking_id") is not None:
        return ctx.session.get(Booking, detail["booking_id"])  # type: ignore[no-any-return]
    if booking_step is None:
        return None
    return ctx.session.scalar(select(Booking).where(  # type: ignore[no-any-return]
        Booking.case_id == ctx.case.id, Booking.step_id == booking_step.id
    ).order_by(Booking.id.desc()).limit(1))


def _reminder_due(step: Params, booking: Booking, now: datetime) -> bool:
    """Inside the window [start - hours_before, start), confirmed, and not reminded since
    the window opened (a reschedule to a later time opens a new window)."""
    start = booking.slot.starts_at
    opens = start - timedelta(hours=step.hours_before or 0)
    return (booking.status == "confirmed" and opens <= now < start
            and (booking.reminded_at is None or booking.reminded_at < opens))


def when_text(start: datetime, end: datetime, locale: str) -> str:
    s, e = start.astimezone(TZ), end.astimezone(TZ)
    if locale == "en":
        return (f"{WEEKDAYS_EN[s.weekday()]}, {s.day} {MONTHS_EN[s.month - 1]} {s.year}, "
                f"{s:%H:%M}–{e:%H:%M}")
    return (f"{s.year}年{s.month}月{s.day}日（{WEEKDAYS_JA[s.weekday()]}） "
            f"{s:%H:%M}〜{e:%H:%M}")


def _moment(at: datetime, locale: str) -> str:
    t = at.astimezone(TZ)
    if locale == "en":
        return f"{t.day} {MONTHS_EN[t.month - 1]} {t.year}, {t:%H:%M}"
    return f"{t.year}年{t.month}月{t.day}日（{WEEKDAYS_JA[t.weekday()]}） {t:%H:%M}"


def _variables(ctx: Context, step: Params, locale: str, booking_step: StepSpec | None,
               booking: Booking | None) -> dict[str, Any]:
    case = ctx.case
    build = ctx.links
    links = {kind: build(kind) for kind in step.links} if build is not None else {}
    visit: dict[str, Any] = {}
    if booking_step is not None:
        start = booking.slot.starts_at if booking is not None else None
        end = booking.slot.ends_at if booking is not None else None
        if start is None:
            data = (case.data or {}).get(booking_step.id) or {}
            start = datetime.fromisoformat(data["start"]) if data.get("start") else None
            end = datetime.fromisoformat(data["end"]) if data.get("end") else None
        counter = getattr(booking_step, "counter_name", None)
        location = getattr(booking_step, "location", None)
        visit = {
            "when": when_text(start, end, locale) if start and end else "",
            "date": start.astimezone(TZ).date().isoformat() if start else "",
            "start": f"{start.astimezone(TZ):%H:%M}" if start else "",
            "end": f"{end.astimezone(TZ):%H:%M}" if end else "",
            "counter_name": counter.get(locale) if counter else "",
            "location": location.get(locale) if location else "",
            "hold_until": _moment(booking.hold_expires_at, locale)
            if booking is not None and booking.hold_expires_at else "",
        }
    return {
        "case": {"reference": case.reference, "locale": locale},
        "answers": case.data or {},
        "booking": visit,
        "links": links,
        "workflow": {"title": ctx.spec.title.get(locale)},
        # What staff wrote to the citizen when returning or rejecting (engine.steps.review
        # keeps it under "_review" with the answers, so it is erased with them).
        "review": {"message": ((case.data or {}).get("_review") or {}).get("message", "")},
        "site": {"name": ctx.settings.get("SITE_NAME") or ""},
    }


def _ics(ctx: Context, booking_step: StepSpec, booking: Booking, event: str) -> dict[str, Any]:
    from engine.steps.booking.calendars import booking_ics

    data = booking_ics(ctx.spec, booking_step, booking, ctx.case, now=ctx.now,
                       cancelled=event == "cancelled")
    return {"filename": f"{ctx.case.reference}.ics",
            "content_type": "text/calendar; method=PUBLISH",
            "data": base64.b64encode(data).decode("ascii")}
