"""Signing in and out, and who may see what."""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    Response,
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
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from itsdangerous import BadData, URLSafeTimedSerializer

from app.extensions import login_manager
from app.models import Officer
from app.services import forces, second_factor
from app.services.accounts import (
    AccountError,
    PasswordRefused,
    SignInRefused,
    TooManyAttempts,
    check_password,
    complete_sign_in,
    credentials_version,
    find_link,
    has_role,
    remember_network,
    use_link,
)
from app.services.accounts import sign_out as end_staff_session
from app.services.alerts import count_waiting_for
from app.services.staff_sessions import officer_for_session
from app.web import client_network, wants_json

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.sign_in"
login_manager.login_message = "Sign in to see that page."
# Flask-Login's own protection only marks a permanent session "not fresh"; ours is on
# the server (app/services/staff_sessions.py), bound to the browser, and ends for real.
login_manager.session_protection = None
DEVICE_COOKIE = "ca_device"
MAX_DEVICE_ACCOUNTS = 8


# A staff download or data address (sent.csv, density.geojson, timeline.svg): a file
# for a program or a download, never a page to be redirected to sign-in from.
DATA_FILE = re.compile(r".+\.(?P<kind>csv|svg|json|geojson|pmtiles)")


@login_manager.unauthorized_handler
def unauthorized():
    """Pages redirect to sign-in; the map's JSON calls get a message they can show,
    and so does a download or data address, with 401: it was redirected to the
    sign-in page, whose HTML a program would take for its CSV (an outside check)."""
    words = _("Your session has ended. Sign in again to carry on.")
    data = DATA_FILE.fullmatch(request.path)
    if wants_json() or (data and "json" in data["kind"]):
        return jsonify(error=words), 401
    if data:
        return Response(words, 401, mimetype="text/plain")
    return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))


@login_manager.user_loader
def load_officer(token: str) -> Officer | None:
    officer = officer_for_session(token, request.user_agent.string)
    # Staff pages read only the officer's force. A public page of a force keeps its
    # own: an officer reading another force's alerts page sees that force's alerts.
    if officer is not None and forces.scope() is None:
        forces.scope_to(officer.force_id)
    return officer


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


PENDING = "pending_sign_in"


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """The first step: e-mail address and password. A password account then gives a
    code from its authenticator app (or sets one up); see services/second_factor."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    error = None
    if request.method == "POST":
        try:
            officer = check_password(
                request.form.get("email", ""),
                request.form.get("password", ""),
                ip_address=client_network(),
                user_agent=request.user_agent.string,
                trusted_devices=_trusted_devices(),
            )
            step = second_factor.next_step(officer)
            if step is None:
                complete_sign_in(officer, "password", user_agent=request.user_agent.string)
        except TooManyAttempts as refusal:
            return render_template("auth/sign_in.html", error=str(refusal)), 429
        except SignInRefused as refusal:
            error = str(refusal)
        else:
            target = _safe_next(request.args.get("next"))
            if step is None:
                return signed_in_response(officer, target)
            session.clear()
            session[PENDING] = {**second_factor.pending_for(officer), "next": target}
            return redirect(
                url_for("auth.second_factor" if step == "code" else "auth.set_up_second_factor")
            )
    return render_template("auth/sign_in.html", error=error), (400 if error else 200)


def _begin_browser_session(officer: Officer) -> None:
    session.clear()  # a fresh session at sign-in: nothing carried over
    session.permanent = True
    login_user(officer)


def _remember_device(response, officer: Officer):
    response.set_cookie(
        DEVICE_COOKIE,
        _device_serializer().dumps({"d": _remembered(officer)}),
        max_age=current_app.config["LOGIN_DEVICE_DAYS"] * 86400,
        httponly=True,
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        samesite="Lax",
    )
    return response


def signed_in_response(officer: Officer, next_target: str | None = None):
    """The browser's side of signing in, once accounts.complete_sign_in has started the
    officer's session (officer.session_token): a fresh cookie session, the device
    remembered, and on to where they were going (a path of ours) or their home page.
    Single sign-on's callback ends with this too."""
    _begin_browser_session(officer)
    remember_network(officer, client_network())
    return _remember_device(redirect(_safe_next(next_target) or home_for(officer)), officer)


def _pending():
    """The officer who has given the right password and not yet a code, or None."""
    pending = session.get(PENDING)
    officer = second_factor.pending_officer(pending)
    return officer, (pending.get("next") if officer is not None else None)


def _start_again():
    session.pop(PENDING, None)
    flash(_("Sign in again: that took too long, or the account changed."))
    return redirect(url_for("auth.sign_in"))


@bp.route("/sign-in/code", methods=["GET", "POST"], endpoint="second_factor")
def second_factor_code():
    officer, target = _pending()
    if officer is None:
        return _start_again()
    if not second_factor.has_second_factor(officer):
        return redirect(url_for("auth.set_up_second_factor"))
    error, status = None, 200
    if request.method == "POST":
        try:
            method = second_factor.verify_and_sign_in(
                officer,
                request.form.get("code", ""),
                user_agent=request.user_agent.string,
                trusted_device=_trusted_devices().get(officer.id) == credentials_version(officer),
            )
        except TooManyAttempts as refusal:
            error, status = str(refusal), 429
        except SignInRefused as refusal:
            error, status = str(refusal), 400
        else:
            response = signed_in_response(officer, target)
            if method == "password+recovery_code":
                left = second_factor.recovery_codes_left(officer)
                flash(
                    _(
                        "You signed in with a recovery code; %(left)s left. If your phone is "
                        "lost, ask an administrator to reset your account.",
                        left=left,
                    )
                )
            return response
    return render_template("auth/second_factor.html", error=error), status


@bp.route("/sign-in/set-up", methods=["GET", "POST"])
def set_up_second_factor():
    officer, target = _pending()
    if officer is None:
        return _start_again()
    if second_factor.has_second_factor(officer):
        return redirect(url_for("auth.second_factor"))
    error, status = None, 200
    if request.method == "POST":
        try:
            codes = second_factor.confirm_setup(
                officer, request.form.get("code", ""), user_agent=request.user_agent.string
            )
        except TooManyAttempts as refusal:
            error, status = str(refusal), 429
        except SignInRefused as refusal:
            error, status = str(refusal), 400
        else:
            _begin_browser_session(officer)
            page = render_template(
                "auth/recovery_codes.html",
                codes=codes,
                onward=_safe_next(target) or home_for(officer),
            )
            return _remember_device(current_app.make_response(page), officer)
    setup = second_factor.begin_setup(officer)
    return render_template("auth/set_up.html", setup=setup, error=error), status


@bp.route("/account/set-password/<token>", methods=["GET", "POST"])
def account_link(token: str):
    """An administrator's one-time link (an invitation or a reset): set a password,
    then set up the second factor. The token is in the path; the access log records
    the route, never the path, and pages are sent no-store."""
    try:
        link = find_link(token)
    except AccountError as refusal:
        return render_template("auth/account_link.html", refused=str(refusal)), 410
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            officer = use_link(
                token, request.form.get("password", ""), request.form.get("confirm", "")
            )
        except PasswordRefused as refusal:
            errors[refusal.field] = str(refusal)
        except AccountError as refusal:
            errors["password"] = str(refusal)
        else:
            session.clear()
            if second_factor.next_step(officer) is None:
                flash(_("Your password is set. Sign in with it."))
                return redirect(url_for("auth.sign_in"))
            session[PENDING] = {**second_factor.pending_for(officer), "next": None}
            flash(_("Your password is set. Now set up your second factor."))
            return redirect(url_for("auth.set_up_second_factor"))
    return render_template("auth/account_link.html", link=link, errors=errors), (
        400 if errors else 200
    )


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
    flash(_("You have signed out."))
    return redirect(url_for("auth.sign_in"))
