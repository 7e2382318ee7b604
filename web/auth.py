"""Staff sign-in and sign-out (Flask-Login sessions, argon2 hashes, CSRF on every form).
The JSON API takes ``Authorization: Bearer <token>`` instead and never a session cookie."""

from __future__ import annotations

from urllib.parse import urlparse

import structlog
from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from engine import staff as staff_accounts
from engine.models import StaffUser
from web import messages
from web.context import now
from web.extensions import db, login_manager
from web.limits import LOGIN_PER_ACCOUNT, LOGIN_PER_ADDRESS, limiter, login_account_key

bp = Blueprint("auth", __name__, url_prefix="/staff")
log = structlog.get_logger()

login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please sign in to continue.")
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(user_id: str) -> StaffUser | None:
    try:
        user = db.session.get(StaffUser, int(user_id))
    except ValueError:
        return None
    return user if user is not None and user.active else None


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and not urlparse(
            target).netloc:
        return target
    return url_for("staff.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_PER_ADDRESS, methods=["POST"])
@limiter.limit(LOGIN_PER_ACCOUNT, methods=["POST"], key_func=login_account_key)
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))  # type: ignore[return-value]
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = staff_accounts.authenticate(db.session, form.email.data or "",
                                           form.password.data or "", now=now())
        if user is None:
            log.info("login_failed")
            db.session.rollback()
            error = messages.message("login_failed")
        else:
            db.session.commit()
            session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME (8 h)
            login_user(user)
            log.info("login", staff_id=user.id)
            return redirect(_safe_next(request.args.get("next")))  # type: ignore[return-value]
    status = 200 if error is None and not form.errors else 422
    return render_template("auth/login.html", form=form, error=error), status  # type: ignore[return-value]


@bp.post("/logout")
def logout() -> Response:
    if current_user.is_authenticated:
        log.info("logout", staff_id=current_user.id)
    logout_user()
    flash(_l("You have signed out."), "info")
    return redirect(url_for("auth.login"))  # type: ignore[return-value]
