"""Posters: printed QR codes that lead into a workflow, and whether they worked."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from engine.catalog import Catalog
from engine.database import DbSession
from engine.errors import Invalid, NotFound
from engine.fields import FieldError, has_control
from engine.models import Case, Poster

LABEL_MAX = 120
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes: read out or typed from paper
_CODE = re.compile(f"[{ALPHABET}]{{1,32}}")


def create(session: DbSession, catalog: Catalog, *, workflow_id: str, label: str, actor: str,
           now: datetime) -> Poster:
    label = " ".join(label.split())
    fields: dict[str, str | FieldError] = {}
    if workflow_id not in catalog.specs:
        fields["workflow"] = "invalid_choice"
    if has_control(label):
        fields["label"] = "invalid_character"
    elif not label:
        fields["label"] = "required"
    elif len(label) > LABEL_MAX:
        fields["label"] = FieldError("too_long", max=LABEL_MAX)
    if fields:
        raise Invalid(fields=fields)
    poster = Poster(code="".join(secrets.choice(ALPHABET) for _ in range(8)),
                    workflow_id=workflow_id, label=label, created_by=actor, created_at=now)
    session.add(poster)
    session.flush()
    return poster


def scan(session: DbSession, code: str) -> Poster:
    """Count one scan (a single UPDATE, so concurrent scans are all counted). A code that
    could not have been printed is not looked up (NUL, say, the database refuses)."""
    code = code.strip().lower()
    if not _CODE.fullmatch(code):
        raise NotFound("unknown_poster")
    poster = session.scalar(select(Poster).where(Poster.code == code,
                                                 Poster.active.is_(True)))
    if poster is None:
        raise NotFound("unknown_poster")
    session.execute(update(Poster).where(Poster.id == poster.id)
                    .values(scans=Poster.scans + 1))
    session.flush()
    return poster


@dataclass(frozen=True)
class PosterStats:
    poster: Poster
    cases: int


def stats(session: DbSession, workflow_ids: list[str] | None = None) -> list[PosterStats]:
    """Every poster with the number of cases it started, newest first."""
    started = (select(Case.poster_id, func.count().label("n")).where(Case.poster_id.is_not(None))
               .group_by(Case.poster_id).subquery())
    query = (select(Poster, func.coalesce(started.c.n, 0))
             .outerjoin(started, started.c.poster_id == Poster.id).order_by(Poster.id.desc()))
    if workflow_ids is not None:
        query = query.where(Poster.workflow_id.in_(workflow_ids))
    return [PosterStats(p, int(n)) for p, n in session.execute(query).all()]
