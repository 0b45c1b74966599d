"""Signing in and out, and who may see what."""

from __future__ import annotations

import functools

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from app.extensions import db, login_manager
from app.models import Officer
from app.services.accounts import SignInRefused, TooManyAttempts, authenticate

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.sign_in"
login_manager.login_message = "Sign in to see that page."
login_manager.session_protection = "strong"


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


@login_manager.unauthorized_handler
def unauthorized():
    """Pages redirect to sign-in; the map's JSON calls get a message they can show."""
    if wants_json():
        return jsonify(error="Your session has ended. Sign in again to carry on."), 401
    return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))


@login_manager.user_loader
def load_officer(officer_id: str) -> Officer | None:
    officer = db.session.get(Officer, int(officer_id))
    return officer if officer is not None and officer.active else None


def role_required(*roles: str):
    """Only officers with one of these roles (admins always) may use the view."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if current_user.role not in roles and current_user.role != "admin":
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def home_for(officer: Officer) -> str:
    if officer.role == "analyst":
        return url_for("analysts.density")
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
            )
        except TooManyAttempts as refusal:
            return render_template("auth/sign_in.html", error=str(refusal)), 429
        except SignInRefused as refusal:
            error = str(refusal)
        else:
            session.clear()  # a fresh session at sign-in: nothing carried over
            session.permanent = True
            login_user(officer)
            return redirect(_safe_next(request.args.get("next")) or home_for(officer))
    return render_template("auth/sign_in.html", error=error), (400 if error else 200)


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never another host (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    logout_user()
    session.clear()
    flash("You have signed out.")
    return redirect(url_for("auth.sign_in"))
