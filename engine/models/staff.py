"""Staff users, the workflows and counters they serve, and their API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow

ROLES = ("admin", "staff")


class StaffUser(Base):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(16), default="staff")
    password_hash: Mapped[str] = mapped_column(String(255))
    # Workflow ids and counter ids this person serves; admins serve everything.
    workflows: Mapped[list[Any]] = mapped_column(default=list)
    counters: Mapped[list[Any]] = mapped_column(default=list)
    # Routing groups (a school, a department's desk) whose cases this person sees and acts on.
    groups: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="staff")

    # The user protocol Flask-Login expects (kept here so the engine need not import it).
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    @property
    def actor(self) -> str:
        return f"staff:{self.id}"

    def serves_workflow(self, workflow_id: str) -> bool:
        return self.role == "admin" or workflow_id in (self.workflows or [])

    def serves_counter(self, counter: str) -> bool:
        return self.role == "admin" or counter in (self.counters or [])

    def serves_group(self, group: str | None) -> bool:
        """A case sent to no group is seen by everyone serving its workflow."""
        return self.role == "admin" or group is None or group in (self.groups or [])


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    # The first characters, to tell tokens apart in listings; the rest is only hashed.
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    staff: Mapped[StaffUser] = relationship(back_populates="tokens")
