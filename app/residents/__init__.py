"""Residents in control: confirm a phone or an e-mail address, open their own page from
a link (no password), change places, channels, groups and quiet hours, pause, take
their data, leave. The resident is remembered in the session, never in a URL."""

from __future__ import annotations

import contextlib
import functools
import json
import time
import uuid
from types import SimpleNamespace

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.datastructures import MultiDict

from app.i18n import and_list, keep_own_language, page_for_resident, police_of, remember_language
from app.i18n import gettext as _
from app.i18n import lazy_gettext as _l
from app.services import forces
from app.services.contacts import ContactRefused
from app.services.registration import find_interest_groups
from app.services.residents import (
    CHANNEL_LABELS,
    ChangeRefused,
    ConsentNeeded,
    ResidentGone,
    RowGone,
    add_location,
    close_pages,
    data_page,
    delete_resident,
    export_data,
    find_resident,
    forces_heard_by,
    forces_of,
    just_deleted,
    ordered_places,
    page_is_open,
    parse_quiet_hours,
    remember_deleted,
    remove_channel,
    remove_location,
    set_channel,
    set_forces_heard,
    set_groups,
    set_language,
    set_paused,
    set_quiet_hours,
    shares_a_number,
)
from app.services.text import whole_number
from app.services.verification import (
    WAIT,
    TooManyLinks,
    VerificationRefused,
    check_code,
    email_link_language,
    email_link_refusal,
    email_link_resident,
    find_unregistered,
    keep_unregistered,
    read_manage_token,
    refused_addresses,
    request_manage_link,
    resend_proof,
    resend_unregistered,
    sign_ups_made_by,
    start_unregistered,
    unregistered_guess,
    verify_email_token,
)
from app.web import attachment, client_network
from geo.postcodes import display

bp = Blueprint("residents", __name__)

SESSION_KEY = "resident"
# The ways this browser was sent a newer code by (see _note_renewed).
RENEWED_KEY = "codes_renewed"
# The resident's session generation when their page was opened here: signing out
# raises it, and closes this page and every copy of its cookie (services.close_pages).
GENERATION_KEY = "resident_generation"
# When the page was opened here, and how long it stays open however often it is used:
# a copy of the cookie left on a shared computer, used every half hour, kept it open
# for good (an outside check).
OPENED_KEY = "resident_opened"
PAGE_OPEN_HOURS = 12


def session_resident():
    """The resident whose page this browser has open, or None (none, closed since by a
    sign-out, or opened more than PAGE_OPEN_HOURS ago)."""
    resident = find_resident(session.get(SESSION_KEY))
    if resident is not None and session.get(GENERATION_KEY, 0) != resident.session_generation:
        return None
    if resident is not None:
        # A page opened before this was kept counts from now.
        opened = session.setdefault(OPENED_KEY, int(time.time()))
        if time.time() - opened > PAGE_OPEN_HOURS * 3600:
            return None
    return resident


def resident_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        resident = session_resident()
        if (resident is None and find_unregistered(session.get(SESSION_KEY))) or (
            resident is not None and not page_is_open(resident)
        ):
            return render_template("residents/confirm_first.html")
        if resident is None and just_deleted(session.get(SESSION_KEY)):
            session.pop(SESSION_KEY, None)
            session.setdefault(DELETED_KEY, "")
            return redirect(url_for("residents.deleted"))  # a double tap's second
        if resident is None:
            session.pop(SESSION_KEY, None)
            flash(_("Your page has closed. Ask for a new link to open it again."))
            return redirect(url_for("residents.manage"))
        _pages_of_their_force(resident)
        return view(resident, *args, **kwargs)

    return wrapper


def _pages_of_their_force(resident) -> None:
    """Their pages are their force's (its name, its 101): a Wiltshire resident's said
    "Avon and Somerset Police" (an outside check), and so did the page where they
    confirmed, beside a code from Wiltshire Police (another)."""
    heard = forces_heard_by(resident.id)
    if heard:
        forces.show_public(heard[0])


@bp.url_value_preprocessor
def _force_of_page(endpoint: str | None, values: dict | None) -> None:
    """/forces/<slug>/manage: asking for the link from a second force's pages keeps
    that force's name and number on the page."""
    slug = (values or {}).pop("force_slug", None)
    if slug is None:
        return
    force = forces.force_named(slug)
    if force is None or force.is_default:
        abort(404)
    forces.show_public(force)


@bp.url_defaults
def _keep_force(endpoint: str, values: dict) -> None:
    if endpoint == "residents.manage" and "force_slug" not in values:
        slug = forces.public_slug()
        if slug is not None:
            values["force_slug"] = slug
    elif values.get("force_slug", "") is None:
        values.pop("force_slug")


def remember(resident, *, language_chosen: bool = False) -> None:
    """Open the resident's page in this session: in the language they chose on the form
    just sent (`language_chosen`), else in their own unless the visitor switched."""
    session.pop(UNREGISTERED_KEY, None)
    session[SESSION_KEY] = str(resident.reference)
    session[GENERATION_KEY] = resident.session_generation
    session[OPENED_KEY] = int(time.time())
    session.permanent = True
    if language_chosen:
        remember_language(resident.language)
    else:
        keep_own_language(resident.language)


# A sign-up whose number or address was already registered: nothing was stored, and
# the confirm page behaves as for anyone else (no code will ever match). Its state is
# kept on the server under a reference in the session like a resident's, so that the
# cookie reads the same either way (verification.keep_unregistered). The key is only
# cleared from sessions made before that.
UNREGISTERED_KEY = "unregistered"


def remember_unregistered(
    addresses: dict[str, str],
    language: str,
    force_id: int | None = None,
    *,
    sent_again: bool = False,
    sent: int = 0,
    unsent: tuple[str, ...] | list[str] = (),
) -> None:
    """`sent_again`: the sign-up this browser sent moments ago, sent again or corrected:
    its state is kept, codes' clocks and guesses, as a stored one's resident is (a
    repeat started a new one, and "Send again" then said "We sent a code moments ago"
    of a registered number alone: a review); its force is the one now asked for."""
    session.pop(UNREGISTERED_KEY, None)
    reference = session.get(SESSION_KEY)
    pending = find_unregistered(reference) if sent_again else None
    if pending is None or pending.get("channels") != addresses:
        reference = str(uuid.uuid4())
        pending = start_unregistered(addresses, force_id, sent, unsent)
    pending["force_id"] = force_id
    keep_unregistered(reference, pending)
    session[SESSION_KEY] = reference
    session[GENERATION_KEY] = 0  # the cookie reads as a new resident's would
    session[OPENED_KEY] = int(time.time())
    session.permanent = True
    remember_language(language)


def _confirm_unregistered(pending: dict):
    """The confirm page of a sign-up that stored nothing: as a new resident's would be,
    their force's pages and words (it was the first force's, and said "reply START to
    one of them": which told who was registered, an outside check)."""
    if isinstance(force_id := pending.get("force_id"), int):
        with contextlib.suppress(forces.NoForce):  # gone since: the first force's
            forces.show_public(forces.force_by_id(force_id))
    errors: dict[str, str] = {}
    if request.method == "POST":
        channel = request.form.get("channel", "")
        if request.form.get("action") == "resend":
            sent = resend_unregistered(pending, channel)
            if sent is not None:
                keep_unregistered(session[SESSION_KEY], pending)
                _flash_resent(channel, sent=sent)
                _note_renewed(channel, sent)
            return redirect(url_for("residents.confirm"))
        if channel == "email" or channel not in pending["channels"]:
            return _no_such_box()
        errors[f"code-{channel}"] = unregistered_guess(
            pending, channel, request.form.get("code", ""), renewed=_renewed(channel)
        )
        keep_unregistered(session[SESSION_KEY], pending)
    channels = [
        SimpleNamespace(
            channel=c,
            address=a,
            proving_address=a,
            pending_address=None,
            verified_at=None,
            awaiting_proof=True,
        )
        for c, a in pending["channels"].items()
    ]
    return render_template(
        "residents/confirm.html",
        channels=_in_order(channels),
        errors=errors,
        labels=CHANNEL_LABELS,
        texts_from=_texts_from(),
        refused=_refused(channels),
    ), (400 if errors else 200)


# --- confirming -------------------------------------------------------------------


@bp.route("/register/confirm", methods=["GET", "POST"])
def confirm():
    """Enter the codes sent to the resident's phones; e-mail is confirmed by its link."""
    resident = session_resident()
    if resident is None and (pending := find_unregistered(session.get(SESSION_KEY))):
        return _confirm_unregistered(pending)
    if resident is None:
        flash(_("Your page has closed. Ask for a new link to open it again."))
        return redirect(url_for("residents.manage"))
    _pages_of_their_force(resident)
    errors: dict[str, str] = {}
    if request.method == "POST":
        channel = request.form.get("channel", "")
        if request.form.get("action") == "resend":
            sent = resend_proof(resident, channel)
            if sent is not None:
                _flash_resent(channel, sent=sent)
                _note_renewed(channel, sent)
            return redirect(url_for("residents.confirm"))
        if channel == "email" or channel not in {c.channel for c in resident.channels}:
            return _no_such_box()  # an e-mail address is confirmed by its link
        try:
            check_code(resident, channel, request.form.get("code", ""), renewed=_renewed(channel))
        except VerificationRefused as refusal:
            # A second tap on Confirm (or a second tab) finds it confirmed by the
            # first: that is the first's success, not an error.
            if not any(c.channel == channel and not c.awaiting_proof for c in resident.channels):
                errors[f"code-{channel}"] = str(refusal)
        if not errors:
            # The next page says what happened and what comes next.
            session["just_confirmed"] = channel
            return redirect(url_for("residents.confirm"))
    return render_template(
        "residents/confirm.html",
        channels=_in_order(resident.channels),
        errors=errors,
        labels=CHANNEL_LABELS,
        texts_from=_texts_from(),
        refused=_refused(resident.channels),
    ), (400 if errors else 200)


def _refused(channels) -> dict[str, str]:
    """What to say of the ways still to confirm whose code or link was refused as the
    address's own (verification.refused_addresses)."""
    return refused_addresses({c.channel: c.proving_address for c in channels if c.awaiting_proof})


def _in_order(channels) -> list:
    """The ways to confirm in the form's order, text, call, e-mail, whoever's: a
    registered address's page listed them as typed, a new one's as the database gave
    them, and the order told which was which (a re-check)."""
    return sorted(channels, key=lambda c: list(CHANNEL_LABELS).index(c.channel))


def _texts_from() -> str | None:
    """The number our texts come from, for a resident to text START to; None when they
    come from a Messaging Service's pool or a sender name."""
    config = current_app.config
    numbers = (config.get("TWILIO_FROM_NUMBER") or "").split(",")
    first = numbers[0].strip()
    pooled = len(numbers) > 1 or config.get("TWILIO_MESSAGING_SERVICE_SID")
    return first if first.startswith("+") and not pooled else None


def _note_renewed(channel_name: str, sent: bool | str) -> None:
    """Remember that this browser was sent a newer code by `channel_name` (see
    wrong_code); a sign-up's own codes start the list again (public.register)."""
    if sent is True and channel_name not in (renewed := session.get(RENEWED_KEY, [])):
        session[RENEWED_KEY] = [*renewed, channel_name]


def _renewed(channel_name: str) -> bool:
    renewed = session.get(RENEWED_KEY)
    return isinstance(renewed, list) and channel_name in renewed


def _no_such_box():
    """A code for a way to reach them the page has no box for (a form altered, an old
    tab): said, rather than a 400 with no message (an outside check)."""
    flash(_("Enter the code in the box under the phone it was sent to."))
    return redirect(url_for("residents.confirm"))


def _flash_resent(channel_name: str, *, sent: bool | str) -> None:
    if sent == WAIT:
        flash(
            _(
                "We sent a code moments ago. Texts and calls can take a minute to arrive: "
                "wait for it before asking for another."
            )
        )
    elif not sent and channel_name == "email":
        flash(_("We have sent that address as many links as we can for now. Try again later."))
    elif not sent:
        flash(_("We have sent that number as many codes as we can for now. Try again later."))
    else:
        flash(
            _("We have sent a new code.")
            if channel_name != "email"
            else _("We have sent a new link.")
        )


@bp.route("/confirm-email/<token>", methods=["GET", "POST"])
def verify_email(token: str):
    """GET only shows a button: mail scanners follow links, and a click by a scanner
    must not confirm an address."""
    # Their force's page, as the e-mail is (a Wiltshire resident's opened on Avon and
    # Somerset's: a re-check).
    if (whose := email_link_resident(token)) is not None:
        _pages_of_their_force(whose)
    if request.method != "POST":  # GET, or HEAD (Flask answers HEAD with the GET view)
        # A link that has expired, or is not ours, is told so now, not after a tap.
        page_for_resident(email_link_language(token))
        if (refusal := email_link_refusal(token)) is not None:
            return render_template("error.html", title=refusal, status=400, said=True), 400
        return render_template("residents/confirm_email.html", token=token)
    try:
        resident, confirmed = verify_email_token(token)
    except VerificationRefused as refusal:
        return render_template("error.html", title=str(refusal), status=400, said=True), 400
    if not confirmed:
        # A used link proves nothing new: it does not open the resident's page.
        flash(_("That e-mail address is already confirmed. To change your alerts, ask for a link."))
        return redirect(url_for("residents.manage"))
    remember(resident)
    flash(_("E-mail address confirmed. You will get alerts by e-mail."))
    return redirect(url_for("residents.my_alerts"))


# --- opening the resident's page --------------------------------------------------


@bp.route("/manage", methods=["GET", "POST"])
@bp.route("/forces/<force_slug>/manage", methods=["GET", "POST"])
def manage():
    error = None
    if request.method == "POST":
        try:
            # The same answer, in the same time, whether or not we hold the address.
            request_manage_link(request.form.get("address") or "", ip_address=client_network())
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
        resident = read_manage_token(
            token, use=request.method == "POST", browser=session.get("csrf_token")
        )
    except VerificationRefused as refusal:
        return render_template("residents/manage.html", error=str(refusal)), 400
    if request.method != "POST":  # GET, or HEAD (Flask answers HEAD with the GET view)
        page_for_resident(resident.language)
        # Their force's page, as the pages it opens are (a Wiltshire resident's link
        # opened on Avon and Somerset's: an outside check).
        _pages_of_their_force(resident)
        return render_template("residents/open_manage.html")
    remember(resident)
    return redirect(url_for("residents.my_alerts"))


@bp.route("/my-alerts")
@resident_required
def my_alerts(resident):
    return _my_alerts_page(resident, errors={})


def _my_alerts_page(
    resident, *, errors: dict[str, str], posted=None, saved=(), place_consent=None
) -> str:
    return render_template(
        "residents/my_alerts.html",
        resident=resident,
        places=ordered_places(resident),
        force_choices=forces_of(resident),
        groups=find_interest_groups(),
        labels=CHANNEL_LABELS,
        display=display,
        errors=errors,
        posted=posted if posted is not None else MultiDict(),
        saved=saved,
        place_consent=place_consent,
        # Paused, a number another registration holds still gets that one's alerts:
        # said beside "Nothing is sent" (which the page said: an outside re-check).
        shared_number_note=_shared_number_note(resident).strip() if resident.paused_at else "",
        refused=_refused(resident.channels),
    )


@bp.route("/my-alerts", methods=["POST"])
@resident_required
def save(resident):
    """The page's one form: every button sends every section, and each change made is
    saved (each in its own transaction), so nothing typed in one section is lost by a
    button in another. A refused change is shown by its field, with what was saved."""
    form = request.form
    saved: list[str] = []
    errors: dict[str, str] = {}
    needed: list[ConsentNeeded] = []
    sent_to = None  # (channel, notice) of a new address saved

    def attempt(what, action) -> bool:
        try:
            action()
        except _Unchanged:
            return False
        except ResidentGone:
            raise  # _gone_meanwhile
        except ChangeRefused as refusal:
            errors.setdefault(refusal.field, str(refusal))
            if isinstance(refusal, ConsentNeeded):
                needed.append(refusal)
            return False
        if what:
            saved.append(str(what))
        return True

    language = form.get("language")
    changed = language and language != resident.language
    if changed:
        # First, so that everything the page says after this is in the new language.
        attempt(
            _l("language"),
            lambda: (set_language(resident, language), remember_language(language)),
        )
    if form.get("groups_shown"):
        chosen = sorted(form.getlist("groups"))
        if chosen != sorted(g.slug for g in resident.groups):
            attempt(_l("groups"), lambda: set_groups(resident, chosen))
    quiet_saved = bool(form.get("quiet_shown")) and attempt(
        _l("quiet hours"), lambda: _save_quiet_hours(resident, form)
    )
    if form.get("forces_shown"):
        theirs = forces_of(resident)
        # Only their own forces count: one they have no place in, sent along, is no
        # change ("Saved: police forces" when nothing was: an outside check).
        heard = {whole_number(f) for f in form.getlist("forces")} & {e["id"] for e in theirs}
        if heard != {entry["id"] for entry in theirs if entry["hearing"]}:
            attempt(_l("police forces"), lambda: set_forces_heard(resident, heard))
    new_place = form.get("postcode", "").strip() or form.get("label", "").strip()
    if new_place and attempt(
        _l("new place"),
        lambda: add_location(
            resident,
            label=form.get("label", ""),
            postcode=form.get("postcode", ""),
            agreed=_agreed(form),
        ),
    ):
        form = _without(form, "label", "postcode", "place_consent", "place_consent_key")
    if form.get("address", "").strip():
        channel = form.get("channel", "")
        notice = []
        if attempt(
            CHANNEL_LABELS.get(channel, ""),
            lambda: notice.append(
                set_channel(resident, channel, form.get("address", ""), made_here=_made_here())
            ),
        ):
            form = _without(form, "address")
            sent_to = (channel, notice[0])
    if (place_id := whole_number(form.get("remove_place"))) is not None:
        attempt(_l("place removed"), lambda: remove_location(resident, place_id))
    if form.get("remove_channel") in CHANNEL_LABELS:
        channel = form["remove_channel"]
        attempt(
            _l("%(what)s alerts stopped", what=CHANNEL_LABELS[channel]),
            lambda: remove_channel(resident, channel),
        )
    if form.get("pause") in ("pause", "resume"):
        paused = form["pause"] == "pause"
        attempt(
            _l("alerts paused") if paused else _l("alerts resumed"),
            lambda: set_paused(resident, paused),
        )
    if sent_to:
        # Said where the code goes in: the confirm page, or (something else refused,
        # the page shown again) by the link beside the number; "enter it below" there
        # pointed at nothing (an outside check).
        flash(_contact_message(*sent_to, staying=bool(errors)))
    if errors:
        return _my_alerts_page(
            resident,
            errors=errors,
            posted=form,
            saved=saved,
            place_consent=needed[0] if needed else None,
        ), 400
    said = _("Saved: %(what)s.", what=", ".join(saved)) if saved else _("Nothing has changed.")
    # The page's own quiet hours post here: what a number another registration holds
    # still gets is said as the route's is (only it said so, and nothing on the page
    # posts to it: an outside re-check). Paused, the page's banner says it.
    if quiet_saved and form.get("quiet") in ("yes", "on"):
        said += _shared_number_note(resident)
    flash(said)
    if sent_to and sent_to[0] in ("sms", "voice"):  # its code goes in on the confirm page
        return redirect(url_for("residents.confirm"))
    return redirect(url_for("residents.my_alerts"))


def _agreed(form) -> str:
    """The key of the consent statement the resident ticked for a new place, if any."""
    if form.get("place_consent") not in ("yes", "on"):
        return ""
    return form.get("place_consent_key", "")[:64]


def _save_quiet_hours(resident, form) -> None:
    """Quiet hours as the form has them, saved only when they differ."""
    if form.get("quiet") not in ("yes", "on"):
        if resident.quiet_from is not None:
            set_quiet_hours(resident, None)
            return
        raise _Unchanged
    quiet = parse_quiet_hours(form.get("quiet_from", ""), form.get("quiet_until", ""))
    if (resident.quiet_from, resident.quiet_until) == quiet:
        raise _Unchanged
    set_quiet_hours(resident, quiet)


class _Unchanged(ChangeRefused):
    """Nothing to save: not an error (see save)."""

    def __init__(self):
        super().__init__("", field="")


def _without(form, *names) -> MultiDict:
    """The form without fields whose change is saved (so they show empty again)."""
    kept = MultiDict(form)
    for name in names:
        kept.poplist(name)
    return kept


def _contact_message(channel: str, notice_id, *, staying: bool = False) -> str:
    """What was sent to a new address; `staying`: the page is shown again, with no code
    box below (the confirm page has it)."""
    if staying and channel in ("sms", "voice") and notice_id is not None:
        return _(
            "We have sent a code to that number. To enter it, follow the “confirm” link "
            "beside the number."
        )
    if notice_id == WAIT:
        return _(
            "We sent a code to that number moments ago. It can take a minute to arrive: "
            "enter it below when it does."
        )
    if notice_id is None:
        return _(
            "Saved, but we could not send a code or link now: it has had as many as we "
            "allow in an hour. Ask for a new one later."
        )
    if channel == "email":
        return _("We have sent a link to that address. Open it to confirm.")
    return _("We have sent a code to that number. Enter it below to confirm.")


@bp.route("/my-alerts/data")
@resident_required
def my_data(resident):
    """Everything we hold about the resident, as a page to read or print."""
    return render_template(
        "residents/my_data.html", resident=resident, labels=CHANNEL_LABELS, **data_page(resident)
    )


def _change(resident, action):
    """Run a change; on a refusal show the page again with the message by its field."""
    try:
        message = action()
    except ResidentGone:
        raise  # _gone_meanwhile
    except ChangeRefused as refusal:
        return _my_alerts_page(
            resident,
            errors={refusal.field: str(refusal)},
            posted=request.form,
            place_consent=refusal if isinstance(refusal, ConsentNeeded) else None,
        ), 400
    flash(message)
    return redirect(url_for("residents.my_alerts"))


@bp.route("/my-alerts/places", methods=["POST"])
@resident_required
def add_place(resident):
    def action():
        location = add_location(
            resident,
            label=request.form.get("label", ""),
            postcode=request.form.get("postcode", ""),
            agreed=_agreed(request.form),
        )
        return _(
            "Added %(place)s (%(postcode)s).",
            place=location.label,
            postcode=display(location.postcode),
        )

    return _change(resident, action)


@bp.route("/my-alerts/places/<int:location_id>/remove", methods=["POST"])
@resident_required
def remove_place(resident, location_id: int):
    return _change(resident, lambda: remove_location(resident, location_id) or _("Place removed."))


def _made_here() -> set[int]:
    """The sign-ups this browser made (its session's secret: the sign-up form's)."""
    return sign_ups_made_by(session.get("csrf_token"))


@bp.route("/my-alerts/channels", methods=["POST"])
@resident_required
def set_contact(resident):
    channel = request.form.get("channel", "")

    def action():
        return _contact_message(
            channel,
            set_channel(resident, channel, request.form.get("address", ""), made_here=_made_here()),
        )

    result = _change(resident, action)
    if channel in ("sms", "voice") and getattr(result, "status_code", 0) == 302:
        return redirect(url_for("residents.confirm"))
    return result


@bp.route("/my-alerts/channels/<any(sms, voice, email):channel>/remove", methods=["POST"])
@resident_required
def remove_contact(resident, channel: str):
    return _change(
        resident,
        lambda: (
            remove_channel(resident, channel)
            or _("%(what)s alerts stopped.", what=CHANNEL_LABELS[channel])
        ),
    )


@bp.route("/my-alerts/groups", methods=["POST"])
@resident_required
def groups(resident):
    return _change(
        resident, lambda: set_groups(resident, request.form.getlist("groups")) or _("Groups saved.")
    )


@bp.route("/my-alerts/quiet-hours", methods=["POST"])
@resident_required
def quiet_hours(resident):
    def action():
        if request.form.get("quiet") not in ("yes", "on"):
            set_quiet_hours(resident, None)
            return _("Quiet hours turned off: alerts come at any time.")
        quiet = parse_quiet_hours(
            request.form.get("quiet_from", ""), request.form.get("quiet_until", "")
        )
        set_quiet_hours(resident, quiet)
        return _(
            "Quiet hours saved: %(start)s to %(end)s.",
            start=quiet[0].strftime("%H:%M"),
            end=quiet[1].strftime("%H:%M"),
        ) + _shared_number_note(resident)

    return _change(resident, action)


def _shared_number_note(resident) -> str:
    """What a pause or quiet hours do not hold: a number another registration has too
    (an imported list's). Its holder paused and was texted six times after "Nothing will
    be sent", and woken by another's alert in their quiet hours (an outside check)."""
    if not shares_a_number(resident):
        return ""
    return " " + _(
        "Your phone number is also on another registration (from an older list, perhaps), "
        "whose alerts still come to it. To stop all texts to it, reply STOP to one of "
        "them; to stop all calls, press 9 during one. Or ask us to join the two: call 101."
    )


@bp.route("/my-alerts/<any(pause, resume):action>", methods=["POST"])
@resident_required
def pause(resident, action: str):
    paused = action == "pause"
    return _change(
        resident,
        lambda: (
            set_paused(resident, paused)
            or (
                _("Alerts paused. Nothing will be sent until you resume.")
                if paused
                else _("Alerts resumed.")
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
        headers={"Content-Disposition": attachment("my-alerts-data.json")},
    )


@bp.route("/my-alerts/delete", methods=["GET", "POST"])
@resident_required
def delete(resident):
    if request.method != "POST":  # GET, or HEAD (Flask answers HEAD with the GET view)
        # A number another registration holds gets its alerts still: said before
        # "You will get no more alerts" is believed (an outside re-check).
        return render_template(
            "residents/delete.html", shared_number_note=_shared_number_note(resident).strip()
        )
    reference = str(resident.reference)
    # Named before they go: a resident with a place in a second force was told only
    # of the first (an outside check).
    heard = forces_heard_by(resident.id)
    who = and_list([police_of(force) for force in heard]) if heard else None
    delete_resident(resident)
    remember_deleted(reference)
    session.pop(SESSION_KEY, None)
    # Said on a page of its own: answered from the post, a reload asked to send the
    # form again (an outside check). The session carries whose alerts they left.
    session[DELETED_KEY] = who or ""
    return redirect(url_for("residents.deleted"))


DELETED_KEY = "deleted_who"


@bp.errorhandler(ResidentGone)
@bp.errorhandler(RowGone)
def _gone_meanwhile(error):
    """A change, a download or a page that began before the resident's details were
    deleted (a second tab, a slow save) ends on the page that says they were: it was
    shown as a refusal by its field, read from the deleted record, and answered 500 (an
    outside check). Another row gone, their record still there: a fault as before."""
    if isinstance(error, RowGone) and session_resident() is not None:
        raise error
    session.pop(SESSION_KEY, None)
    session.setdefault(DELETED_KEY, "")
    return redirect(url_for("residents.deleted"))


@bp.route("/my-alerts/deleted")
def deleted():
    """What became of a resident's details, once, after they deleted them; anyone
    else is sent to the start."""
    if DELETED_KEY not in session:
        return redirect(url_for("public.index"))
    return render_template("residents/deleted.html", who=session.get(DELETED_KEY) or None)


@bp.route("/my-alerts/sign-out", methods=["POST"])
def sign_out():
    resident = session_resident()
    if resident is not None:
        close_pages(resident)  # every copy of this cookie too (an outside check)
    session.pop(SESSION_KEY, None)
    flash(_("Your page is closed."))
    return redirect(url_for("public.index"))
