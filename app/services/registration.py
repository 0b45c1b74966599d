"""register_resident: the resident journey's one write."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select

from app.dao import forces as forces_dao
from app.dao.audit import create_audit_event
from app.extensions import db, redis_store
from app.i18n import LANGUAGES, current, gettext
from app.models import (
    InterestGroup,
    Resident,
    ResidentChannel,
    ResidentLocation,
)
from app.services import forces
from app.services.consent import (
    CONSENT_VERSION,
    consent_key,
    consent_shown_for,
    consent_statement,
    statement_language,
)
from app.services.contacts import (
    EMAIL_LENGTH,
    ContactRefused,
    normalise_email,
    normalise_phone,
)
from app.services.counters import key_digest
from app.services.notices import queue_notices
from app.services.postcode_check import CheckedPostcode, PostcodeRefused, check_postcode
from app.services.residents import ChangeRefused, holds_all, parse_quiet_hours
from app.services.text import checked_field, clean_text, without_direction_marks
from app.services.verification import (
    address_taken,
    allow_per_hour,
    lock_address,
    release_unconfirmed,
    send_proof,
    sign_ups_key,
    sign_ups_made_by,
    tell_owners_of,
)

CHANNEL_FIELDS = {"sms": "sms_phone", "voice": "voice_phone", "email": "email"}


def agreed_statement(form: RegistrationForm, checked: CheckedPostcode | None) -> str | None:
    """The statement the resident agrees to: the one for their postcode's forces, when
    the page says that is what it showed (None when it showed another: the page's own
    force's, before the postcode was known or without JavaScript)."""
    if checked is None or not checked.covering:
        return None
    shown_for = form.consent_for
    if shown_for is None:
        shown_for = consent_shown_for([forces.current_force()])
    if shown_for == consent_shown_for(checked.covering):
        return consent_statement(checked.covering)
    return None


def consent_on_form(postcode: str) -> tuple[str, str, str, str | None]:
    """The statement the sign-up form shows, which forces it is for, its key, and the
    language to mark it with when not the page's (statement_language): for
    the postcode's forces once it is a postcode we cover, else the page's own force's
    (Wiltshire's sign-up page named every force of the installation, Avon and Somerset
    first, and that wording was kept: an outside check)."""
    chosen = [forces.current_force()]
    if postcode:
        try:
            checked = check_postcode(postcode)
        except PostcodeRefused:
            checked = None
        if checked is not None and checked.covering:
            chosen = checked.covering
    statement = consent_statement(chosen)
    return statement, consent_shown_for(chosen), consent_key(statement), statement_language(chosen)


class AlreadyRegistered(Exception):
    """A number or address on the form is already signed up: nobody new is stored.
    `addresses` are the form's, for a reply that looks like any other sign-up."""

    def __init__(self, addresses: dict[str, str], checked: CheckedPostcode, force_id=None):
        super().__init__("already registered")
        self.addresses = addresses
        self.checked = checked
        # The force a new resident there would hear: its pages, as theirs would be (a
        # registered number's confirm page was the installation's first force's, and
        # told who was registered: an outside check).
        self.force_id = force_id
        # This is this browser's sign-up of moments ago corrected, or sent again
        # (_this_browsers_sign_up): as a stored one's, its state is kept.
        self.corrected = False
        self.sent_again = False
        # The notices it sent (counted as a stored sign-up's codes are), and the
        # channels it sent none to (their allowance spent: no code waits there).
        self.sent = 0
        self.unsent: list[str] = []


class TooManySignUps(Exception):
    """This connection has signed up as often as it may this hour."""


class RegistrationInvalid(ValueError):
    """The form has mistakes; `errors` maps each field to what to do about it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass
class RegistrationForm:
    name: str = ""
    postcode: str = ""
    channels: list[str] = field(default_factory=list)
    sms_phone: str = ""
    voice_phone: str = ""
    email: str = ""
    groups: list[str] = field(default_factory=list)
    consent: bool = False
    quiet: bool = False
    quiet_from: str = "22:00"
    quiet_until: str = "07:00"
    language: str = ""  # "en" or "cy"; empty: the page's
    # Which forces the statement the page showed was for (consent_shown_for); None
    # from a form without it: the page's own force's, as the page first shows it.
    consent_for: str | None = None
    # The key of the words it showed (consent_key); None from a form without it (one
    # sent, even empty, must be the words' key).
    consent_key: str | None = None
    # Fields whose text we refuse outright (a line break in a name, a NUL in a
    # postcode), with the message: never silently cleaned into something else.
    refused: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: Mapping) -> RegistrationForm:
        getlist = getattr(form, "getlist", lambda k: form.get(k) or [])
        refused: dict[str, str] = {}

        def text(name: str, label: str, max_length: int) -> str:
            value = form.get(name)
            if name in ("postcode", "sms_phone", "voice_phone", "email"):
                value = without_direction_marks(value)  # pasted from a contact card
            return checked_field(refused, name, value, label, max_length=max_length)

        # Refused as "Your alerts" refuses it (it was taken silently: an outside check);
        # none given is the page's.
        if form.get("language") and form.get("language") not in LANGUAGES:
            refused["language"] = gettext("Choose English or Cymraeg.")

        return cls(
            name=text("name", gettext("Your name"), 100),
            postcode=text("postcode", gettext("The postcode"), 40),
            channels=[c for c in getlist("channels") if c in CHANNEL_FIELDS],
            sms_phone=text("sms_phone", gettext("The mobile number"), 40),
            voice_phone=text("voice_phone", gettext("The phone number"), 40),
            email=text("email", gettext("The e-mail address"), EMAIL_LENGTH),
            groups=[clean_text(g, max_length=40) for g in getlist("groups")],
            consent=form.get("consent") in ("yes", "on", True),
            quiet=form.get("quiet") in ("yes", "on", True),
            # Whole: cut to five characters, "10:30pm" was saved as 10:30 (an outside
            # check). parse_quiet_hours says what is wrong with one.
            # A control character is refused, naming it (taken out, "22\x00:00" was
            # saved as 22:00); parse_quiet_hours says what else is wrong with one.
            # Given empty, refused as "Your alerts" refuses it ("Give both times"): an
            # empty start was saved as 22:00, unsaid (an outside check). Not sent at
            # all (a form of another kind), the usual hours.
            quiet_from=text("quiet_from", gettext("The start of quiet hours"), 20)
            if form.get("quiet_from") is not None
            else "22:00",
            quiet_until=text("quiet_until", gettext("The end of quiet hours"), 20)
            if form.get("quiet_until") is not None
            else "07:00",
            language=form.get("language") if form.get("language") in LANGUAGES else current(),
            consent_for=None
            if form.get("consent_for") is None
            else clean_text(form.get("consent_for"), max_length=200),
            consent_key=None
            if form.get("consent_key") is None
            else clean_text(form.get("consent_key"), max_length=64),
            refused=refused,
        )


def _same_sign_up(
    form: RegistrationForm,
    addresses: dict[str, str],
    checked: CheckedPostcode | None,
    browser: str | None,
) -> Resident | None:
    """The resident this browser's sign-up made moments ago (SIGN_UP_REPEAT_SECONDS)
    with the same name and postcode and exactly these numbers and addresses, none
    confirmed yet. Sent twice (a double tap, a retry), a sign-up is one person, not two
    records and a notice to the first that "it already gets them". Only from the same
    browser: from another, the same details are someone else's sign-up of a number
    taken, and that browser must not be given this resident's session."""
    resident = _recent_sign_up(addresses, checked, browser)
    if (
        resident is not None
        and (resident.name or "") == (form.name or "")
        and [loc.postcode for loc in resident.locations] == [checked.postcode.postcode]
    ):
        return resident
    return None


def _correct_sign_up(
    form: RegistrationForm,
    addresses: dict[str, str],
    checked: CheckedPostcode,
    browser: str | None,
    groups: list[InterestGroup],
    quiet: tuple | None,
) -> Resident | None:
    """This browser's sign-up of moments ago, of exactly these numbers and addresses,
    none confirmed, sent again with a detail corrected (back, the postcode's typo put
    right, Sign up): put right in place, its codes and links still good. (Kept as it
    was, it held the numbers: the corrected one was told "it already gets them", and
    its code refused, an outside check. Replaced by a new one with new codes, the
    first code, perhaps the first to arrive, was refused, and a third correction in an
    hour sent no code at all, leaving the resident none that worked: outside checks.)
    The resident, or None when there is none to correct."""
    resident = _recent_sign_up(addresses, checked, browser)
    if resident is None:
        return None
    resident.name = form.name or None
    resident.language = form.language or current()
    resident.groups = groups
    resident.consent_version = CONSENT_VERSION
    resident.consent_text = agreed_statement(form, checked)
    resident.consent_given_at = func.now()
    resident.quiet_from, resident.quiet_until = quiet if quiet else (None, None)
    home = resident.locations[0]
    home.postcode, home.location = checked.postcode.postcode, checked.postcode.location
    _remember_sign_up(browser, resident.id)  # its memory as long as the browser's
    create_audit_event(
        "resident.registered",
        actor_id=None,
        subject_type="resident",
        subject_id=str(resident.reference),
        details={
            "channels": sorted(addresses),
            "consent_version": CONSENT_VERSION,
            "language": resident.language,
            "corrected": True,
        },
    )
    return resident


def _recent_sign_up(
    addresses: dict[str, str], checked: CheckedPostcode | None, browser: str | None
) -> Resident | None:
    """The resident this browser's sign-up made moments ago (SIGN_UP_REPEAT_SECONDS)
    with exactly these numbers and addresses, none confirmed yet."""
    seconds = current_app.config["SIGN_UP_REPEAT_SECONDS"]
    if seconds <= 0 or checked is None or not addresses or not browser:
        return None
    try:
        made = redis_store.client.get(_sign_up_key(browser))
    except RedisError:
        return None  # then it is answered as any sign-up of a number taken
    resident = db.session.get(Resident, int(made)) if made else None
    if resident is None:
        return None
    # Each number for what it was given for: a number signed up for texts, then for
    # calls, is another sign-up (read as this one, a free number's kept its text box
    # and never asked for the call, a held one's showed the call's: a review).
    held = sorted((c.channel, c.address.lower()) for c in resident.channels)
    if (
        held == sorted((channel, a.lower()) for channel, a in addresses.items())
        and resident.confirmed_at is None
        and all(c.verified_at is None for c in resident.channels)
    ):
        return resident
    return None


def _this_browsers_sign_up(
    browser: str | None,
    addresses: dict[str, str],
    form: RegistrationForm,
    checked: CheckedPostcode | None,
) -> tuple[bool, bool]:
    """Whether this browser sent this very sign-up moments ago (SIGN_UP_REPEAT_SECONDS
    from the first), and whether it sent these numbers and addresses with another name
    or postcode; stored or not, so that neither tells whether a number is registered.
    This one is remembered for the next, unless a repeat: a repeat renewed the memory
    of a registered number's sign-up alone (the stored one's is its resident's, kept
    from the first), so that a correction minutes later was said of it only (a review).
    Digests keyed with SECRET_KEY, never the numbers."""
    seconds = current_app.config["SIGN_UP_REPEAT_SECONDS"]
    if seconds <= 0 or checked is None or not addresses or not browser:
        return False, False
    key = "sign-up-details:" + key_digest(browser)
    these = key_digest("|".join(sorted(f"{c}:{a.lower()}" for c, a in addresses.items())))
    details = key_digest(_stored_details(form, checked))
    try:
        before = redis_store.client.get(key)
        if before is not None and before.decode() == f"{these} {details}":
            return True, False
        redis_store.client.set(key, f"{these} {details}", ex=seconds)
    except RedisError:
        return False, False  # then said as for a first sign-up
    if before is None:
        return False, False
    numbers, said = before.decode().split(" ", 1)
    return False, numbers == these and said != details


def _stored_details(form: RegistrationForm, checked: CheckedPostcode) -> str:
    """Everything a sign-up stores but its numbers and addresses: a sign-up sent again
    with any of it changed is a correction, stored or not. (Of the name and postcode
    alone, a change of language was a repeat: a held number's page came back in the
    new language and a free one's in the old, and a free one's change was dropped: a
    review.)"""
    quiet = f"{form.quiet_from}-{form.quiet_until}" if form.quiet else ""
    return "|".join(
        [
            form.name or "",
            checked.postcode.postcode,
            form.language or current(),
            ",".join(sorted(set(form.groups))),
            quiet,
        ]
    )


def _sign_up_key(browser: str) -> str:
    return "sign-up-of:" + hashlib.sha256(browser.encode()).hexdigest()[:32]


def _remember_sign_up(browser: str | None, resident_id: int) -> None:
    """Which resident this browser's sign-up made, for _same_sign_up (written before
    the sign-up commits, so a second one waiting on the lock finds it)."""
    seconds = current_app.config["SIGN_UP_REPEAT_SECONDS"]
    if not browser or seconds <= 0:
        return
    # Without Redis, a repeat is answered as any sign-up of a number taken.
    with contextlib.suppress(RedisError):
        made = sign_ups_key(browser)
        with redis_store.client.pipeline() as pipe:
            pipe.set(_sign_up_key(browser), resident_id, ex=seconds)
            pipe.sadd(made, resident_id)
            pipe.expire(made, seconds)
            pipe.execute()


def _forget_sign_up(browser: str | None) -> None:
    """This browser's last sign-up stored no resident: none is its to repeat or correct
    (_recent_sign_up), as none is a registered number's."""
    if browser:
        with contextlib.suppress(RedisError):
            redis_store.client.delete(_sign_up_key(browser))


def find_interest_groups() -> list[InterestGroup]:
    return list(db.session.scalars(select(InterestGroup).order_by(InterestGroup.name)))


def register_resident(
    form: RegistrationForm,
    *,
    ip_address: str,
    browser: str | None = None,
    own: Resident | None = None,
) -> tuple[Resident, CheckedPostcode]:
    """Validate everything, then store the resident, their location, channels and groups
    in one transaction. `browser`: a key of the browser's session, so that the same
    sign-up sent twice from it is one (see _same_sign_up). Raises TooManySignUps when
    this IP address has had its REGISTRATIONS_PER_IP_PER_HOUR (sign-ups whose form
    was right: one sent back with mistakes does not count),
    RegistrationInvalid with every mistake at once, AlreadyRegistered (see there).
    `own`: the resident whose page this browser has open: numbers and addresses all
    theirs are not told "someone asked" (their owner, signed in, was texted so a
    moment after sending the form: an outside check)."""
    errors: dict[str, str] = dict(form.refused)
    checked = None
    if "postcode" not in errors:
        try:
            checked = check_postcode(form.postcode)
        except PostcodeRefused as refusal:
            errors["postcode"] = str(refusal)

    allow_drama = current_app.config["ENV_NAME"] != "production"
    addresses: dict[str, str] = {}
    if not form.channels:
        errors["channels"] = gettext("Choose at least one way for us to contact you.")
    for channel in form.channels:
        field_name = CHANNEL_FIELDS[channel]
        if field_name in errors:
            continue
        try:
            if channel == "email":
                addresses[channel] = normalise_email(form.email)
            else:
                addresses[channel] = normalise_phone(
                    getattr(form, field_name), need_mobile=channel == "sms", allow_drama=allow_drama
                )
        except ContactRefused as refusal:
            errors[field_name] = str(refusal)

    groups = []
    if form.groups:
        groups = list(
            db.session.scalars(select(InterestGroup).where(InterestGroup.slug.in_(form.groups)))
        )
        if len(groups) != len(set(form.groups)):
            errors["groups"] = gettext(
                "One of the groups you chose no longer exists. Choose again."
            )
    if not form.consent:
        errors["consent"] = gettext("Tick the box to say you agree, or we can't send you alerts.")
    elif checked is not None:
        # Agreeing is to the words read: those for the forces of the postcode, as they
        # are now. A form that showed another force's words (before the postcode was
        # known, or without JavaScript), or words a force's administrator has changed
        # since, or that sends no key, is shown the postcode's words to tick.
        agreed = agreed_statement(form, checked)
        if agreed is None:
            form.consent = False
            errors["consent"] = gettext(
                "Which police forces may message you depends on where you live. Read "
                "the words for your postcode, and tick the box if you agree."
            )
        elif form.consent_key is not None and form.consent_key != consent_key(agreed):
            form.consent = False
            errors["consent"] = gettext(
                "The police changed these words after the page was shown. Read them "
                "again, and tick the box if you agree."
            )

    quiet = None
    # Not when a character in one was refused: that is said, not "give both times".
    if form.quiet and not {"quiet_from", "quiet_until"} & set(errors):
        try:
            quiet = parse_quiet_hours(form.quiet_from, form.quiet_until)
        except ChangeRefused as refusal:
            errors["quiet_from"] = str(refusal)

    if errors:
        db.session.rollback()
        raise RegistrationInvalid(errors)
    # Counted once the form is right (a code or a message goes from here): a form sent
    # back with mistakes counted too, and a few residents on one connection (a
    # meeting's Wi-Fi, a mobile network's shared address) correcting theirs used up
    # its hour (an outside check).
    if not allow_per_hour(
        "register", ip_address, current_app.config["REGISTRATIONS_PER_IP_PER_HOUR"]
    ):
        raise TooManySignUps(
            gettext(
                "Too many sign-ups from this connection in the last hour. "
                "Please try again later, or call 101."
            )
        )
    # Sign-ups of the same number or address take turns (until this one commits), so
    # two at once (a double tap, a retry, two tabs) cannot both find it free.
    for address in sorted({a.lower() for a in addresses.values()}):
        lock_address(address)
    # A correction is said on the next page: decided by this browser's sign-up of
    # moments ago with these numbers and other details, whether or not anything was
    # stored (said only when a stored one was changed, it told whether a number was
    # registered: a review).
    again, changed = _this_browsers_sign_up(browser, addresses, form, checked)
    # Only this browser's last sign-up is sent again or corrected, whatever was stored:
    # a sign-up of another number in between left a stored one to be corrected, and a
    # registered one's state started afresh, which told them apart (a review).
    repeated = _same_sign_up(form, addresses, checked, browser) if again else None
    if repeated is not None:
        # The one just made: no second record, no second code, and the next page's
        # code is the first one's.
        db.session.commit()
        repeated.sent_again = True
        return repeated, checked
    corrected = (
        _correct_sign_up(form, addresses, checked, browser, groups, quiet) if changed else None
    )
    if corrected is not None:
        db.session.commit()
        corrected.corrected = changed
        return corrected, checked
    made_here = sign_ups_made_by(browser)
    for address in addresses.values():
        release_unconfirmed(address, made_here=made_here)
    taken = {c: a for c, a in addresses.items() if address_taken(a)}
    if taken and len(taken) == len(addresses):
        # Answered exactly like a new sign-up, so the form cannot be used to find out
        # who is registered; the owner of the address hears what happened instead.
        # Sent again (a double tap, a retry) or corrected, as a stored one: no second
        # notice, and the next page's state is the first's (AlreadyRegistered).
        force_id = forces_dao.force_id_at(checked.postcode.postcode, checked.postcode.location)
        untold = again or changed or holds_all(own, taken)
        notice_ids, unsent = [], []
        for channel, address in {} if untold else taken.items():
            told = tell_owners_of({channel: address}, asked_force_id=force_id)
            notice_ids += told
            if not told:  # its hour's allowance spent: as a stored one's, no code waits
                unsent.append(channel)
        if not again:
            _forget_sign_up(browser)  # this browser's last sign-up stored nothing
        db.session.commit()
        queue_notices(notice_ids)
        already = AlreadyRegistered(addresses, checked, force_id)
        already.corrected = changed
        already.sent_again = again
        already.sent = len(notice_ids)
        already.unsent = unsent
        raise already

    assert checked is not None
    resident = Resident(
        name=form.name or None,
        language=form.language or current(),
        groups=groups,
        consent_version=CONSENT_VERSION,
        consent_text=agreed_statement(form, checked),
        consent_given_at=func.now(),
        quiet_from=quiet[0] if quiet else None,
        quiet_until=quiet[1] if quiet else None,
    )
    resident.locations.append(
        ResidentLocation(
            label="Home", postcode=checked.postcode.postcode, location=checked.postcode.location
        )
    )
    for channel, address in addresses.items():
        resident.channels.append(ResidentChannel(channel=channel, address=address))
    db.session.add(resident)
    try:
        db.session.flush()
        _remember_sign_up(browser, resident.id)
        # A number or address someone else holds is stored waiting for a code nobody
        # gets, and its owner is told (send_proof): the sign-up's own ones are confirmed
        # as usual, and nothing on the pages tells the two apart.
        notice_ids = [send_proof(resident, channel) for channel in resident.channels]
        create_audit_event(
            "resident.registered",
            actor_id=None,
            subject_type="resident",
            subject_id=str(resident.reference),
            details={
                "channels": sorted(addresses),
                "consent_version": CONSENT_VERSION,
                "language": resident.language,
            },
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    queue_notices([n for n in notice_ids if n is not None])
    return resident, checked
