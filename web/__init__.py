"""The Flask layer: ``create_app()`` reads settings, loads and validates the workflows, binds
the extensions and registers one blueprint per area. Views parse, call the engine, commit,
respond."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from flask import Flask

from engine import database
from engine.catalog import Catalog
from engine.localtime import TZ
from engine.spec import SpecError
from web import config, errors, i18n, limits, parts, security
from web.extensions import babel, csrf, db, login_manager, migrate


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True,
                instance_path=str(config.ROOT / "instance"))
    try:
        app.config.from_mapping(config.load(app.instance_path))
    except config.ConfigError as exc:
        raise SystemExit(f"The app cannot start: {exc}") from None
    if test_config:
        app.config.from_mapping(test_config)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = database.engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"])
    _logging(app)
    # JSON in UTF-8 as is: Japanese messages stay readable and half the size of \u escapes.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    try:
        app.extensions["catalog"] = Catalog.load(app.config["WORKFLOWS"])
    except SpecError as exc:
        raise SystemExit("The app cannot start: workflow files have problems.\n"
                         f"{exc}\nRun `flask --app wsgi workflows check` to see them.") from None

    db.init_app(app)
    with app.app_context():
        database.configure(db.engine, ping_idle_seconds=float(
            app.config.get("DATABASE_PING_IDLE_SECONDS", database.PING_IDLE_SECONDS)))
    migrate.init_app(app, db, render_as_batch=True, directory=str(config.ROOT / "migrations"))
    csrf.init_app(app)
    i18n.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale,
                   timezone_selector=lambda: TZ.key)
    login_manager.init_app(app)
    limits.init_app(app)
    errors.init_app(app)
    security.init_app(app)

    from web import api, auth, case, housekeeping, posters, public, staff, steps, tasks
    from web.api import docs as api_docs

    parts.init_app(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(auth.bp)
    staff.init_app(app)
    posters.init_app(app)
    steps.init_app(app)  # each step type's blueprint, pages and API calls
    app.register_blueprint(case.bp)
    app.register_blueprint(api.bp)  # after the step types have added their calls to it
    api.spec.register(app)
    api_docs.init_app(app)  # the API reference page, linked from the staff menu
    housekeeping.init_app(app)
    tasks.celery_init_app(app)  # after every part has added its periodic jobs

    from web import cli
    cli.init_app(app)
    return app


def _logging(app: Flask) -> None:
    """Structured JSON log lines, Japanese kept readable. Personal data is never logged."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
