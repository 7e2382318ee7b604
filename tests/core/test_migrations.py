"""`flask db upgrade` builds the whole schema on SQLite and PostgreSQL, and the migration and
the models agree (a model change without `make migration` fails here)."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text

from engine import database
from engine.models import Base
from tests.services import need_postgres
from web import create_app
from web.extensions import db


def _upgrade_and_compare(url: str) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "include_object": database.on_dialect(conn.dialect.name)})
            diff = compare_metadata(context, Base.metadata)
            tables = set(inspect(conn).get_table_names())
        db.engine.dispose()
    assert diff == [], f"models and migrations differ; run `make migration`: {diff}"
    assert set(Base.metadata.tables) <= tables


def test_upgrade_on_sqlite(tmp_path):
    _upgrade_and_compare(f"sqlite:///{tmp_path / 'fresh.db'}")


@pytest.mark.integration
def test_upgrade_on_postgresql():
    base = need_postgres()
    name = f"mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _upgrade_and_compare(base.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
