"""Settings: none needed for the embedded default; production lists every problem at once."""

from __future__ import annotations

import pytest

from web import config


def test_embedded_default_needs_no_settings(tmp_path):
    settings = config.load(str(tmp_path / "instance"), env={})
    assert settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert len(settings["SECRET_KEY"]) >= 32
    assert settings["REDIS_URL"] is None and settings["SMTP_HOST"] is None
    # The generated secret is kept, so sessions and links survive a restart.
    assert config.load(str(tmp_path / "instance"), env={})["SECRET_KEY"] == settings["SECRET_KEY"]
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_production_reports_every_bad_or_missing_value(tmp_path):
    env = {"APP_ENV": "production", "SECRET_KEY": "short", "BASE_URL": "http://city.example",
           "REDIS_URL": "http://nope", "SMTP_PORT": "smtp", "DATABASE_URL": "mysql://x"}
    with pytest.raises(config.ConfigError) as info:
        config.load(str(tmp_path), env=env)
    text = str(info.value)
    for expected in ("DATABASE_URL: unsupported scheme", "SECRET_KEY must be set",
                     "BASE_URL must use https", "REDIS_URL must start with redis://",
                     "SMTP_PORT must be a port number", "SMTP_HOST is required",
                     "MAIL_FROM is required"):
        assert expected in text
    assert len(info.value.problems) == 7


def test_production_with_good_settings(tmp_path):
    env = {"APP_ENV": "production", "SECRET_KEY": "k" * 40,
           "BASE_URL": "https://yoyaku.city.example", "REDIS_URL": "redis://127.0.0.1:6379/0",
           "SMTP_HOST": "smtp.city.example", "MAIL_FROM": "yoyaku@city.example",
           "DATABASE_URL": "postgres://app:pw@db/app"}
    settings = config.load(str(tmp_path), env=env)
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://app:pw@db/app"
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_NAME"] == "__Host-session"
    assert settings["SMTP_PORT"] == 587


def test_app_refuses_to_start_with_bad_production_settings(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {"APP_ENV": "production", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "The app cannot start: invalid settings:" in result.stderr
    assert "DATABASE_URL is required in production" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_show_grace_from_the_environment(tmp_path):
    assert config.load(str(tmp_path), env={"NO_SHOW_GRACE_MINUTES": "45"})[
        "NO_SHOW_GRACE_MINUTES"] == 45
    with pytest.raises(config.ConfigError, match="NO_SHOW_GRACE_MINUTES"):
        config.load(str(tmp_path), env={"NO_SHOW_GRACE_MINUTES": "soon"})


def test_base_url_follows_the_port_the_app_runs_on_unless_set(tmp_path):
    def base_url(**env: str) -> str:
        return config.load(str(tmp_path), env=env)["BASE_URL"]

    assert base_url() == "http://127.0.0.1:5000"
    assert base_url(FLASK_RUN_PORT="5101") == "http://127.0.0.1:5101"
    assert base_url(FLASK_RUN_HOST="0.0.0.0", FLASK_RUN_PORT="5101") == "http://127.0.0.1:5101"
    assert base_url(FLASK_RUN_HOST="192.168.1.20", FLASK_RUN_PORT="8080") == (
        "http://192.168.1.20:8080")
    assert base_url(FLASK_RUN_PORT="5101", BASE_URL="https://yoyaku.city.example/") == (
        "https://yoyaku.city.example")
