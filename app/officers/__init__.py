"""The officer's screens: choose who hears, write it, get it approved, send, follow
delivery, follow up."""

from __future__ import annotations

from datetime import UTC, datetime

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
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app.auth import role_required
from app.dao import places as places_dao
from app.extensions import db
from app.i18n import alert_status, police_of, script_words, when
from app.models import CATEGORIES, Alert
from app.services import authorisation, forces, replies, teams
from app.services.alerts import (
    ANSWERS_READ,
    AlertInvalid,
    NotAllowed,
    all_clear_sent,
    approve_alert,
    approved_just_now,
    cancel_alert,
    compose_preview,
    cross_border,
    draft_from_json,
    failure_reasons,
    find_alert_status,
    find_pending_reviews,
    find_thread,
    find_thread_root,
    follow_up_refusal,
    is_test,
    json_flag,
    json_mode,
    json_strings,
    json_text,
    json_whole_number,
    may_approve,
    never_taken,
    own_recording,
    preview_targets,
    progress_shown,
    recipients_label,
    recipients_phrase,
    reject_alert,
    review_alert,
    send_again_refusal,
    send_again_to_never_taken,
    send_test_to_self,
    still_refused,
    stored_area_geojson,
    submit_alert,
    take_down_public_page,
    went,
    written_again,
)
from app.services.contacts import mask_address
from app.services.outbox import view_outbox
from app.services.public_alerts import has_public_page
from app.services.recordings import RecordingRefused, save_recording
from app.services.registration import find_interest_groups
from app.services.staff_sessions import draft_owner
from app.services.templates import find_templates, save_template
from app.services.text import clean_text, whole_number
from app.web import named_record, record_id
from geo.names import reading_order

bp = Blueprint("officers", __name__)

# Who may use each page: the authorisation matrix (services/authorisation.py).
SENDERS = authorisation.roles_for("alert.write")
VIEWERS = authorisation.roles_for("alert.view")
CANCELLERS = authorisation.roles_for("alert.cancel")
TAKERS_DOWN = authorisation.roles_for("alert.take_down")
SENDERS_AGAIN = authorisation.roles_for("alert.send_again")
APPROVERS_OF = authorisation.roles_for("alert.approve")


# "{{ alert|recipients }} residents": the expected count hides small numbers until the
# alert has gone. For every page that shows an alert's audience.
bp.add_app_template_filter(recipients_label, "recipients")
bp.add_app_template_filter(recipients_phrase, "recipients_phrase")
# "{% if alert is test_alert %}": an officer's test to themselves.
bp.add_app_template_test(is_test, "test_alert")


def _json_body() -> dict:
    data = request.get_json(silent=True)
    if data is None:
        # Not JSON we can read (a number of 5,000 digits, arrays 10,000 deep): not "send
        # it as a JSON object", which it was (an outside check).
        abort(make_response(jsonify(error=_("The request could not be read as JSON.")), 400))
    if not isinstance(data, dict):
        abort(make_response(jsonify(error=_("Send the request as a JSON object.")), 400))
    return data


def _invalid(invalid: AlertInvalid):
    return jsonify(error=str(invalid), errors=invalid.errors, **invalid.hints), 400


def _alert_for(action: str, alert_id: int) -> Alert:
    """The alert, if this officer may take this action on it: 404 when there is no
    such alert, 403 when it is another team's (services/authorisation.py)."""
    row = db.session.get(Alert, alert_id) or abort(404)
    if not authorisation.may(current_user, action, row):
        abort(403)
    return row


@bp.route("/")
@role_required(*SENDERS)
def target():
    force = forces.area_of(forces.current_force())
    bounds = places_dao.find_force_bounds_wgs84(force) if force else None
    follow_up = named_record("follow_up")
    parent = find_thread_root(follow_up) if follow_up else None
    if follow_up and parent is None:
        # Another force's alert, or none: it opened a new alert, saying nothing of the
        # follow-up asked for (outside checks).
        abort(404)
    if parent is not None and not authorisation.may(current_user, "alert.follow_up", parent):
        abort(403)
    if parent is not None and not went(parent):
        # Its update went at once to residents who never had the alert (an outside
        # check): said on the alert's page, where what became of it is.
        flash(
            _(
                "That alert has not been sent: only an alert that went can have an update "
                "or an all-clear."
            )
        )
        return redirect(url_for("officers.alert", alert_id=parent.id))
    kind = "all_clear" if request.args.get("kind") == "all_clear" else "update"
    all_clear_gone = parent is not None and all_clear_sent(parent)
    if kind == "all_clear" and all_clear_gone:
        flash(_("The all-clear for this alert has gone already: this is an update."))
        kind = "update"
    # "Write it again" from a rejected (or cancelled) alert: its words and areas; a
    # follow-up's on its thread, to the same audience (it became a new alert).
    again = named_record("again")
    source = _alert_for("alert.view", again) if again else None
    if source is not None and source.parent_id and parent is None:
        kind = "all_clear" if source.category == "all_clear" else "update"
        return redirect(
            url_for("officers.target", follow_up=source.parent_id, kind=kind, again=again)
        )
    start_from = written_again(source) if source is not None else None
    if again and start_from is None:
        flash(_("That alert has gone or may still go: write a follow-up to it instead."))
    elif start_from is not None and source.recording_id is not None:
        # Said, not dropped quietly: calls would speak the words instead (a review).
        flash(_("Its recorded message is not carried over: record it again for calls."))
    config = current_app.config
    permitted = teams.permitted_area_geojson(current_user)
    return render_template(
        "officers/target.html",
        permitted=permitted,
        example=teams.example_postcode(current_user),
        bounds=bounds,
        parent=parent,
        follow_up_kind=kind,
        # Not offered when the thread's all-clear has gone: Back after sending it put
        # it back, and the send was refused under a box saying "Update".
        categories={
            value: label
            for value, label in CATEGORIES.items()
            if not (value == "all_clear" and all_clear_gone)
        },
        groups=find_interest_groups(),
        templates=find_templates(),
        settings={
            "previewUrl": url_for("officers.preview"),
            "composeUrl": url_for("officers.compose"),
            "sendUrl": url_for("officers.send"),
            "alertsUrl": url_for("officers.alerts"),
            "testUrl": url_for("officers.send_test"),
            "placesUrl": url_for("officers.places"),
            "namesUrl": url_for("api.names"),
            "placeUrl": url_for("officers.place", place_id=0),
            "templatesUrl": url_for("officers.templates"),
            "recordingsUrl": url_for("officers.upload_recording"),
            "maxSegments": config["SMS_MAX_SEGMENTS"],
            "areaWaitMs": config["AREA_WAIT_SECONDS"] * 1000,
            "parentId": parent.id if parent else None,
            # Whose drafts this tab keeps (sessionStorage): staff_sessions.draft_owner.
            "draftOwner": draft_owner(current_user.id),
            "startFrom": start_from,
            # The areas the officer's teams may send to, drawn on the map (None: anywhere).
            "permittedArea": permitted["geometry"] if permitted else None,
            "words": script_words("target.js"),
        },
    )


@bp.route("/preview", methods=["POST"])
@role_required(*SENDERS)
def preview():
    try:
        counts = preview_targets(draft_from_json(_json_body()), current_user)
    except AlertInvalid as invalid:
        return _invalid(invalid)
    return jsonify(counts)


@bp.route("/compose", methods=["POST"])
@role_required(*SENDERS)
def compose():
    data = _json_body()
    errors: dict[str, str] = {}
    words = {
        name: json_text(data, name, errors)
        for name in ("title", "body", "question", "title_cy", "body_cy", "question_cy")
    }
    mode = json_mode(data, errors)
    # Each box checked as the send checks it: answers of numbers, a recording's id as
    # text and a tick of "yes" were dropped quietly, and only "Send now" refused them.
    answers = json_strings(data, "answer_options", errors, ANSWERS_READ)
    answers_cy = json_strings(data, "answer_options_cy", errors, ANSWERS_READ)
    recording = json_whole_number(data, "recording_id", errors)
    confirm_receipt = json_flag(data, "confirm_receipt", errors)
    if errors:
        return _invalid(AlertInvalid(errors))
    return jsonify(
        compose_preview(
            **words,
            mode=mode,
            recording_id=own_recording(current_user, recording or None),
            answer_options=answers,
            answer_options_cy=answers_cy,
            confirm_receipt=confirm_receipt,
        )
    )


@bp.route("/recordings", methods=["POST"])
@role_required(*SENDERS)
def upload_recording():
    upload = request.files.get("recording")
    try:
        recording = save_recording(
            current_user,
            filename=upload.filename if upload else "",
            data=upload.read() if upload else b"",
        )
    except RecordingRefused as refusal:
        return jsonify(error=str(refusal)), 400
    return jsonify(
        id=recording.id,
        seconds=recording.seconds,
        url=url_for("public.recording", token=recording.token),
    ), 201


@bp.route("/places", methods=["GET", "POST"])
@role_required(*SENDERS)
def places():
    """Wards and districts the officer may send to whose names start with q (?q=, or
    posted as {"q": ...}: the map posts it, keeping what was typed out of addresses)."""
    asked = request.get_json(silent=True) if request.method == "POST" else request.args
    typed = asked.get("q") if isinstance(asked, dict) else None
    query = clean_text(typed if isinstance(typed, str) else "", max_length=60)
    if len(query) < 2:
        return jsonify(places=[])
    force = forces.area_of(forces.current_force())
    found, limited, elsewhere = teams.targetable_places(current_user, force, query)
    return jsonify(places=found, team_areas_only=limited, outside_team_areas=elsewhere)


@bp.route("/places/<int:place_id>")
@role_required(*SENDERS)
def place(place_id: int):
    found = places_dao.find_place_geojson(place_id)
    if found is None:
        return jsonify(error=_("There is no such place. Search again.")), 404
    # Named as the search named it ("City of Bristol", not ONS's "Bristol, City of":
    # the chosen area was listed the other way, an outside check).
    return jsonify({**found, "name": reading_order(found["name"])})


@bp.route("/templates", methods=["GET", "POST"])
@role_required(*SENDERS)
def templates():
    if request.method != "POST":  # GET, or HEAD (Flask answers HEAD with the GET view)
        return jsonify(templates=find_templates())
    data = _json_body()
    errors: dict[str, str] = {}
    names = ("name", "category", "title", "body", "title_cy", "body_cy")
    fields = {name: json_text(data, name, errors) for name in names}
    try:
        if errors:
            raise AlertInvalid(errors)
        template = save_template(current_user, **fields)
    except AlertInvalid as invalid:
        return _invalid(invalid)
    return jsonify(id=template.id, name=template.name, templates=find_templates()), 201


@bp.route("/alerts", methods=["POST"])
@role_required(*SENDERS)
def send():
    try:
        sent = submit_alert(current_user, draft_from_json(_json_body()))
    except AlertInvalid as invalid:
        return _invalid(invalid)
    if sent.repeated:
        flash(_("You sent this alert a moment ago. It was not sent again: this is the first one."))
    return jsonify(
        alert_id=sent.alert.id,
        status=sent.alert.status,
        deliveries=sent.deliveries,
        # Sent moments ago already: this is that alert, and nothing went again.
        repeated=sent.repeated,
        url=url_for("officers.alert", alert_id=sent.alert.id),
    ), (200 if sent.repeated else 201)


@bp.route("/alerts/test", methods=["POST"])
@role_required(*SENDERS)
def send_test():
    try:
        sent = send_test_to_self(current_user, draft_from_json(_json_body()))
    except AlertInvalid as invalid:
        return _invalid(invalid)
    return jsonify(
        alert_id=sent.alert.id,
        channels=sent.channels,
        unreachable=sent.unreachable,
        message=sent.summary(),
        # Sent moments ago already: this is that test, and nothing went again.
        repeated=sent.repeated,
        url=url_for("officers.alert", alert_id=sent.alert.id),
    ), (200 if sent.repeated else 201)


@bp.route("/alerts")
@role_required(*authorisation.roles_for("alert.list"))
def alerts():
    return render_template("officers/alerts.html", alerts=teams.find_alerts_seen_by(current_user))


@bp.route("/approvals")
@role_required(*authorisation.roles_for("approvals.list"))
def approvals():
    return render_template(
        "officers/approvals.html",
        reviews=find_pending_reviews(current_user),
        asked=cross_border.find_asked(current_user),
    )


@bp.route("/alerts/<int:alert_id>/ask-force", methods=["POST"])
@role_required(*authorisation.roles_for("alert.ask_force"))
def ask_force(alert_id: int):
    """A supervisor asks a neighbouring force to send the alert to its residents."""
    _alert_for("alert.ask_force", alert_id)
    force_id = request.form.get("force_id", type=record_id)
    try:
        cross_border.ask_force(current_user, alert_id, force_id or 0)
    except NotAllowed as refusal:
        flash(str(refusal))
    else:
        flash(
            _(
                "Asked %(police)s: their supervisors decide whether their residents get it.",
                police=police_of(forces.force_by_id(force_id)),
            )
        )
    return redirect(url_for("officers.alert", alert_id=alert_id) + "#forces")


CROSS_BORDER = authorisation.roles_for("cross_border")


@bp.route("/asked/<int:alert_id>")
@role_required(*CROSS_BORDER)
def asked(alert_id: int):
    """Another force's alert that it asks this force to send to its residents."""
    found = cross_border.find_asked_alert(current_user, alert_id) or abort(404)
    return render_template("officers/asked.html", asked=found, area=found.area, bounds=None)


@bp.route("/asked/<int:alert_id>", methods=["POST"])
@role_required(*CROSS_BORDER)
def decide_asked(alert_id: int):
    cross_border.is_asked_of(current_user, alert_id) or abort(404)
    decision = request.form.get("decision")
    if decision not in ("approve", "refuse"):
        # Said, not abort(400)'s description, which the error page never shows.
        flash(_("Choose to approve or to refuse."))
        return redirect(url_for("officers.asked", alert_id=alert_id))
    approve = decision == "approve"
    try:
        decided = cross_border.decide_for_force(
            current_user,
            alert_id,
            approve=approve,
            reason=request.form.get("reason", ""),
            expected=_count_seen() if approve else None,
        )
    except AlertInvalid as refusal:
        found = cross_border.find_asked_alert(current_user, alert_id)
        page = render_template(
            "officers/asked.html", asked=found, area=found.area, bounds=None, errors=refusal.errors
        )
        return page, 400
    except NotAllowed as refusal:
        flash(str(refusal))
    else:
        if not approve:
            flash(_("Refused. The other force can read your reason on the alert's page."))
        elif decided.sent_at is not None:
            flash(_("Approved: it is going to your residents now."))
        else:
            flash(_("Approved: your residents get it when the other force sends it."))
    return redirect(url_for("officers.asked", alert_id=alert_id))


@bp.route("/alerts/<int:alert_id>")
@role_required(*VIEWERS)
def alert(alert_id: int):
    row = _alert_for("alert.view", alert_id)
    refused = session.pop(TICK_REFUSED, None)
    if isinstance(refused, dict) and refused.get("alert") == alert_id:
        form = refused.get("form")
        if form in ("cancel", "take-down", "send-again") and _offers(row, form):
            return _alert_page(row, tick_error=(form, _tick_words(form)))
        if form in ("cancel", "take-down", "send-again"):
            # The form gone between the post and its page (the alert finished, another
            # officer took it down): its refusal had nowhere to be shown, and the page
            # said "Error:" in its title alone (an outside check).
            flash(_no_longer_offered())
    return _alert_page(row)


# A form of an alert's page refused for want of its tick, said on the page it redirects
# to: shown from the post, Back and Forward past it asked to send the form again (an
# outside check).
TICK_REFUSED = "tick_refused"


def _alert_page(row: Alert, **kept):
    """An alert's page; `kept`: a refused form's words and why, shown again in it (a
    rejection's reason, refused, came back as an empty box: an outside check)."""
    pending = row.status == "pending_approval"
    followed_up = _followed_up(row)
    return render_template(
        "officers/alert.html",
        **kept,
        alert=row,
        # What residents will get on each channel, counted now: for the decision.
        review=review_alert(row) if pending else None,
        all_clear_gone=all_clear_sent(row),
        area=stored_area_geojson(row.id),
        bounds=None,
        thread=find_thread(row),
        progress=progress_shown(row.id),
        failures=failure_reasons(row),
        **_send_again_offer(row),
        now=datetime.now(UTC),
        can_approve=may_approve(current_user, row)
        and authorisation.may(current_user, "alert.approve", row),
        answers=replies.answers_of(row) if row.question or row.confirm_receipt else None,
        unread_replies=replies.unread_count(row.id),
        neighbours=cross_border.neighbours_of(row),
        may_ask=cross_border.may_ask(current_user, row),
        may_follow_up=followed_up,
        follow_up_refused=follow_up_refusal(current_user, row) if followed_up else None,
        public_page=has_public_page(row),
        may_take_down=authorisation.may(current_user, "alert.take_down", row),
    )


def _tick_words(form: str) -> str:
    """What a form of an alert's page refused for want of its tick says, in the page's
    language (kept translated in the session, a language switched between the post and
    its page showed "Gwall: Nothing was cancelled…": a re-check)."""
    return {
        "cancel": _("Nothing was cancelled: tick “Yes, stop this alert” first."),
        "take-down": _("Nothing was taken down: tick “Yes, take its public page down” first."),
        "send-again": _("Nothing was sent: tick “Yes, send it again to them” first."),
    }[form]


def _tick_first(row: Alert, form: str):
    """The alert's page again, saying at the box that it needs its tick, with the box
    in view and focused: a flash at the top of a reloaded page left a phone's user a
    screen above the box they missed (an outside check). When the page no longer
    offers that form (a stale page or a second tab: already finished, taken down or
    sent again), it says so at the top: the 400 page said nothing (an outside check)."""
    if _offers(row, form):
        session[TICK_REFUSED] = {"alert": row.id, "form": form}
        # (No #fragment: with one, the browser skips the box's autofocus: CI saw it.)
        return redirect(url_for("officers.alert", alert_id=row.id))
    flash(_no_longer_offered())
    return redirect(url_for("officers.alert", alert_id=row.id))


def _ticked(alert_id: int) -> None:
    """A form of the alert's page posted with its tick: a refusal of one before it,
    still waiting to be shown (its page not yet come), is forgotten, not said after
    this one's answer as "no longer offered"."""
    refused = session.get(TICK_REFUSED)
    if isinstance(refused, dict) and refused.get("alert") == alert_id:
        session.pop(TICK_REFUSED, None)


def _no_longer_offered() -> str:
    return _(
        "Nothing was done: this is no longer offered, as the alert has changed since "
        "its page was opened. Its page shows where it stands now."
    )


def _offers(row: Alert, form: str) -> bool:
    """Whether the alert's page shows this form now (officers/alert.html's conditions):
    asked without rendering the page, which would spend its waiting messages (a
    review)."""
    if form == "cancel":
        return row.status in ("sending", "pending_approval", "scheduled")
    if form == "take-down":
        return row.taken_down_at is None and has_public_page(row)
    if form == "send-again":
        return bool(_send_again_offer(row)["never_taken"])
    return True


def _followed_up(row: Alert) -> bool:
    """Whether the page offers an update and an all-clear: once it has gone out, and
    after a cancel that came part-way through sending (those who had it may need
    putting right; it offered nothing, though the send takes it: an outside check)."""
    if row.status in ("sending", "sent"):
        return True
    return row.status == "cancelled" and row.sent_at is not None


def _send_again_offer(row: Alert) -> dict:
    """What the page offers of sending again: counted only for who may, and the
    refusal looked for only when there is something to send."""
    may = authorisation.may(current_user, "alert.send_again", row)
    count, reason = never_taken(row) if may else (0, None)
    return {
        "may_send_again": may,
        "never_taken": count,
        "send_again_refused": send_again_refusal(row) if count else None,
        "never_taken_reason": reason if count else None,
        "still_refused": still_refused(row) if count else [],
    }


@bp.route("/alerts/<int:alert_id>/approve", methods=["POST"])
@role_required(*APPROVERS_OF)
def approve(alert_id: int):
    _alert_for("alert.approve", alert_id)
    # The count the page showed: the alert goes to it, or is not sent (an outside check:
    # approved for 11, it went to 51).
    try:
        approved = approve_alert(current_user, alert_id, expected=_count_seen())
    except NotAllowed as refusal:
        approved = approved_just_now(current_user, alert_id)
        if approved is None:
            flash(str(refusal))
    if approved is not None:
        # In the page's language, its time too (English words joined, an outside check).
        flash(
            _("Approved: it is going out now.")
            if approved.status != "scheduled"
            else _("Approved: it will go on %(when)s.", when=when(approved.send_at))
        )
    return redirect(url_for("officers.alert", alert_id=alert_id))


def _count_seen() -> int | None:
    """The count of residents an approval's page showed (0 for a hidden one), sent with
    the approval; None when it sent none or nonsense (refused by the service)."""
    return whole_number(request.form.get("expected_residents"), most=10**9)


@bp.route("/alerts/<int:alert_id>/reject", methods=["POST"])
@role_required(*APPROVERS_OF)
def reject(alert_id: int):
    row = _alert_for("alert.approve", alert_id)
    typed = request.form.get("reason", "")
    try:
        reject_alert(current_user, alert_id, typed)
    except AlertInvalid as refusal:
        return _alert_page(row, reason=typed[:1000], reason_error=str(refusal)), 400
    except NotAllowed as refusal:
        flash(str(refusal))
    else:
        flash(_("Rejected. The officer can see your reason on the alert's page."))
    return redirect(url_for("officers.alert", alert_id=alert_id))


@bp.route("/alerts/<int:alert_id>/cancel", methods=["POST"])
@role_required(*CANCELLERS)
def cancel(alert_id: int):
    row = _alert_for("alert.cancel", alert_id)
    before = row.status
    if request.form.get("confirm") != "yes":
        return _tick_first(row, "cancel")
    _ticked(alert_id)
    cancelled = cancel_alert(current_user, alert_id)
    if cancelled < 0 and row.status == "cancelled":
        # Cancelled a moment before (a second tap, another officer): "already finished"
        # did not say it was cancelled (an outside check). Its page says by whom.
        flash(_("This alert was cancelled already: there is nothing left to cancel."))
    elif cancelled < 0:
        flash(_("This alert has already finished: there is nothing left to cancel."))
    elif before in ("draft", "pending_approval", "scheduled") and not cancelled:
        # Nothing was queued yet: "0 messages will not be sent" read as nothing stopped.
        flash(_("Alert cancelled: it will not be sent to anyone."))
    elif not cancelled:
        # Every message already on its way: "0 messages will not be sent" read as if
        # something was stopped (an outside check).
        flash(
            _(
                "Alert cancelled, but none of its messages was still waiting: they had gone "
                "or were going. See what went below, and send a correction if one is needed."
            )
        )
    else:
        flash(
            ngettext(
                "Alert cancelled: %(count)s message will not be sent.",
                "Alert cancelled: %(count)s messages will not be sent.",
                cancelled,
                count=f"{cancelled:,}",
            )
        )
    return redirect(url_for("officers.alert", alert_id=alert_id))


@bp.route("/alerts/<int:alert_id>/take-down", methods=["POST"])
@role_required(*TAKERS_DOWN)
def take_down(alert_id: int):
    """Take an alert's public page down (a missing person found: it stayed public for
    good, an outside check)."""
    row = _alert_for("alert.take_down", alert_id)
    back = url_for("officers.alert", alert_id=alert_id, _anchor="take-down")
    if request.form.get("confirm") != "yes":
        return _tick_first(row, "take-down")
    _ticked(alert_id)
    if not has_public_page(row) and row.taken_down_at is None:
        # Never sent, or a test to oneself: no page to take down (it said "taken down
        # already", and stamped a test: a review).
        flash(_("This alert has no public page to take down."))
        return redirect(back)
    if take_down_public_page(current_user, alert_id):
        flash(_("Its public page is taken down."))
    else:
        flash(_("Its public page was taken down already."))
    return redirect(back)


@bp.route("/alerts/<int:alert_id>/send-again", methods=["POST"])
@role_required(*SENDERS_AGAIN)
def send_again(alert_id: int):
    row = _alert_for("alert.send_again", alert_id)
    if request.form.get("confirm") != "yes":
        return _tick_first(row, "send-again")
    _ticked(alert_id)
    try:
        queued = send_again_to_never_taken(current_user, alert_id)
    except NotAllowed as refusal:
        flash(str(refusal))
    else:
        flash(
            ngettext(
                "%(num)s message is being sent again.",
                "%(num)s messages are being sent again.",
                queued,
            )
            if queued
            else _(
                "Nothing was sent: no message is waiting to be sent again, or those it was"
                " for have stopped alerts since."
            )
        )
    return redirect(url_for("officers.alert", alert_id=alert_id))


@bp.route("/alerts/<int:alert_id>/progress")
@role_required(*VIEWERS)
def progress(alert_id: int):
    _alert_for("alert.view", alert_id)
    status = find_alert_status(alert_id) or abort(404)
    return jsonify(
        progress_shown(alert_id) | {"status": status, "status_label": alert_status(status)}
    )


@bp.route("/outbox")
@role_required(*authorisation.roles_for("outbox"))
def outbox():
    """What the development transport recorded, newest first."""
    alert_id = named_record("alert")
    if alert_id:
        # One of ours this officer may see, else 404 / 403 (it said "Showing alert N:
        # 0 messages" for any number, another force's too: an outside check).
        _alert_for("alert.view", alert_id)
    before_id = request.args.get("before", type=record_id)
    messages, total, older = view_outbox(current_user, alert_id=alert_id, before_id=before_id)
    return render_template(
        "officers/outbox.html",
        messages=messages,
        total=total,
        older=older,
        before_id=before_id,
        alert_id=alert_id,
        mask=mask_address,
    )
