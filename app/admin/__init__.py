"""Administrators: staff accounts, importing a subscriber list."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

from app.auth import role_required
from app.extensions import csrf, db
from app.models import ResidentImport
from app.services.accounts import AccountError, find_officers, set_officer_active
from app.services.resident_import import import_progress, start_import, upload_import

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


# --- importing a subscriber list ----------------------------------------------------

MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # 200,000 rows of a typical export


@bp.route("/import", methods=["GET", "POST"])
@csrf.exempt  # checked below, once the larger upload limit is in place
@role_required("admin")
def import_residents():
    if request.method == "GET":
        return render_template("admin/import.html", error=None)
    request.max_content_length = MAX_UPLOAD_BYTES
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        abort(400)
    upload = request.files.get("file")
    error = None
    if upload is None or not upload.filename:
        error = "Choose the CSV file to import."
    else:
        try:
            content = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            error = "The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8”."
    if error:
        return render_template("admin/import.html", error=error), 400
    record = upload_import(
        current_user,
        filename=upload.filename,
        content=content,
        notify=request.form.get("notify") == "yes",
    )
    return redirect(url_for("admin.import_status", import_id=record.id))


@bp.route("/imports/<int:import_id>")
@role_required("admin")
def import_status(import_id: int):
    record = db.session.get(ResidentImport, import_id) or abort(404)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(
            status=record.status,
            done=import_progress(import_id),
            total=record.report.get("total", 1),
        )
    return render_template("admin/import_status.html", record=record)


@bp.route("/imports/<int:import_id>/run", methods=["POST"])
@role_required("admin")
def import_run(import_id: int):
    record = db.session.get(ResidentImport, import_id) or abort(404)
    if start_import(record):
        flash("Importing. This page shows the progress.")
    else:
        flash("This file has already been imported, or has not been checked yet.")
    return redirect(url_for("admin.import_status", import_id=import_id))
