"""Who on the staff may see a case: the one rule every staff page, API call, PDF, export,
mail page and webhook log applies (404 otherwise, so staff of another workflow, counter or
routing group learn nothing about it).

A staff member sees a case when they serve its workflow, its routing group (a case sent to
no group is seen by everyone serving the workflow) and the counter of every booking it has.
Admins see everything."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from engine.database import DbSession
from engine.models import Booking, Case, Slot, StaffUser


def sees(session: DbSession, staff: StaffUser, case: Case) -> bool:
    if staff.role == "admin":
        return True
    return sees_given(staff, case, counters_of(session, case))


def counters_of(session: DbSession, case: Case) -> list[str]:
    """The counters of the case's bookings."""
    return list(session.scalars(select(Slot.counter).join(Booking, Booking.slot_id == Slot.id)
                                .where(Booking.case_id == case.id)))


def sees_given(staff: StaffUser, case: Case, counters: list[str]) -> bool:
    """``sees``, the case's counters read once for many staff members (``counters_of``)."""
    if staff.role == "admin":
        return True
    return (staff.serves_workflow(case.workflow_id) and staff.serves_group(case.group_id)
            and all(staff.serves_counter(c) for c in counters))


def visible(staff: StaffUser) -> ColumnElement[bool]:
    """The same rule as ``sees``, as a condition on ``Case`` for listing queries."""
    if staff.role == "admin":
        return true()
    workflows = list(staff.workflows or [])
    if not workflows:
        return false()
    groups = list(staff.groups or [])
    counters = list(staff.counters or [])
    group_rule: Any = Case.group_id.is_(None)
    if groups:
        group_rule = or_(group_rule, Case.group_id.in_(groups))
    other_counter = exists().where(Booking.case_id == Case.id, Booking.slot_id == Slot.id,
                                   Slot.counter.not_in(counters) if counters else true())
    return and_(Case.workflow_id.in_(workflows), group_rule, ~other_counter)
