"""What residents see: sign up for alerts."""

from __future__ import annotations

import hashlib
import time

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

from app.extensions import csrf
from app.i18n import and_list, in_language, police_of
from app.i18n import gettext as _
from app.models import CATEGORIES
from app.residents import RENEWED_KEY, remember, remember_unregistered, session_resident
from app.services import forces, public_alerts, public_feeds, replies
from app.services.dispatch import read_answer_token, read_unsubscribe_token
from app.services.optout import already_stopped, link_state, unsubscribe_channel
from app.services.postcode_check import PostcodeRefused, check_postcode
from app.services.recordings import find_recording_by_token
from app.services.registration import (
    AlreadyRegistered,
    RegistrationForm,
    RegistrationInvalid,
    TooManySignUps,
    consent_key,
    consent_on_form,
    consent_shown_for,
    consent_statement,
    find_interest_groups,
    register_resident,
    statement_language,
)
from app.services.residents import forces_heard_by, holds_all, page_is_open
from app.services.transaction import release_connection
from app.web import client_network

bp = Blueprint("public", __name__)

# The pages and feeds of one force's alerts: the default force's at /alerts..., another
# force's at /forces/<slug>/alerts... (each reads only its force's alerts: the request
# is scoped to it, app/services/forces.py).
FORCE_PAGES = (
    "public.index",
    "public.check",
    "public.alerts",
    "public.alert",
    "public.feed",
    "public.rss_feed",
    "public.cap_feed",
    "public.cap_document",
    "public.register",
)
# The feeds carry the other forces' alerts this force approved for its residents, as
# its list does, each entry under its own force (its author and its CAP document).
FEEDS = ("public.feed", "public.rss_feed", "public.cap_feed")


@bp.url_value_preprocessor
def _force_of_page(endpoint: str | None, values: dict | None) -> None:
    if endpoint not in FORCE_PAGES:
        return
    slug = (values or {}).pop("force_slug", None)
    force = forces.default_force() if slug is None else forces.force_named(slug)
    if force is None:
        abort(404)  # no such force
    if slug is not None and force.is_default:
        # The default force's pages have one address; its slug's leads there (a link
        # built from the slug the admin's page names answered 404: an outside check).
        # 308: a form posted there is posted again to the same page.
        there = url_for(endpoint, **(values or {}))
        query = request.query_string.decode("latin-1")
        abort(redirect(f"{there}?{query}" if query else there, 308))
    forces.show_public(force, with_approved=endpoint in ("public.alerts", "public.alert", *FEEDS))
    # The check looks at every force's alerts (another's is said to be theirs), the
    # start page reads none, and sign-up takes a postcode of any force.
    if endpoint not in ("public.index", "public.check", "public.register"):
        forces.scope_to(force.id)


@bp.url_defaults
def _keep_force(endpoint: str, values: dict) -> None:
    """Links from one force's pages to its others stay under its address."""
    if endpoint in FORCE_PAGES and "force_slug" not in values:
        slug = forces.public_slug()
        if slug is not None:
            values["force_slug"] = slug
    elif values.get("force_slug", "") is None:
        values.pop("force_slug")


@bp.route("/")
@bp.route("/forces/<force_slug>/")
def index():
    """The start page: a force's own under its address (Wiltshire's pages linked to
    the first force's, "Hear from Avon and Somerset Police": an outside check)."""
    return render_template("public/index.html")


@bp.route("/register", methods=["GET", "POST"])
@bp.route("/forces/<force_slug>/register", methods=["GET", "POST"])
def register():
    if request.method != "POST":  # GET, or HEAD (Flask answers HEAD with the GET view)
        return _register_page(RegistrationForm(), {})
    form = RegistrationForm.from_form(request.form)
    answer_at = time.monotonic() + current_app.config["SIGN_UP_ANSWER_MS"] / 1000
    try:
        signed_up = session_resident()
        resident, checked = register_resident(
            form,
            ip_address=client_network(),
            # This browser's session (its form token's secret): the same sign-up sent
            # twice from it is one.
            browser=session.get("csrf_token"),
            own=signed_up if signed_up is not None and page_is_open(signed_up) else None,
        )
    except TooManySignUps as refusal:
        return _register_page(form, {"form": str(refusal)}, 429)
    except RegistrationInvalid as invalid:
        return _register_page(form, invalid.errors, 400)
    # What the answer needs from the database is read before the wait, not after it:
    # the sign-up is committed and its code on its way, and a database gone in that
    # wait answered "We cannot do that just now", with the code refused from another
    # phone for ten minutes (an outside check).
    except AlreadyRegistered as already:
        if holds_all(signed_up, already.addresses) and page_is_open(signed_up):
            # This browser's own resident, sending the form again (back, then Sign up):
            # their page, not a confirm page that would shut them out of it (an
            # outside probe). Nothing is told that this browser does not hold already.
            # A postcode not among their places is said to be added there (it was
            # dropped without a word: an outside check).
            place = already.checked.postcode
            if place.postcode not in {p.postcode for p in signed_up.locations}:
                flash(
                    _(
                        "You are signed up already. Here are your alerts. %(postcode)s is "
                        "not one of your places: to get alerts there too, add it under "
                        "“Places”.",
                        postcode=place.display,
                    )
                )
            else:
                flash(_("You are signed up already. Here are your alerts."))
            _wait_until(answer_at)
            return redirect(url_for("residents.my_alerts"))
        # The same next page as a new sign-up (see AlreadyRegistered).
        _said_of_codes(already.corrected, already.sent_again, form.language)
        session["registered_place"] = _place_in(already.checked, form.language)
        remember_unregistered(
            already.addresses,
            form.language,
            already.force_id,
            sent_again=already.sent_again or already.corrected,
            sent=already.sent,
            unsent=already.unsent,
        )
        _wait_until(answer_at)
        return redirect(url_for("residents.confirm"))
    # Shown once on the next page; nothing personal goes into the URL.
    _said_of_codes(
        getattr(resident, "corrected", False),
        getattr(resident, "sent_again", False),
        resident.language,
    )
    session["registered_place"] = _place_in(checked, form.language)
    remember(resident, language_chosen=True)
    _wait_until(answer_at)
    return redirect(url_for("residents.confirm"))


def _said_of_codes(corrected: bool, sent_again: bool, language: str) -> None:
    """A sign-up corrected keeps its codes, and the next page says so, in its language
    (corrected to Welsh, the Welsh page said it in English: an outside check); a new
    one starts the list of ways sent a newer code (residents.RENEWED_KEY) again."""
    if corrected:
        with in_language(language):
            said = _(
                "We have changed your sign-up. What we sent you before still works: use "
                "the code or link in it."
            )
        flash(said)
    elif not sent_again:
        session[RENEWED_KEY] = []


def _place_in(checked, language: str) -> str:
    """The place signed up for, in the language the next page is in (the resident's):
    a Welsh confirm page read "Central ward", the English order (an outside check)."""
    with in_language(language):
        return checked.description or checked.postcode.display


def _wait_until(moment: float) -> None:
    """Answer no sooner than `moment` (time.monotonic): a sign-up of a number or
    address we hold must take as long as a new one (SIGN_UP_ANSWER_MS), without a
    database connection held meanwhile."""
    release_connection()
    left = moment - time.monotonic()
    if left > 0:
        time.sleep(left)


def _register_page(form: RegistrationForm, errors: dict[str, str], status: int = 200):
    """The sign-up form, shown again with what the resident typed. Its consent
    statement is the one for the postcode typed; if those are other words than the
    ones ticked, the box is not ticked for them."""
    shown = consent_on_form(form.postcode)
    if form.consent and form.consent_key != shown[2]:
        form.consent = False
    return render_template(
        "public/register.html",
        form=form,
        errors=errors,
        groups=find_interest_groups(),
        consent=shown,
    ), status


@bp.route("/register/postcode", methods=["POST"])
def postcode_place():
    """What a postcode is, for the form to show as the resident types (so a wrong
    postcode is caught before they go on): the ward and district, or why it is refused.
    Posted, not asked in the address: where someone lives stays out of every log and
    history a URL reaches."""
    try:
        checked = check_postcode(str(request.form.get("postcode", ""))[:20])
    except PostcodeRefused as refusal:
        return jsonify(error=str(refusal)), 400
    who = (
        _("Alerts for this place come from: %(forces)s.", forces=", ".join(checked.force_names))
        if checked.force_names
        else ""
    )
    consent = consent_statement(checked.covering) if checked.covering else None
    return jsonify(
        postcode=checked.postcode.display,
        place=checked.description,
        forces=who,
        # The sign-up form's statement for this place's forces, and which they are.
        consent=consent,
        consent_for=consent_shown_for(checked.covering) if consent else None,
        consent_key=consent_key(consent) if consent else None,
        consent_lang=statement_language(checked.covering) if consent else None,
    )


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # a mail client's one-click POST carries no CSRF token; the signed token
def unsubscribe(token: str):  # in the URL is the proof
    """One-click unsubscribe (RFC 8058). GET only shows a button: mail scanners follow
    links, and must not unsubscribe anyone; the mail client's POST (or the button) does.
    """
    found = read_unsubscribe_token(token)
    if found is None:
        title = _(
            "That link has expired or is not valid. To stop these e-mails, use "
            "“Change or stop your alerts” on our start page."
        )
        return render_template("error.html", title=title, status=404, said=True), 404
    state = link_state(*found)
    if state == "gone":
        title = _(
            "There is nothing for that link to stop: the alerts it was for have been "
            "removed, and no more e-mails go from it."
        )
        return render_template("error.html", title=title, status=410, said=True), 410
    if state == "changed":
        title = _(
            "That link was in an e-mail to an address you have since changed, so it "
            "stops nothing. To stop e-mails to your address now, use the link in one of "
            "them, or “Change or stop your alerts” on our start page."
        )
        return render_template("error.html", title=title, status=410, said=True), 410
    # The page is the resident's forces', and names them: an unsubscribe stops e-mails
    # from every force they hear from, not only the installation's first.
    heard = forces_heard_by(found[0])
    if len(heard) == 1:
        forces.show_public(heard[0])
    who = and_list([police_of(force) for force in heard] or [police_of(forces.current_force())])
    if request.method == "POST":
        unsubscribe_channel(*found)
        if request.form.get("List-Unsubscribe") == "One-Click":  # a mail client's (RFC 8058)
            return render_template("public/unsubscribed.html", who=who)
        # The button's: its page by a redirect, so Back and Forward past it do not ask
        # to send the form again (an outside check); "just stopped" carried once in the
        # session (as ?done=1 in the address, that link said so whenever opened).
        session[UNSUBSCRIBED] = _link_key(token)
        return redirect(request.path)
    if already_stopped(*found[:2]):
        just = session.pop(UNSUBSCRIBED, None) == _link_key(token)
        return render_template("public/unsubscribed.html", who=who, already=not just)
    return render_template("public/unsubscribe.html", token=token, who=who)


# The answer just given, shown once by the page the answer's post redirects to; and
# the unsubscribe link just used.
ANSWERED = "answered"
UNSUBSCRIBED = "unsubscribed"


def _link_key(token: str) -> str:
    """A link's token as the session keeps it: not the token, which acts for its
    resident (a session cookie is signed, not hidden)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@bp.route("/answer/<token>", methods=["GET", "POST"])
def answer(token: str):  # the token in the URL is the proof of which message it is
    """An e-mail's link to answer the alert's question or confirm receipt. GET only
    shows the choices (mail scanners follow links); a button press records one."""
    delivery_id = read_answer_token(token)
    asked = replies.question_for(delivery_id) if delivery_id is not None else None
    if asked is None:
        title = _("That link has expired or is not valid. There is nothing to answer.")
        return render_template("error.html", title=title, status=404, said=True), 404
    forces.show_public(forces.force_by_id(asked["force_id"]))  # the alert's force's page
    if asked["taken_down"]:
        # Its title stayed on the answer page of a forwarded e-mail, and answers were
        # still taken, after the alert's page was taken down (an outside check).
        return _taken_down_page()
    error = None
    if request.method == "POST":
        try:
            kind = replies.receive_web_answer(delivery_id, request.form.get("choice", ""))
        except replies.ReplyRefused as refusal:
            error = str(refusal)
        else:
            # Its thanks by a redirect, so Back and Forward past it do not ask to send
            # the answer again (an outside check).
            session[ANSWERED] = {"delivery": delivery_id, "kind": kind}
            return redirect(request.path)
    else:
        answered = session.pop(ANSWERED, None)
        if isinstance(answered, dict) and answered.get("delivery") == delivery_id:
            return render_template("public/answered.html", asked=asked, kind=answered.get("kind"))
    status = 400 if error else 200
    return render_template("public/answer.html", asked=asked, error=error), status


@bp.route("/media/recordings/<token>")
def recording(token: str):
    """An officer's recording, for Twilio to play on calls (and the officer to check).
    The token is random and long: it is the only way to find a recording."""
    found = find_recording_by_token(token)
    if found is None:
        return render_template("error.html", title=_("There is no such recording"), status=404), 404
    return Response(
        found.data,
        mimetype=found.content_type,
        headers={"Cache-Control": "private, max-age=86400"},
    )


@bp.route("/alerts", methods=["GET", "POST"])
@bp.route("/forces/<force_slug>/alerts", methods=["GET", "POST"])
def alerts():
    """The force's alerts, newest first, by category and area (a postcode or a place).
    The area is posted, never put in the address (a postcode is often where someone
    lives: it would stay in histories and logs), and kept in Redis under a reference
    the session holds: the post is answered by a redirect to ?near=1, whose pages are
    links and whose back button does not ask to send a form again. An old link's
    ?area= still works, and is answered the same way."""
    if request.method == "POST":
        form = request.form
        listed = public_alerts.list_public_alerts(
            form.get("page"), form.get("category"), form.get("area")
        )
        if not listed.errors:
            return _list_again(listed)
    else:
        area = request.args.get("area")  # an old link's
        if area is None and request.args.get("near") == "1":
            area = public_alerts.find_list_area(session.get(AREA_KEY))
        listed = public_alerts.list_public_alerts(
            request.args.get("page"), request.args.get("category"), area
        )
        if "area" in request.args and not listed.errors:
            # An old link's postcode leaves the address bar (and the history) at once.
            return _list_again(listed)
    # Another force's alert that this one agreed to send its residents says whose it
    # is (the list said "every alert we have sent" and named nobody: an outside check).
    here = forces.current_force().id
    senders = {
        alert.id: police_of(forces.force_by_id(alert.force_id))
        for alert in listed.alerts
        if alert.force_id != here
    }
    return render_template(
        "public/alerts.html",
        listed=listed,
        categories=CATEGORIES,
        page_url=_alerts_url,
        senders=senders,
    ), (400 if listed.errors else 200)


def _list_again(listed: public_alerts.PublicList):
    """Keep the list's area (in Redis; the session holds a reference to it) and show
    the list at an address without it."""
    if listed.area:
        session[AREA_KEY] = public_alerts.keep_list_area(listed.area)
    else:
        session.pop(AREA_KEY, None)  # the area cleared: the list is everyone's
    return redirect(_alerts_url(listed, listed.page), 303)


# The area a visitor's list of alerts is limited to (their session, not the address).
AREA_KEY = "alerts_area"


def _alerts_url(listed: public_alerts.PublicList, page: int) -> str:
    """The address of a page of the list as filtered, the area left out."""
    return url_for(
        "public.alerts",
        near=1 if listed.area else None,
        category=listed.category or None,
        page=page if page > 1 else None,
    )


@bp.route("/alerts/<reference>")
@bp.route("/forces/<force_slug>/alerts/<reference>")
def alert(reference: str):
    found = public_alerts.find_public_alert(reference)
    if found is None and public_alerts.was_taken_down(reference):
        # Said, not "no such alert": a resident following a link from their message.
        return _taken_down_page()
    if found is None:
        return render_template("public/no_alert.html", reference=reference[:40]), 404
    return render_template(
        "public/alert.html",
        found=found,
        area=found.area_geojson,
        bounds=None,
        alert_force=forces.public_values,  # another force's alert, shown here
        # Whose alert it is, on any force's page: a neighbour's page showing an alert
        # it agreed to send named itself as the sender (an outside check).
        sender=police_of(forces.force_by_id(found.alert.force_id)),
    )


def _taken_down_page():
    title = _(
        "The police have taken this alert's page down. If you got a message with "
        "this reference, it was from us."
    )
    return render_template("error.html", title=title, status=410, said=True), 410


@bp.route("/check", methods=["GET", "POST"])
@bp.route("/forces/<force_slug>/check", methods=["GET", "POST"])
def check():
    """Is this message genuine? The reference or the pasted message is posted, never
    put in the URL, and is neither stored nor logged."""
    result = error = None
    typed = ""
    status = 200
    if request.method == "POST":
        typed = request.form.get("message", "")
        try:
            result = public_alerts.check_message(typed, ip_address=client_network())
        except public_alerts.TooManyChecks as refusal:
            error, status = str(refusal), 429
        except ValueError as refusal:
            error, status = str(refusal), 400
    # Any force's alert is checked here: another force's is said to be theirs, not ours.
    sender = None
    alert = result.alert if result is not None else None
    if alert is not None and alert.force_id != forces.current_force().id:
        sender = police_of(forces.force_by_id(alert.force_id))
    return render_template(
        "public/check.html",
        result=result,
        error=error,
        typed=typed[:2_000],
        sender=sender,
        alert_force=forces.public_values,
    ), status


def _document(document):
    """A feed or CAP document, or 304 when the reader has this version already."""
    response = Response(mimetype=document.media_type)
    response.set_etag(document.etag)
    if document.last_modified:
        response.last_modified = document.last_modified
    response.headers["Cache-Control"] = "public, max-age=60"
    response = response.make_conditional(request)
    if response.status_code != 304:
        response.set_data(document.build())
    return response


@bp.route("/alerts/feed/<any(en, cy):language>.atom")
@bp.route("/forces/<force_slug>/alerts/feed/<any(en, cy):language>.atom")
def feed(language: str):
    return _document(public_feeds.atom(language))


@bp.route("/alerts/feed/<any(en, cy):language>.rss")
@bp.route("/forces/<force_slug>/alerts/feed/<any(en, cy):language>.rss")
def rss_feed(language: str):
    return _document(public_feeds.rss(language))


@bp.route("/alerts/feed/cap.atom")
@bp.route("/forces/<force_slug>/alerts/feed/cap.atom")
def cap_feed():
    return _document(public_feeds.cap_index())


@bp.route("/alerts/<reference>/cap.xml")
@bp.route("/forces/<force_slug>/alerts/<reference>/cap.xml")
def cap_document(reference: str):
    # A taken-down alert's is its Cancel, without its words (public_feeds.cap_document).
    document = public_feeds.cap_document(reference)
    if document is None:
        return render_template("public/no_alert.html", reference=reference[:40]), 404
    return _document(document)
