"""Command-line interface: ``flask --app wsgi workflows|staff|demo ...``."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from engine import staff as staff_accounts
from engine.catalog import Catalog
from engine.errors import EngineError
from engine.models import StaffUser
from engine.spec import SpecError
from web import parts
from web.context import now
from web.extensions import db

# A plain group (registered as a Flask plugin command in pyproject.toml), so that `check`
# runs even when the app itself refuses to start because a workflow is broken.
workflows_cli = click.Group("workflows", help="Check and list workflow files.")
staff_cli = AppGroup("staff", help="Manage staff accounts and API tokens.")

@workflows_cli.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
def check(paths: tuple[str, ...]) -> None:
    """Validate workflow files; print every problem as file:line: message."""
    from web.config import ROOT

    targets = list(paths) or [p for p in os.environ.get(
        "WORKFLOWS_DIR", str(ROOT / "workflows")).split(os.pathsep) if p]
    try:
        loaded = Catalog.load(targets)
    except SpecError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        click.echo(f"{len(exc.problems)} problem(s) found.", err=True)
        sys.exit(1)
    for spec in loaded:
        click.echo(f"ok  {spec.path}  {spec.id}  version {spec.version}  "
                   f"({len(spec.steps)} steps)")


@workflows_cli.command("list")
@with_appcontext
def list_workflows() -> None:
    """List the live workflows and their steps."""
    for spec in current_app.extensions["catalog"]:
        steps = " -> ".join(f"{s.id}({s.type})" for s in spec.steps)
        click.echo(f"{spec.id}\t{spec.title.ja}\t{steps}")


def _user(email: str) -> StaffUser:
    user = db.session.query(StaffUser).filter(
        StaffUser.email == email.strip().lower()).one_or_none()
    if user is None:
        raise click.ClickException(f"no staff member with email {email}")
    return user


@staff_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "staff"]), required=True)
@click.option("--password", help="At least 12 characters; generated and printed if omitted.")
@click.option("--name", default="")
@click.option("--workflow", "workflows", multiple=True, help="A workflow this person serves.")
@click.option("--counter", "counters", multiple=True, help="A counter this person serves.")
@click.option("--group", "groups", multiple=True,
              help="A routing group (a school, a department's desk) this person serves.")
def create_staff(email: str, role: str, password: str | None, name: str,
                 workflows: tuple[str, ...], counters: tuple[str, ...],
                 groups: tuple[str, ...]) -> None:
    """Create a staff account."""
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        user = staff_accounts.create(db.session, email, role=role, password=password, name=name,
                                     workflows=workflows, counters=counters, groups=groups,
                                     now=now())
    except EngineError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc.code} {exc.fields or exc.params}") from None
    db.session.commit()
    click.echo(f"created {role} {user.email}")
    if generated:
        click.echo(f"password: {password}")


@staff_cli.command("token")
@click.argument("email")
@click.option("--name", default="", help="What the token is for.")
def create_token(email: str, name: str) -> None:
    """Print a new API token for EMAIL (shown once; stored hashed) on the last line."""
    token = staff_accounts.issue_api_token(db.session, _user(email), name=name, now=now())
    db.session.commit()
    click.echo(token)


@staff_cli.command("revoke-token")
@click.argument("email")
@click.argument("prefix")
def revoke_token(email: str, prefix: str) -> None:
    """Revoke EMAIL's API tokens that start with PREFIX."""
    count = staff_accounts.revoke_api_token(db.session, _user(email), prefix, now=now())
    db.session.commit()
    click.echo(f"revoked {count} token(s)")


DEMO_SCHOOL = "school@example.jp"


@click.command("demo")
@with_appcontext
@click.option("--email", default="demo@example.jp")
def demo(email: str) -> None:
    """Prepare the embedded demo: a demo admin (printed), the workflows' slots and a day of
    bookings, check-ins and notices for staff to look at (see web/demo.py)."""
    password_file = Path(current_app.instance_path) / "demo_password"
    user = db.session.query(StaffUser).filter_by(email=email).one_or_none()
    if user is None or not password_file.exists():
        password = secrets.token_urlsafe(12)
        if user is None:
            staff_accounts.create(db.session, email, role="admin", password=password,
                                  name="デモ職員", now=now())
        else:
            staff_accounts.set_password(db.session, user, password)
        # With DATABASE_URL and SECRET_KEY set nothing else has made the instance folder yet.
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.write_text(password)
        password_file.chmod(0o600)
    school = DEMO_SCHOOL
    if db.session.query(StaffUser).filter_by(email=school).one_or_none() is None:
        # A school's secretary: sees only the absence notices routed to 藤井寺小学校.
        staff_accounts.create(db.session, school, role="staff",
                              password=password_file.read_text().strip(),
                              name="藤井寺小学校 事務", workflows=["kesseki-todoke"],
                              groups=["fujiidera-e"], now=now())
    for hook in parts.of().demo_hooks:
        hook()
    db.session.commit()
    base = current_app.config["BASE_URL"]
    click.echo("")
    click.echo("  Demo ready / デモの準備ができました")
    click.echo(f"  Citizens / 市民向け:  {base}/")
    click.echo(f"  Staff / 職員:        {base}/staff/login")
    click.echo(f"  Login / ログイン:    {email} / {password_file.read_text().strip()}")
    click.echo(f"  A school / 学校:     {school} (the same password / 同じパスワード)")
    click.echo("")


def init_app(app: Flask) -> None:
    app.cli.add_command(workflows_cli)  # also a plugin command, for when the app can't start
    app.cli.add_command(staff_cli)
    app.cli.add_command(demo)
    app.cli.add_command(i18n_missing)
    from web.demo import demo_day

    parts.of(app).demo_hooks.append(demo_day)  # after the step types' (slots first)


@click.command("i18n-missing")
@with_appcontext
def i18n_missing() -> None:
    """Print untranslated strings as .po entries, grouped by file (exit 1 if any)."""
    from web.i18n import missing

    rows = missing("ja")
    for filename, msgid in rows:
        escaped = msgid.replace("\\", "\\\\").replace('"', '\\"')
        click.echo(f'#: {filename}\nmsgid "{escaped}"\nmsgstr ""\n')
    if rows:
        sys.exit(1)
