"""Signing in through the force's identity provider (OpenID Connect): the redirect
out to it and the callback back. The rules are in app/services/sso.py."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user

from app.auth import home_for
from app.services import sso

bp = Blueprint("sso", __name__)


def _redirect_uri() -> str:
    """Where the provider sends the browser back: registered with the provider as
    PUBLIC_BASE_URL + /sso/callback."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for("sso.callback")


@bp.route("/sso/login")
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    try:
        return sso.begin(_redirect_uri())
    except sso.SsoRefused as refusal:
        flash(str(refusal))
        return redirect(url_for("auth.sign_in"))


@bp.route("/sso/callback")
def callback():
    try:
        officer = sso.finish(request.user_agent.string)
    except sso.SsoRefused as refusal:
        flash(str(refusal))
        return redirect(url_for("auth.sign_in"))
    session.clear()  # a fresh session at sign-in: nothing carried over
    session.permanent = True
    login_user(officer)
    return redirect(home_for(officer))


@bp.app_context_processor
def sso_button():
    """The sign-in page's "Sign in with …" button, shown when single sign-on is set up."""
    return {"sso_provider_name": sso.provider_name()}
