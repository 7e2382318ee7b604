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
from werkzeug.routing import IntegerConverter, Map

from engine import database
from engine.catalog import Catalog
from engine.localtime import TZ
from engine.spec import SpecError
from web import config, errors, i18n, labels, limits, parts, security
from web.extensions import babel, csrf, db, login_manager, migrate


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True,
                instance_path=str(config.ROOT / "instance"))
    _routing(app)
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
    labels.init_app(app)  # codes into words: Jinja filters for every page
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


def _routing(app: Flask) -> None:
    """Path ids (``<int:...>``) are row ids: one beyond the id columns' range is no row (404),
    not a query the database refuses. Set before any blueprint adds its rules."""
    app.url_map.converters["int"] = RowIdConverter


class RowIdConverter(IntegerConverter):
    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", database.MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)


def _logging(app: Flask) -> None:
    """Structured JSON log lines, Japanese kept readable. Personal data is never logged.
    Records of other loggers (Flask's own "Exception on ..." with its traceback, the
    libraries') go through the same renderer, so every line is one JSON object."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    if not any(isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
               for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        structlog.processors.JSONRenderer(ensure_ascii=False)]))
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
