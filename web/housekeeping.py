"""Periodic upkeep that is not part of any one step: erasing personal data whose retention
period has passed (daily, by Celery beat; also `flask --app wsgi retention run`)."""

from __future__ import annotations

import click
import structlog
from celery import shared_task
from flask import Flask
from flask.cli import with_appcontext

from engine import retention
from web import parts
from web.context import catalog, now
from web.extensions import db

log = structlog.get_logger()


@shared_task(name="housekeeping.erase_expired")
def erase_expired() -> int:
    count = retention.run(db.session, catalog(), now=now())
    db.session.commit()
    log.info("retention_erased", cases=count)
    return count


def init_app(app: Flask) -> None:
    parts.of(app).beat["erase-expired-personal-data"] = {
        "task": "housekeeping.erase_expired", "schedule": 24 * 3600}
    app.cli.add_command(retention_cli)


@click.group("retention", help="Erase personal data past each workflow's retention period.")
def retention_cli() -> None:
    pass


@retention_cli.command("run")
@with_appcontext
def run() -> None:
    """Erase now what is due, and say how many cases were erased."""
    click.echo(f"erased {erase_expired()} case(s)")
