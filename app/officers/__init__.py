"""The officer's screens: target an area, see who it reaches, send, follow delivery."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from app.auth import role_required
from app.dao import places as places_dao
from app.extensions import db
from app.models import Alert
from app.services.alerts import (
    AlertInvalid,
    alert_progress,
    cancel_alert,
    preview_targets,
    submit_alert,
)
from app.services.contacts import mask_address
from app.services.outbox import view_outbox
from geo.areas import AreaError

bp = Blueprint("officers", __name__)

SENDERS = ("officer", "supervisor")


def _json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(make_response(jsonify(error="Send the request as a JSON object."), 400))
    return data


@bp.route("/")
@role_required(*SENDERS)
def target():
    force = places_dao.find_force(current_app.config["FORCE_CODE"])
    bounds = places_dao.find_force_bounds_wgs84(force) if force else None
    return render_template("officers/target.html", bounds=bounds)


@bp.route("/preview", methods=["POST"])
@role_required(*SENDERS)
def preview():
    shapes = _json_body().get("shapes")
    try:
        counts = preview_targets(shapes if isinstance(shapes, list) else [])
    except AreaError as refusal:
        return jsonify(error=str(refusal)), 400
    return jsonify(counts)


@bp.route("/alerts", methods=["POST"])
@role_required(*SENDERS)
def send():
    data = _json_body()
    shapes = data.get("shapes")
    expected = data.get("expected_residents")
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)):
        return jsonify(error="expected_residents must be a whole number."), 400
    try:
        sent = submit_alert(
            current_user,
            shapes=shapes if isinstance(shapes, list) else [],
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
            expected_residents=expected,
        )
    except AlertInvalid as invalid:
        return jsonify(error=str(invalid), errors=invalid.errors), 400
    return jsonify(
        alert_id=sent.alert.id,
        deliveries=sent.deliveries,
        url=url_for("officers.alert", alert_id=sent.alert.id),
    ), 201


@bp.route("/alerts")
@role_required(*SENDERS)
def alerts():
    rows = db.session.scalars(select(Alert).order_by(Alert.id.desc()).limit(100)).all()
    return render_template("officers/alerts.html", alerts=rows)


@bp.route("/alerts/<int:alert_id>")
@role_required(*SENDERS)
def alert(alert_id: int):
    row = db.session.get(Alert, alert_id) or abort(404)
    return render_template("officers/alert.html", alert=row, progress=alert_progress(alert_id))


@bp.route("/alerts/<int:alert_id>/cancel", methods=["POST"])
@role_required(*SENDERS)
def cancel(alert_id: int):
    db.session.get(Alert, alert_id) or abort(404)
    cancelled = cancel_alert(current_user, alert_id)
    flash(f"Alert cancelled: {cancelled:,} messages will not be sent.")
    return redirect(url_for("officers.alert", alert_id=alert_id))


@bp.route("/alerts/<int:alert_id>/progress")
@role_required(*SENDERS)
def progress(alert_id: int):
    status = db.session.scalar(select(Alert.status).where(Alert.id == alert_id)) or abort(404)
    return jsonify(alert_progress(alert_id) | {"status": status})


@bp.route("/outbox")
@role_required(*SENDERS)
def outbox():
    """What the development transport recorded, newest first."""
    alert_id = request.args.get("alert", type=int)
    messages, total = view_outbox(current_user, alert_id=alert_id)
    return render_template(
        "officers/outbox.html",
        messages=messages,
        total=total,
        alert_id=alert_id,
        mask=mask_address,
    )
