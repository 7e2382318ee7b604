"""Whether the visitor came: when staff may mark a booking as a no-show, and undoing one.

Rules a reader could not guess from the names:

* A no-show may be marked only from the slot's start plus its grace time (the booking step's
  ``no_show_grace_minutes``, else the site's ``NO_SHOW_GRACE_MINUTES``, 30 by default) —
  the moment the day list itself starts showing the visitor as not arrived. Marked earlier,
  it would complete the case and so close the citizen's questionnaire for a visit still to
  come; it is refused (409 ``no_show_too_early``) and nothing is written.
* A no-show keeps its place: ``no_show`` is one of ``PLACE_STATUSES`` (the time was given to
  this visitor whether or not they came, and a late arrival may still check in). Undoing one
  therefore neither gives back nor takes a place; ``Slot.booked`` stays exactly as it is.
* Undoing moves the booking back to ``confirmed`` and the case back to ``active``
  (``no_show_undone``), recorded on the step the no-show was recorded on, so the citizen's
  page shows that step as booked again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine import localtime, runtime
from engine.errors import Conflict
from engine.models import Booking, CaseEvent
from engine.runtime import Env
from engine.steps.booking.bookings import step_of, transition

if TYPE_CHECKING:
    from engine.steps.booking.spec import Params

# The site's grace time when NO_SHOW_GRACE_MINUTES is not set (web.config checks it).
DEFAULT_GRACE_MINUTES = 30


def site_grace(settings: Mapping[str, Any]) -> timedelta:
    return timedelta(minutes=int(settings.get("NO_SHOW_GRACE_MINUTES", DEFAULT_GRACE_MINUTES)))


def grace(step: Params | None, default: timedelta) -> timedelta:
    """The step's own grace time, or ``default`` (the site's) when it sets none."""
    minutes = getattr(step, "no_show_grace_minutes", None)
    return default if minutes is None else timedelta(minutes=minutes)


def no_show_from(step: Params | None, booking: Booking, default: timedelta) -> datetime:
    """The first moment the booking's visitor may be marked as not arrived."""
    return booking.slot.starts_at + grace(step, default)


def refuse_too_early(env: Env, step: Params | None, booking: Booking) -> None:
    """Raise ``no_show_too_early`` (409) before ``no_show_from``; writes nothing."""
    wait = grace(step, site_grace(env.settings))
    allowed = booking.slot.starts_at + wait
    if env.now < allowed:
        raise Conflict("no_show_too_early", date=localtime.local_date(allowed),
                       time=allowed.astimezone(localtime.TZ).strftime("%H:%M"),
                       minutes=int(wait.total_seconds() // 60))


def undo_no_show(env: Env, booking: Booking) -> Booking:
    """Staff undo a no-show marked by mistake: the booking is confirmed again (keeping the
    place it never gave back) and the case active again, recorded with who did it."""
    _spec, step = step_of(env, booking)
    if booking.status != "no_show":
        raise Conflict("not_no_show")
    if not transition(env.session, booking, "undo_no_show"):
        raise Conflict("booking_changed")  # another request moved it first
    marked = env.session.scalar(
        select(CaseEvent.step_id).where(CaseEvent.case_id == booking.case_id,
                                        CaseEvent.event == "no_show")
        .order_by(CaseEvent.id.desc()).limit(1))
    runtime.apply(env.ctx(booking.case), "no_show_undone", step=marked or step.id,
                  detail={"booking": booking.id})
    return booking
