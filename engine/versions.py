"""The versions of workflows that cases started with, stored so that a case keeps being
served by its version after the file (or the studio) changes it."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from engine.database import DbSession
from engine.models import WorkflowVersion
from engine.models.base import utcnow
from engine.spec import WorkflowSpec

_recorded: WeakKeyDictionary[Any, set[tuple[str, str]]] = WeakKeyDictionary()


def record_version(session: DbSession, spec: WorkflowSpec) -> None:
    """Store the source of ``spec`` (once), so a case started with it can be served by this
    version after the file changes. The first cases of a new version often arrive together
    (an announcement), so this is an insert that ignores the row another one wrote."""
    bind = session.get_bind()
    known = _recorded.setdefault(bind, set())
    if (spec.id, spec.version) in known:
        return
    exists = session.scalar(select(WorkflowVersion.id).filter_by(
        workflow_id=spec.id, version=spec.version))
    if exists is not None:
        # Seen committed: remembered per engine, so later cases skip the lookup. A row this
        # transaction inserts is not remembered (the transaction may still roll back).
        known.add((spec.id, spec.version))
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(WorkflowVersion).values(
        workflow_id=spec.id, version=spec.version, path=spec.path, source=spec.source,
        assets=dict(spec.texts), created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["workflow_id", "version"]))
