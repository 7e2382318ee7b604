"""The digest job: every minute (beat), each routing group that reads digests gets one email
per finished window listing what arrived (``engine.steps.review.processing.send_digests``),
delivered by the outbox like every email."""

from __future__ import annotations

from celery import shared_task
from flask import Flask, current_app

from engine.steps.review import processing
from web.context import catalog, now
from web.extensions import db


def configure(app: Flask) -> None:
    app.config.setdefault("REVIEW_DIGEST_SECONDS", 60)


@shared_task(name="review.digests", ignore_result=True)
def digests() -> int:
    queued = processing.send_digests(db.session, catalog(), now=now(),
                                     settings=current_app.config)
    db.session.commit()  # the outbox's hooks dispatch what was queued
    return queued
