"""Japanese first, English second: locale choice, catalogues, and date formatting helpers.

Each part of the web layer keeps its own catalogue in ``web/translations/<part>/`` (msgids in
English, Japanese translations), so parts can be translated independently; Flask-Babel merges
them. Catalogues are compiled from the ``.po`` sources when they are newer than the ``.mo``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request, session

from engine.localtime import TZ
from web.context import api_request

LOCALES = ("ja", "en")
HERE = Path(__file__).parent
TRANSLATIONS = HERE / "translations"


def translation_directories() -> list[str]:
    return sorted(str(p) for p in TRANSLATIONS.iterdir() if p.is_dir())


def compile_catalogues() -> None:
    for po in TRANSLATIONS.glob("*/*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog)
        tmp.replace(mo)


def select_locale() -> str:
    """The switch in the page header (remembered in the session), else Accept-Language. The
    JSON API takes Accept-Language alone: it never reads the session cookie, so a browser's
    choice for the pages does not change an integration's messages."""
    if not request:
        return "ja"
    if not api_request():
        chosen = session.get("lang")
        if chosen in LOCALES:
            return str(chosen)
    return request.accept_languages.best_match(LOCALES, default="ja")


def local(dt: datetime) -> datetime:
    return dt.astimezone(TZ)


def current_locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "ja")


def init_app(app: Flask) -> None:
    compile_catalogues()
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(translation_directories())
    app.jinja_env.globals.update(get_locale=current_locale, local_time=local)


def extract_msgids() -> dict[str, str]:
    """Every translatable string in the web layer -> the file it first appears in."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    keywords = dict(DEFAULT_KEYWORDS, lazy_gettext=None, _l=None)
    method_map = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
    found: dict[str, str] = {}
    for filename, _line, msg, _comments, _ctx in extract_from_dir(
            str(HERE), method_map=method_map, keywords=keywords):
        for text in (msg if isinstance(msg, tuple) else (msg,)):
            if text:
                found.setdefault(text, filename)
    return found


def translated(locale: str = "ja") -> dict[str, str]:
    """The merged catalogue of every part for ``locale``."""
    out: dict[str, str] = {}
    for po in TRANSLATIONS.glob(f"*/{locale}/LC_MESSAGES/messages.po"):
        with po.open("rb") as f:
            for message in read_po(f):
                if message.id and message.string:
                    key = message.id if isinstance(message.id, str) else message.id[0]
                    out[key] = message.string if isinstance(message.string, str) else (
                        message.string[0])
    return out


def missing(locale: str = "ja") -> list[tuple[str, str]]:
    done = translated(locale)
    return sorted((f, m) for m, f in extract_msgids().items() if m not in done)
