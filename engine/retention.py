"""Personal data is kept only as long as the workflow says (``retention_days``).

A case that has ended (completed, cancelled, expired, rejected) and has not changed for that
many days loses its answers, its booking's email key, its messages, its webhook deliveries
(their bodies hold the answers) and its link tokens; the case row,
its booking times and its history stay (for statistics and the audit trail), and the erasure
itself is recorded as an ``erased`` event. Active cases are never erased."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from engine import runtime
from engine.catalog import Catalog
from engine.database import DbSession
from engine.models import Booking, Case, Message, Token, WebhookDelivery

ENDED = ("completed", "cancelled", "expired", "rejected")


def due(session: DbSession, catalog: Catalog, *, now: datetime, limit: int = 500) -> list[Case]:
    """Ended, not yet erased cases whose workflow's retention period has passed."""
    out: list[Case] = []
    for spec in catalog:
        cutoff = now - timedelta(days=spec.retention_days)
        out.extend(session.scalars(
            select(Case).where(Case.workflow_id == spec.id, Case.state.in_(ENDED),
                               Case.erased_at.is_(None), Case.updated_at < cutoff)
            .order_by(Case.id).limit(limit)).all())
    return out


def erase(session: DbSession, case: Case, *, actor: str, now: datetime) -> None:
    """Remove the personal data of one case and record that it was done."""
    case.data = {}
    case.erased_at = now
    session.execute(update(Booking).where(Booking.case_id == case.id).values(email_key=None))
    result = session.execute(delete(Message).where(Message.case_id == case.id))
    messages = int(getattr(result, "rowcount", 0) or 0)
    session.execute(delete(Token).where(Token.case_id == case.id))
    result = session.execute(delete(WebhookDelivery).where(WebhookDelivery.case_id == case.id))
    webhooks = int(getattr(result, "rowcount", 0) or 0)
    runtime.record(session, case, "erased", step=None, actor=actor, now=now,
                   detail={"messages_deleted": messages, "webhooks_deleted": webhooks})
    session.flush()


def run(session: DbSession, catalog: Catalog, *, now: datetime, actor: str = "system") -> int:
    cases = due(session, catalog, now=now)
    for case in cases:
        erase(session, case, actor=actor, now=now)
    return len(cases)

