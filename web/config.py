"""Settings: defaults, then environment variables, checked once at start-up.

The embedded default needs no settings at all (SQLite in ``instance/``, tasks in-process,
emails kept in the outbox). With ``APP_ENV=production`` every setting production needs is
checked and *all* problems are reported at once.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from engine.localtime import TZ

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


def _database_url(url: str) -> str:
    for old in ("postgres://", "postgresql://"):
        if url.startswith(old):
            return "postgresql+psycopg://" + url[len(old):]
    return url


def _instance_secret(instance: Path) -> str:
    """A stable secret for the embedded default, created on first start (mode 0600)."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _served_at(env: dict[str, str]) -> str:
    """The address ``flask run`` serves (``make run`` sets FLASK_RUN_HOST and FLASK_RUN_PORT
    from HOST and PORT), so links in emails lead back to this app when BASE_URL is unset."""
    host = env.get("FLASK_RUN_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 (listening everywhere: link to this machine)
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{env.get('FLASK_RUN_PORT') or 5000}"


def load(instance_path: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ if env is None else env)
    instance = Path(instance_path)
    production = env.get("APP_ENV", "development") == "production"
    problems: list[str] = []

    database_url = _database_url(env.get("DATABASE_URL", ""))
    if not database_url:
        if production:
            problems.append("DATABASE_URL is required in production "
                            "(postgresql+psycopg://user:password@host/dbname)")
        instance.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{instance / 'madoguchi.db'}"
    elif not database_url.startswith(("postgresql+psycopg://", "sqlite:///")):
        problems.append(f"DATABASE_URL: unsupported scheme in {database_url.split(':')[0]!r} "
                        "(use postgresql+psycopg:// or sqlite:///)")

    secret_key = env.get("SECRET_KEY", "")
    if production and len(secret_key) < 32:
        problems.append("SECRET_KEY must be set to at least 32 random characters in production "
                        "(python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    if not secret_key:
        secret_key = _instance_secret(instance)

    base_url = (env.get("BASE_URL") or _served_at(env)).rstrip("/")
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        problems.append(f"BASE_URL must be an absolute http(s) URL, got {base_url!r}")
    elif production and parsed.scheme != "https":
        problems.append("BASE_URL must use https in production (links in emails and QR codes)")
    if production and "BASE_URL" not in env:
        problems.append("BASE_URL is required in production (the public address of this site)")

    redis_url = env.get("REDIS_URL") or None
    if redis_url and urlparse(redis_url).scheme not in ("redis", "rediss"):
        problems.append(f"REDIS_URL must start with redis:// or rediss://, got {redis_url!r}")
    if production and not redis_url:
        problems.append("REDIS_URL is required in production (the Celery broker)")

    smtp_host = env.get("SMTP_HOST") or None
    try:
        smtp_port = int(env.get("SMTP_PORT", "587" if smtp_host else "25"))
        if not 0 < smtp_port < 65536:
            raise ValueError
    except ValueError:
        problems.append(f"SMTP_PORT must be a port number, got {env.get('SMTP_PORT')!r}")
        smtp_port = 25
    smtp_tls = env.get("SMTP_TLS", "starttls").lower()
    if smtp_tls not in ("starttls", "ssl", "none"):
        problems.append(f"SMTP_TLS must be starttls, ssl or none, got {smtp_tls!r}")
    if production and not smtp_host:
        problems.append("SMTP_HOST is required in production (emails are never only stored)")
    mail_from = env.get("MAIL_FROM", "no-reply@madoguchi.invalid")
    if production and "MAIL_FROM" not in env:
        problems.append("MAIL_FROM is required in production (the sender of citizens' emails)")

    try:
        no_show_grace = int(env.get("NO_SHOW_GRACE_MINUTES", "30"))
        if no_show_grace < 0:
            raise ValueError
    except ValueError:
        problems.append("NO_SHOW_GRACE_MINUTES must be a whole number of minutes, got "
                        f"{env.get('NO_SHOW_GRACE_MINUTES')!r}")
        no_show_grace = 30

    if problems:
        raise ConfigError(problems)

    secure = parsed.scheme == "https"
    return {
        "APP_ENV": "production" if production else "development",
        "SECRET_KEY": secret_key,
        "BASE_URL": base_url,
        "SITE_NAME": env.get("SITE_NAME", ""),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "SMTP_HOST": smtp_host,
        "SMTP_PORT": smtp_port,
        "SMTP_USER": env.get("SMTP_USER") or None,
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD") or None,
        "SMTP_TLS": smtp_tls,
        "MAIL_FROM": mail_from,
        "NO_SHOW_GRACE_MINUTES": no_show_grace,
        "WORKFLOWS": [p for p in env.get("WORKFLOWS_DIR", str(ROOT / "workflows")).split(
            os.pathsep) if p],
        "SESSION_COOKIE_SECURE": secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "__Host-session" if secure else "session",
        "REMEMBER_COOKIE_SECURE": secure,
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "WTF_I18N_ENABLED": True,
        "BABEL_DEFAULT_LOCALE": "ja",
        "BABEL_DEFAULT_TIMEZONE": TZ.key,
        "PREFERRED_URL_SCHEME": parsed.scheme,
    }
