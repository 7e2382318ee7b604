"""The one set-up every benchmark shares: an empty schema in the database it is pointed at."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine


def recreate(engine: Engine) -> None:
    """Drop every table (and Alembic's stamp, so `db upgrade` is not fooled later) and create
    the current schema. Call inside the app's context with ``db.engine``."""
    from engine.models import Base

    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    Base.metadata.create_all(engine)
