"""The scan log: every scan of a day at the counters a member of staff serves, accepted and
refused, forged ones too, newest first.

A scan belongs to the counter it was made at (``CheckIn.counter``: the scanner page always
names its desk). A scan made without one (a call of the API that names no counter) belongs
to the counter of the booking it found; a forged or unknown code scanned that way found no
booking and belongs to no counter, so only admins see it. Staff see the scans of the
counters they serve and nothing of the others'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from engine.database import DbSession
from engine.localtime import day_bounds, local_date
from engine.models import Booking, CheckIn, Slot
from engine.steps.checkin.accept import OVERRIDABLE
from engine.steps.checkin.scan import CHECKIN_FROM

RESULTS = ("ok", "accepted", "refused")
LIMIT = 2000


@dataclass(frozen=True)
class Entry:
    checkin_id: int
    at: datetime
    reason: str  # the CheckIn reason code
    result: str  # one of RESULTS
    counter: str | None  # where it was scanned, else the booking's counter
    actor: str
    booking_id: int | None
    case_id: int | None
    workflow_id: str | None
    note: str | None  # the reason staff gave when accepting
    accepts_id: int | None  # the refused scan this acceptance overrides
    accepted_by: int | None  # the acceptance of this refused scan, if any
    acceptable: bool  # a refusal that may still be accepted now


def result_of(row: CheckIn) -> str:
    if row.reason != "ok":
        return "refused"
    return "accepted" if row.accepts_id is not None else "ok"


def scans(session: DbSession, *, day: date, counters: Sequence[str] | None, now: datetime,
          result: str = "") -> list[Entry]:
    """The scans of ``day`` (Asia/Tokyo) at ``counters`` (None: every counter, for admins),
    newest first; ``result`` keeps only ok, accepted or refused ones."""
    start, end = day_bounds(day)
    acceptance = aliased(CheckIn)
    counter = Slot.counter
    stmt = (select(CheckIn, Booking.case_id, Booking.workflow_id, Booking.status, counter,
                   acceptance.id)
            .outerjoin(Booking, CheckIn.booking_id == Booking.id)
            .outerjoin(Slot, Booking.slot_id == Slot.id)
            .outerjoin(acceptance, acceptance.accepts_id == CheckIn.id)
            .where(CheckIn.at >= start, CheckIn.at < end)
            .order_by(CheckIn.at.desc(), CheckIn.id.desc()).limit(LIMIT))
    if counters is not None:
        mine = list(counters)
        stmt = stmt.where(or_(CheckIn.counter.in_(mine),
                              and_(CheckIn.counter.is_(None), counter.in_(mine))))
    if result == "refused":
        stmt = stmt.where(CheckIn.reason != "ok")
    elif result == "accepted":
        stmt = stmt.where(CheckIn.reason == "ok", CheckIn.accepts_id.is_not(None))
    elif result == "ok":
        stmt = stmt.where(CheckIn.reason == "ok", CheckIn.accepts_id.is_(None))
    today = local_date(now)
    out: list[Entry] = []
    for row, case_id, workflow_id, status, booked_at, accepted_by in session.execute(stmt):
        out.append(Entry(
            checkin_id=row.id, at=row.at, reason=row.reason, result=result_of(row),
            counter=row.counter or booked_at, actor=row.actor, booking_id=row.booking_id,
            case_id=case_id, workflow_id=workflow_id, note=row.note, accepts_id=row.accepts_id,
            accepted_by=accepted_by,
            acceptable=(row.reason in OVERRIDABLE and accepted_by is None
                        and status in CHECKIN_FROM and local_date(row.at) == today)))
    return out
