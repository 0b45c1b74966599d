"""Administrators: staff accounts."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from app.auth import role_required
from app.services.accounts import AccountError, find_officers, set_officer_active

bp = Blueprint("admin", __name__)


@bp.route("/officers")
@role_required("admin")
def officers():
    return render_template("admin/officers.html", officers=find_officers())


@bp.route("/officers/<int:officer_id>/<any(disable, enable):action>", methods=["POST"])
@role_required("admin")
def set_active(officer_id: int, action: str):
    try:
        officer = set_officer_active(current_user, officer_id, active=action == "enable")
    except AccountError as refusal:
        flash(str(refusal))
    else:
        flash(
            f"{officer.name} can sign in again."
            if officer.active
            else f"{officer.name}'s account is disabled and their sessions have ended."
        )
    return redirect(url_for("admin.officers"))
