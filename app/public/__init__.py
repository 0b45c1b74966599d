"""What residents see: sign up for alerts."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for

from app.extensions import csrf
from app.services.dispatch import read_unsubscribe_token
from app.services.optout import unsubscribe_channel
from app.services.registration import (
    RegistrationForm,
    RegistrationInvalid,
    find_interest_groups,
    register_resident,
)

bp = Blueprint("public", __name__)


@bp.route("/")
def index():
    return render_template("public/index.html")


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegistrationForm()
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = RegistrationForm.from_form(request.form)
        try:
            _, checked = register_resident(form)
        except RegistrationInvalid as invalid:
            errors = invalid.errors
        else:
            # Shown once on the next page; nothing personal goes into the URL.
            session["registered_place"] = checked.description or checked.postcode.display
            return redirect(url_for("public.registered"))
    return render_template(
        "public/register.html", form=form, errors=errors, groups=find_interest_groups()
    ), (400 if errors else 200)


@bp.route("/register/done")
def registered():
    place = session.pop("registered_place", None)
    if place is None:
        return redirect(url_for("public.register"))
    return render_template("public/registered.html", place=place)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # a mail client's one-click POST carries no CSRF token; the signed token
def unsubscribe(token: str):  # in the URL is the proof
    """One-click unsubscribe (RFC 8058). GET only shows a button: mail scanners follow
    links, and must not unsubscribe anyone; the mail client's POST (or the button) does.
    """
    found = read_unsubscribe_token(token)
    if found is None:
        return render_template("error.html", title="That link is not valid", status=404), 404
    if request.method == "POST":
        unsubscribe_channel(*found)
        return render_template("public/unsubscribed.html")
    return render_template("public/unsubscribe.html", token=token)
