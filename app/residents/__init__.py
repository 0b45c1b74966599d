"""Residents in control: confirm a phone or an e-mail address, open their own page from
a link (no password), change places, channels, groups and quiet hours, pause, take
their data, leave. The resident is remembered in the session, never in a URL."""

from __future__ import annotations

import functools
import json
from types import SimpleNamespace

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

from app.services.contacts import ContactRefused
from app.services.registration import find_interest_groups
from app.services.residents import (
    CHANNEL_LABELS,
    ChangeRefused,
    add_location,
    delete_resident,
    export_data,
    find_resident,
    page_is_open,
    parse_quiet_hours,
    remove_channel,
    remove_location,
    set_channel,
    set_groups,
    set_paused,
    set_quiet_hours,
)
from app.services.verification import (
    TooManyLinks,
    VerificationRefused,
    check_code,
    read_manage_token,
    request_manage_link,
    resend_proof,
    resend_unregistered,
    start_unregistered,
    unregistered_guess,
    verify_email_token,
)
from geo.postcodes import display

bp = Blueprint("residents", __name__)

SESSION_KEY = "resident"


def resident_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        resident = find_resident(session.get(SESSION_KEY))
        if (resident is None and session.get(UNREGISTERED_KEY)) or (
            resident is not None and not page_is_open(resident)
        ):
            return render_template("residents/confirm_first.html")
        if resident is None:
            session.pop(SESSION_KEY, None)
            flash("Your page has closed. Ask for a new link to open it again.")
            return redirect(url_for("residents.manage"))
        return view(resident, *args, **kwargs)

    return wrapper


def remember(resident) -> None:
    session.pop(UNREGISTERED_KEY, None)
    session[SESSION_KEY] = str(resident.reference)
    session.permanent = True


# A sign-up whose number or address was already registered: nothing was stored, and
# the confirm page behaves as for anyone else (no code will ever match).
UNREGISTERED_KEY = "unregistered"


def remember_unregistered(addresses: dict[str, str]) -> None:
    session.pop(SESSION_KEY, None)
    session[UNREGISTERED_KEY] = start_unregistered(addresses)
    session.permanent = True


def _confirm_unregistered(pending: dict):
    errors: dict[str, str] = {}
    if request.method == "POST":
        channel = request.form.get("channel", "")
        if request.form.get("action") == "resend":
            sent = resend_unregistered(pending, channel)
            if sent is not None:
                session[UNREGISTERED_KEY] = pending
                _flash_resent(channel, sent=sent)
            return redirect(url_for("residents.confirm"))
        errors[f"code-{channel}"] = unregistered_guess(pending, channel)
        session[UNREGISTERED_KEY] = pending
    channels = [
        SimpleNamespace(channel=c, address=a, verified_at=None)
        for c, a in pending["channels"].items()
    ]
    return render_template(
        "residents/confirm.html",
        resident=SimpleNamespace(channels=channels),
        errors=errors,
        labels=CHANNEL_LABELS,
    ), (400 if errors else 200)


# --- confirming -------------------------------------------------------------------


@bp.route("/register/confirm", methods=["GET", "POST"])
def confirm():
    """Enter the codes sent to the resident's phones; e-mail is confirmed by its link."""
    resident = find_resident(session.get(SESSION_KEY))
    if resident is None and session.get(UNREGISTERED_KEY):
        return _confirm_unregistered(session[UNREGISTERED_KEY])
    if resident is None:
        flash("Your page has closed. Ask for a new link to open it again.")
        return redirect(url_for("residents.manage"))
    errors: dict[str, str] = {}
    if request.method == "POST":
        channel = request.form.get("channel", "")
        if request.form.get("action") == "resend":
            sent = resend_proof(resident, channel)
            if sent is not None:
                _flash_resent(channel, sent=sent)
            return redirect(url_for("residents.confirm"))
        try:
            check_code(resident, channel, request.form.get("code", ""))
        except VerificationRefused as refusal:
            errors[f"code-{channel}"] = str(refusal)
        if not errors:
            flash(f"{CHANNEL_LABELS.get(channel, 'That')} confirmed.")
            return redirect(url_for("residents.confirm"))
    return render_template(
        "residents/confirm.html", resident=resident, errors=errors, labels=CHANNEL_LABELS
    ), (400 if errors else 200)


def _flash_resent(channel_name: str, *, sent: bool) -> None:
    if not sent:
        flash("We have sent that number as many codes as we can this hour. Try again later.")
    else:
        flash("We have sent a new code." if channel_name != "email" else "We have sent a new link.")


@bp.route("/confirm-email/<token>", methods=["GET", "POST"])
def verify_email(token: str):
    """GET only shows a button: mail scanners follow links, and a click by a scanner
    must not confirm an address."""
    if request.method == "GET":
        return render_template("residents/confirm_email.html", token=token)
    try:
        resident, confirmed = verify_email_token(token)
    except VerificationRefused as refusal:
        return render_template("error.html", title=str(refusal), status=400), 400
    if not confirmed:
        # A used link proves nothing new: it does not open the resident's page.
        flash("That e-mail address is already confirmed. To change your alerts, ask for a link.")
        return redirect(url_for("residents.manage"))
    remember(resident)
    flash("E-mail address confirmed. You will get alerts by e-mail.")
    return redirect(url_for("residents.my_alerts"))


# --- opening the resident's page --------------------------------------------------


@bp.route("/manage", methods=["GET", "POST"])
def manage():
    error = None
    if request.method == "POST":
        try:
            # The same answer, in the same time, whether or not we hold the address.
            request_manage_link(
                request.form.get("address") or "", ip_address=request.remote_addr or ""
            )
        except ContactRefused as refusal:
            error = str(refusal)
        except TooManyLinks as refusal:
            return render_template("residents/manage.html", error=str(refusal)), 429
        else:
            return render_template("residents/link_sent.html")
    return render_template("residents/manage.html", error=error), (400 if error else 200)


@bp.route("/manage/<token>", methods=["GET", "POST"])
def open_manage(token: str):
    """GET shows a button; only the resident's POST spends the one-use link (mail
    scanners and message previews fetch links before people do)."""
    try:
        resident = read_manage_token(token, use=request.method == "POST")
    except VerificationRefused as refusal:
        return render_template("residents/manage.html", error=str(refusal)), 400
    if request.method == "GET":
        return render_template("residents/open_manage.html")
    remember(resident)
    return redirect(url_for("residents.my_alerts"))


@bp.route("/my-alerts")
@resident_required
def my_alerts(resident):
    return _my_alerts_page(resident, errors={})


def _my_alerts_page(resident, *, errors: dict[str, str]) -> str:
    return render_template(
        "residents/my_alerts.html",
        resident=resident,
        groups=find_interest_groups(),
        labels=CHANNEL_LABELS,
        display=display,
        errors=errors,
    )


def _change(resident, action):
    """Run a change; on a refusal show the page again with the message by its field."""
    try:
        message = action()
    except ChangeRefused as refusal:
        return _my_alerts_page(resident, errors={refusal.field: str(refusal)}), 400
    flash(message)
    return redirect(url_for("residents.my_alerts"))


@bp.route("/my-alerts/places", methods=["POST"])
@resident_required
def add_place(resident):
    def action():
        location = add_location(
            resident, label=request.form.get("label", ""), postcode=request.form.get("postcode", "")
        )
        return f"Added {location.label} ({display(location.postcode)})."

    return _change(resident, action)


@bp.route("/my-alerts/places/<int:location_id>/remove", methods=["POST"])
@resident_required
def remove_place(resident, location_id: int):
    return _change(resident, lambda: remove_location(resident, location_id) or "Place removed.")


@bp.route("/my-alerts/channels", methods=["POST"])
@resident_required
def set_contact(resident):
    channel = request.form.get("channel", "")

    def action():
        notice_id = set_channel(resident, channel, request.form.get("address", ""))
        if notice_id is None:
            return (
                "Saved, but we could not send a code or link now: it has had as many as we "
                "allow in an hour. Ask for a new one later."
            )
        if channel == "email":
            return "We have sent a link to that address. Open it to confirm."
        return "We have sent a code to that number. Enter it below to confirm."

    result = _change(resident, action)
    if channel in ("sms", "voice") and getattr(result, "status_code", 0) == 302:
        return redirect(url_for("residents.confirm"))
    return result


@bp.route("/my-alerts/channels/<any(sms, voice, email):channel>/remove", methods=["POST"])
@resident_required
def remove_contact(resident, channel: str):
    return _change(
        resident,
        lambda: remove_channel(resident, channel) or f"{CHANNEL_LABELS[channel]} alerts stopped.",
    )


@bp.route("/my-alerts/groups", methods=["POST"])
@resident_required
def groups(resident):
    return _change(
        resident, lambda: set_groups(resident, request.form.getlist("groups")) or "Groups saved."
    )


@bp.route("/my-alerts/quiet-hours", methods=["POST"])
@resident_required
def quiet_hours(resident):
    def action():
        if request.form.get("quiet") not in ("yes", "on"):
            set_quiet_hours(resident, None)
            return "Quiet hours turned off: alerts come at any time."
        quiet = parse_quiet_hours(
            request.form.get("quiet_from", ""), request.form.get("quiet_until", "")
        )
        set_quiet_hours(resident, quiet)
        return f"Quiet hours saved: {quiet[0]:%H:%M} to {quiet[1]:%H:%M}."

    return _change(resident, action)


@bp.route("/my-alerts/<any(pause, resume):action>", methods=["POST"])
@resident_required
def pause(resident, action: str):
    paused = action == "pause"
    return _change(
        resident,
        lambda: (
            set_paused(resident, paused)
            or (
                "Alerts paused. Nothing will be sent until you resume."
                if paused
                else "Alerts resumed."
            )
        ),
    )


@bp.route("/my-alerts/data.json")
@resident_required
def download(resident):
    body = json.dumps(export_data(resident), indent=2, ensure_ascii=False)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="my-alerts-data.json"'},
    )


@bp.route("/my-alerts/delete", methods=["GET", "POST"])
@resident_required
def delete(resident):
    if request.method == "GET":
        return render_template("residents/delete.html")
    delete_resident(resident)
    session.pop(SESSION_KEY, None)
    return render_template("residents/deleted.html")


@bp.route("/my-alerts/sign-out", methods=["POST"])
def sign_out():
    session.pop(SESSION_KEY, None)
    flash("Your page is closed.")
    return redirect(url_for("public.index"))
