"""Signing in through an identity provider (OpenID Connect): the redirect out to it
and the callback back. The first provider (SSO_*) is at /sso/login and /sso/callback;
each force with a provider of its own (SSO_PROVIDERS) at /sso/<name>/login and
/sso/<name>/callback. The rules are in app/services/sso.py."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user

from app.auth import home_for
from app.services import sso

bp = Blueprint("sso", __name__)


def _provider(provider: str | None) -> str:
    """The provider's key ("" for the first); a name SSO_PROVIDERS does not hold is a
    page that does not exist."""
    if provider is None:
        return ""
    if not sso.is_provider(provider):
        abort(404)
    return provider


def _redirect_uri(key: str) -> str:
    """Where the provider sends the browser back: registered with the provider as
    PUBLIC_BASE_URL + /sso/callback (or /sso/<name>/callback)."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for(
        "sso.callback", provider=key or None
    )


@bp.route("/sso/login")
@bp.route("/sso/<provider>/login")
def login(provider: str | None = None):
    key = _provider(provider)
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    try:
        return sso.begin(_redirect_uri(key), key)
    except sso.SsoRefused as refusal:
        flash(str(refusal))
        return redirect(url_for("auth.sign_in"))


@bp.route("/sso/callback")
@bp.route("/sso/<provider>/callback")
def callback(provider: str | None = None):
    key = _provider(provider)
    try:
        officer = sso.finish(request.user_agent.string, key)
    except sso.SsoRefused as refusal:
        flash(str(refusal))
        return redirect(url_for("auth.sign_in"))
    session.clear()  # a fresh session at sign-in: nothing carried over
    session.permanent = True
    login_user(officer)
    return redirect(home_for(officer))


@bp.app_context_processor
def sso_buttons():
    """The sign-in page's "Sign in with …" buttons, one per provider set up (worked out
    only on the page that shows them)."""
    return {"sso_buttons": sso.buttons}
