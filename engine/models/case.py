"""A citizen's journey through one workflow, and its append-only history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import DDL, ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow


class WorkflowVersion(Base):
    """The source of every workflow version a case was started with, so editing a file never
    breaks a case in flight: the case's spec is re-read from here."""

    __tablename__ = "workflow_version"
    __table_args__ = (UniqueConstraint("workflow_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(Text)
    # Files the workflow names (mail and print templates), keyed by relative path.
    assets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Case(Base):
    __tablename__ = "case"
    __table_args__ = (
        Index(None, "workflow_id", "state"),
        # The inbox pages newest first (keyset on created_at, id), per workflow and per group.
        Index("ix_case_inbox", "created_at", "id"),
        Index("ix_case_inbox_workflow", "workflow_id", "created_at", "id"),
        Index("ix_case_inbox_group", "group_id", "created_at", "id"),
        Index("ix_case_group_day", "group_id", "day"),
        # The inbox search (``search_text LIKE '%…%'``) by trigrams: PostgreSQL only (SQLite
        # scans, which is fine at its sizes).
        Index("ix_case_search_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Public, non-guessable reference shown to citizens and staff (not a secret).
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    workflow_id: Mapped[str] = mapped_column(String(64))
    workflow_version: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(24), default="active")
    # Answers keyed by step id: {"visit": {"name": ...}, "questionnaire": {...}}.
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    # The poster (printed QR code) the citizen came from, if any.
    poster_id: Mapped[int | None] = mapped_column(ForeignKey("poster.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[datetime | None]
    # What the inbox filters and searches on, kept by ``engine.inbox`` as the case changes.
    # The routing group the case was sent to (``engine.steps.review``), None when the
    # workflow does not route: then everyone serving the workflow sees it.
    group_id: Mapped[str | None] = mapped_column(String(64))
    # Processing by staff (``engine.steps.review``): received, in_progress, returned,
    # completed, rejected; None until something was sent to process.
    processing: Mapped[str | None] = mapped_column(String(16))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    submitted_at: Mapped[datetime | None]
    # The day the case is about, for its group's day page: the date an absence notice is
    # for (the review step's ``day_field``), else the day in Japan it was sent.
    day: Mapped[date | None]
    # The start of the case's current booking (the visit), for the visit-date filter.
    visit_at: Mapped[datetime | None] = mapped_column(index=True)
    # The reference, names, readings (folded), phone digits and email, for the inbox search.
    search_text: Mapped[str] = mapped_column(Text, default="")

    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="all, delete-orphan",
        passive_deletes=True,
    )
    parent: Mapped[Case | None] = relationship(remote_side=[id])


# The trigram operators of the search index (a trusted extension: the database owner may
# create it).
event.listen(Case.__table__, "before_create", DDL(
    "CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))


class CaseEvent(Base):
    """Append-only: rows are inserted by ``engine.runtime`` and never updated."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(96))
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    case: Mapped[Case] = relationship(back_populates="events")


class CaseNote(Base):
    """A staff member's internal note on a case; never shown to the citizen."""

    __tablename__ = "case_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyKey(Base):
    """Remembers the outcome of a write that carried an ``Idempotency-Key`` so a retry or a
    double click returns the first result instead of acting twice."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(96))
    key: Mapped[str] = mapped_column(String(128))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case | None] = relationship()
