"""A printed QR code (poster, leaflet, LINE post) bound to a workflow, counting its scans and
the cases it started, so staff know whether it worked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class Poster(Base):
    __tablename__ = "poster"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Short, random, printed in the QR code's URL (/p/<code>); not a secret.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    workflow_id: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(String(120))
    scans: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
