"""Signing in and out, and who may see what."""

from __future__ import annotations

import functools
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from itsdangerous import BadData, URLSafeTimedSerializer

from app.extensions import login_manager
from app.models import Officer
from app.services.accounts import (
    SignInRefused,
    TooManyAttempts,
    authenticate,
    credentials_version,
    has_role,
)
from app.services.accounts import sign_out as end_staff_session
from app.services.alerts import count_waiting_for
from app.services.staff_sessions import officer_for_session
from app.web import wants_json

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.sign_in"
login_manager.login_message = "Sign in to see that page."
# Flask-Login's own protection only marks a permanent session "not fresh"; ours is on
# the server (app/services/staff_sessions.py), bound to the browser, and ends for real.
login_manager.session_protection = None
DEVICE_COOKIE = "ca_device"
MAX_DEVICE_ACCOUNTS = 8


@login_manager.unauthorized_handler
def unauthorized():
    """Pages redirect to sign-in; the map's JSON calls get a message they can show."""
    if wants_json():
        return jsonify(error="Your session has ended. Sign in again to carry on."), 401
    return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))


@login_manager.user_loader
def load_officer(token: str) -> Officer | None:
    return officer_for_session(token, request.user_agent.string)


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="sign-in-device")


def _trusted_devices() -> dict[int, str]:
    """The accounts this browser signed in to before (id -> credentials version), from
    its signed cookie: several officers may share a station's computer."""
    cookie = request.cookies.get(DEVICE_COOKIE, "")
    days = current_app.config["LOGIN_DEVICE_DAYS"]
    try:
        value = _device_serializer().loads(cookie, max_age=days * 86400)
    except BadData:
        return {}
    entries = value.get("d") if isinstance(value, dict) else None
    if not isinstance(entries, list):
        return {}
    return {
        e[0]: e[1]
        for e in entries[:MAX_DEVICE_ACCOUNTS]
        if isinstance(e, list) and len(e) == 2 and type(e[0]) is int and isinstance(e[1], str)
    }


def role_required(*roles: str):
    """Only officers with one of these roles (admins always) may use the view."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not has_role(current_user, roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def home_for(officer: Officer) -> str:
    """Where signing in lands: analysts on the density map; a supervisor (or admin)
    on Approvals when an alert waits for them; everyone else on a new alert."""
    if officer.role == "analyst":
        return url_for("analysts.density")
    if count_waiting_for(officer):
        return url_for("officers.approvals")
    return url_for("officers.target")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    error = None
    if request.method == "POST":
        try:
            officer = authenticate(
                request.form.get("email", ""),
                request.form.get("password", ""),
                ip_address=request.remote_addr,
                user_agent=request.user_agent.string,
                trusted_devices=_trusted_devices(),
            )
        except TooManyAttempts as refusal:
            return render_template("auth/sign_in.html", error=str(refusal)), 429
        except SignInRefused as refusal:
            error = str(refusal)
        else:
            session.clear()  # a fresh session at sign-in: nothing carried over
            session.permanent = True
            login_user(officer)
            response = redirect(_safe_next(request.args.get("next")) or home_for(officer))
            response.set_cookie(
                DEVICE_COOKIE,
                _device_serializer().dumps({"d": _remembered(officer)}),
                max_age=current_app.config["LOGIN_DEVICE_DAYS"] * 86400,
                httponly=True,
                secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
                samesite="Lax",
            )
            return response
    return render_template("auth/sign_in.html", error=error), (400 if error else 200)


# Longer than any page of ours with its query: refused rather than carried along.
MAX_NEXT_LENGTH = 512


def _remembered(officer: Officer) -> list[list]:
    """The device cookie's accounts with this one first, bound to its current password."""
    others = [[i, v] for i, v in _trusted_devices().items() if i != officer.id]
    return [[officer.id, credentials_version(officer)], *others][:MAX_DEVICE_ACCOUNTS]


def _safe_next(target: str | None) -> str | None:
    """A path on this site to go to after signing in, or None.

    Browsers forgive a lot in a Location header: they drop tabs and newlines, read a
    backslash as a slash, and take "//host" or "/\\host" as another site. So only a
    plain path passes: no control characters, spaces or backslashes (raw or
    percent-encoded), no scheme, no host, and not starting with two slashes even once
    decoded.
    """
    if not target or len(target) > MAX_NEXT_LENGTH or not target.startswith("/"):
        return None
    decoded = unquote(unquote(target))
    for text in (target, decoded):
        if "\\" in text or any(ch.isspace() or not ch.isprintable() for ch in text):
            return None
        if text.startswith("//") or text.startswith("/\\"):
            return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or urlsplit(decoded).netloc:
        return None
    return target


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    end_staff_session(session.get("_user_id"))
    logout_user()
    session.clear()
    flash("You have signed out.")
    return redirect(url_for("auth.sign_in"))
