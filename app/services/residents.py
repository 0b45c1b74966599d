"""A resident's own page: places, ways to reach them, groups, quiet hours, pause,
their data, and leaving. Every change is audited under the resident's reference,
never their details, and is one transaction: a refusal (ChangeRefused) leaves nothing
of it."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import Time, and_, case, cast, delete, func, null, or_, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.orm.exc import ObjectDeletedError

from app.dao import replies as replies_dao
from app.dao import residents as residents_dao
from app.dao import retention
from app.dao.audit import create_audit_event
from app.extensions import db, redis_store
from app.i18n import LANGUAGES, gettext, lazy_gettext, place_label
from app.models import (
    Alert,
    Delivery,
    InterestGroup,
    OutboxMessage,
    Reply,
    Resident,
    ResidentChannel,
    ResidentConsent,
    ResidentLocation,
    ResidentNotice,
)
from app.models.resident import resident_force_stops
from app.services.consent import (
    CONSENT_VERSION,
    consent_key,
    consent_statement,
    language_of,
    police_of_all,
    statement_language,
)
from app.services.contacts import ContactRefused, normalise_email, normalise_phone
from app.services.notices import queue_notices
from app.services.postcode_check import PostcodeRefused, check_postcode
from app.services.text import TextRefused, checked_text, clean_text
from app.services.timeline import record_leaving
from app.services.transaction import transactional
from app.services.verification import (  # noqa: F401 (ResidentGone: for the views)
    WAIT,
    ResidentGone,
    code_sent_moments_ago,
    send_proof,
)

log = logging.getLogger(__name__)

MAX_LOCATIONS = 5
CHANNEL_LABELS = {
    "sms": lazy_gettext("Text message"),
    "voice": lazy_gettext("Phone call"),
    "email": lazy_gettext("E-mail"),
}


class ChangeRefused(ValueError):
    """A change we cannot make, with what to do instead; `field` names the input."""

    def __init__(self, message: str, field: str = "form"):
        super().__init__(message)
        self.field = field


def _audit(resident: Resident, action: str, **details) -> None:
    create_audit_event(
        action,
        actor_id=None,
        subject_type="resident",
        subject_id=str(resident.reference),
        details=details,
    )


# A row read after another request deleted it (the resident's, as a page that began
# before their delete reads them): for the views' handler, which imports no SQLAlchemy.
RowGone = ObjectDeletedError


def changes_resident(use_case):
    """One transaction for a change to the resident's account, holding their row
    (lock_resident) from its start. Raises ResidentGone when they were deleted meanwhile."""

    @functools.wraps(use_case)
    @transactional
    def wrapper(resident: Resident, *args, **kwargs):
        if not residents_dao.lock_resident(resident.id):
            raise ResidentGone(gettext("Your details have been deleted."))
        return use_case(resident, *args, **kwargs)

    return wrapper


def find_resident(reference: str | None) -> Resident | None:
    if not reference:
        return None
    return db.session.scalar(select(Resident).where(Resident.reference == reference))


def holds_all(resident: Resident | None, addresses: dict[str, str]) -> bool:
    """Whether these addresses (by channel) are all this resident's own."""
    if resident is None or not addresses:
        return False
    theirs = {(c.channel, c.address.lower()) for c in resident.channels}
    return all((channel, a.lower()) in theirs for channel, a in addresses.items())


def page_is_open(resident: Resident) -> bool:
    """A sign-up opens its own page once it has confirmed a way to reach it."""
    return resident.confirmed_at is not None


# --- places -------------------------------------------------------------------------


@changes_resident
def add_location(
    resident: Resident, *, label: str, postcode: str, agreed: str = ""
) -> ResidentLocation:
    """Add a place. One in the area of a force they do not hear from is added only with
    that force's consent statement agreed to: `agreed` is the key of the statement the
    page showed them and they ticked (ConsentNeeded otherwise)."""
    try:
        label = checked_text(label, gettext("The place's name"), max_length=40) or "Home"
    except TextRefused as refusal:
        raise ChangeRefused(str(refusal), "label") from None
    if len(resident.locations) >= MAX_LOCATIONS:
        raise ChangeRefused(
            gettext("You can have up to %(count)s places. Remove one first.", count=MAX_LOCATIONS)
        )
    try:
        checked = check_postcode(postcode)
    except PostcodeRefused as refusal:
        raise ChangeRefused(str(refusal), "postcode") from None
    same = next(
        (loc for loc in resident.locations if loc.postcode == checked.postcode.postcode), None
    )
    if same is not None:
        # Alerts there reach them already; a second place on it would change nothing.
        raise ChangeRefused(
            gettext(
                "You already get alerts for %(postcode)s, as “%(label)s”.",
                postcode=_display(checked.postcode.postcode),
                label=place_label(same.label),  # "Cartref" on a Welsh page
            ),
            "postcode",
        )
    new_forces = _forces_not_agreed(resident, checked.covering)
    if new_forces:
        statement = consent_statement(new_forces)
        if agreed != consent_key(statement):
            raise ConsentNeeded(statement, new_forces, changed=bool(agreed))
        for force in new_forces:
            resident.later_consents.append(
                ResidentConsent(force_id=force.id, version=CONSENT_VERSION, statement=statement)
            )
        _audit(resident, "resident.consent_given", forces=[force.id for force in new_forces])
    location = ResidentLocation(
        label=label, postcode=checked.postcode.postcode, location=checked.postcode.location
    )
    resident.locations.append(location)
    _audit(resident, "resident.location_added")
    return location


class ConsentNeeded(ChangeRefused):
    """The place is in the area of a force the resident has not agreed to hear from:
    they are shown its statement (`statement`, fingerprinted by `key`) to read and tick
    before it is added. Sent again with a key that no longer matches (its words were
    changed meanwhile), they are asked again."""

    def __init__(self, statement: str, new_forces: list, *, changed: bool = False):
        # `changed`: a box was ticked, for other words (changed since the page showed
        # them): said so, rather than asked again as if never ticked.
        super().__init__(
            gettext(
                "%(police)s changed what you agree to after the page showed it. Read it "
                "again below, tick the box, and save again.",
                police=police_of_all(new_forces),
            )
            if changed
            else gettext(
                "Alerts for that place come from %(police)s, who do not send you alerts "
                "yet. Read what you agree to below, tick the box, and save again.",
                police=police_of_all(new_forces),
            ),
            "place_consent",
        )
        self.statement = statement
        self.key = consent_key(statement)
        self.lang = statement_language(new_forces)  # marked when not the page's


def _forces_not_agreed(resident: Resident, covering: list) -> list:
    """Of the forces covering a new place, those the resident has not agreed to hear
    from: not a force of any place they have (agreed at sign-up, or since), nor one
    they agreed to later (which a place since removed may have brought)."""
    agreed = {place.force_id for place in resident.locations} | {
        consent.force_id for consent in resident.later_consents
    }
    return [force for force in covering if force.id not in agreed]


@changes_resident
def remove_location(resident: Resident, location_id: int) -> None:
    location = next((loc for loc in resident.locations if loc.id == location_id), None)
    if location is None:
        raise ChangeRefused(gettext("That place is not on your list."))
    if len(resident.locations) == 1:
        raise ChangeRefused(
            gettext("This is your only place. Add another first, or stop all alerts.")
        )
    resident.locations.remove(location)
    db.session.flush()
    # Messages still waiting (for quiet hours) about an area none of their places is in
    # now: a resident who moved got five texts about his old street when his quiet
    # hours ended (an outside check). A follow-up's area is its original's.
    parent = aliased(Alert)
    db.session.execute(
        update(Delivery)
        .where(
            Delivery.resident_id == resident.id,
            Delivery.status == "queued",
            Delivery.alert_id == Alert.id,
            ~select(ResidentLocation.id)
            .where(
                ResidentLocation.resident_id == resident.id,
                func.ST_Intersects(
                    func.coalesce(
                        Alert.area,
                        select(parent.area).where(parent.id == Alert.parent_id).scalar_subquery(),
                    ),
                    ResidentLocation.location,
                ),
            )
            .exists(),
            or_(
                Alert.area.is_not(None),
                select(parent.area)
                .where(parent.id == Alert.parent_id, parent.area.is_not(None))
                .exists(),
            ),
        )
        .values(status="cancelled", reason="resident left the area", updated_at=func.now())
        .execution_options(synchronize_session=False)
    )
    _audit(resident, "resident.location_removed")


# --- ways to reach them -------------------------------------------------------------


def set_channel(
    resident: Resident, channel_name: str, address: str, *, made_here: Iterable[int] = ()
) -> int | str | None:
    """Add a channel or change its address. A new channel gets nothing until it is
    confirmed; a confirmed one keeps getting alerts at its old address until the new
    one is. Queues the notice carrying the code or link and returns its id (None
    when the number has had its codes for this hour; WAIT when the same change came
    moments ago, and its code with it). Raises ChangeRefused. `made_here`: sign-ups
    this browser made, which give up a number they hold unconfirmed (added by the
    resident their other sign-up made, it was held by their own first one, whose code
    the new one's page refused: a review)."""
    notice_id = _set_channel(resident, channel_name, address, made_here)
    queue_notices([notice_id] if isinstance(notice_id, int) else [])
    return notice_id


@changes_resident
def _set_channel(
    resident: Resident, channel_name: str, address: str, made_here: Iterable[int] = ()
) -> int | None:
    if channel_name not in CHANNEL_LABELS:
        raise ChangeRefused(gettext("Choose text message, phone call or e-mail."))
    allow_drama = current_app.config["ENV_NAME"] != "production"
    try:
        if channel_name == "email":
            address = normalise_email(address)
        else:
            address = normalise_phone(
                address, need_mobile=channel_name == "sms", allow_drama=allow_drama
            )
    except ContactRefused as refusal:
        raise ChangeRefused(str(refusal), "address") from None
    channel = next((c for c in resident.channels if c.channel == channel_name), None)
    if channel is not None and channel.address == address and channel.unsubscribed_at is None:
        raise ChangeRefused(gettext("That is already the address we have."), "address")
    if (
        channel is not None
        and channel_name != "email"
        and channel.awaiting_proof
        and channel.proving_address == address
        and code_sent_moments_ago(channel.verify_expires_at, channel.verify_attempts)
    ):
        return WAIT  # the same change again (a double tap): its code is on its way
    if channel is None:
        channel = ResidentChannel(channel=channel_name, address=address)
        resident.channels.append(channel)
    if channel.verified_at is not None and channel.unsubscribed_at is None:
        # Confirmed: alerts keep going to it until the new address is proved (a typo
        # must not leave the resident with nothing).
        channel.pending_address = address
    else:
        channel.address = address
        channel.pending_address = None
        channel.verified_at = None
        channel.unsubscribed_at = None
        channel.unsubscribed_by = None
    db.session.flush()
    # Someone else's number or address answers exactly as a free one (send_proof).
    notice_id = send_proof(resident, channel, made_here=made_here)
    _audit(resident, "resident.channel_set", channel=channel_name)
    return notice_id


@changes_resident
def remove_channel(resident: Resident, channel_name: str) -> None:
    channel = next((c for c in resident.channels if c.channel == channel_name), None)
    if channel is None:
        raise ChangeRefused(gettext("That is not one of your ways to get alerts."))
    if len(resident.channels) == 1:
        raise ChangeRefused(
            gettext(
                "This is your only way to get alerts. To stop them all, choose “Stop all alerts”."
            )
        )
    resident.channels.remove(channel)
    db.session.execute(
        update(Delivery)
        .where(
            Delivery.resident_id == resident.id,
            Delivery.channel == channel_name,
            Delivery.status == "queued",
        )
        .values(status="cancelled", reason="resident removed this channel", updated_at=func.now())
    )
    _audit(resident, "resident.channel_removed", channel=channel_name)


# --- groups, quiet hours, pause -----------------------------------------------------


@changes_resident
def set_groups(resident: Resident, slugs: list[str]) -> None:
    # As sign-up reads them: a NUL in one reached the database (an outside check).
    slugs = [clean_text(slug, max_length=40) for slug in slugs]
    groups = list(db.session.scalars(select(InterestGroup).where(InterestGroup.slug.in_(slugs))))
    if len(groups) != len(set(slugs)):
        raise ChangeRefused(gettext("One of the groups no longer exists. Choose again."), "groups")
    resident.groups = groups
    _audit(resident, "resident.groups_set", groups=sorted(slugs))


# A time of day as people type it, and as a browser's time box sends it: 22:00, 7:00,
# 22.00, 2200, 22:00:00 (a box with seconds), 10pm, 10:30 pm, 6.30a.m. (yb and yh,
# the Welsh). Nothing else: Python's time.fromisoformat also took "22:00+14:00",
# "T22" and 01174960000 (a phone number, as 01:17:49.6), and the start and end of
# quiet hours could differ by a microsecond or a time zone (an outside check).
_TIME_OF_DAY = re.compile(
    r"(?P<hour>\d{1,2})(?:[:.]?(?P<minute>\d{2})(?::00)?)?\s*"
    r"(?P<half>am|a\.m\.|yb|pm|p\.m\.|yh)?",
    re.IGNORECASE,
)


def parse_time_of_day(typed: str) -> time | None:
    """The time of day typed, to the minute, or None when it is not one.

    >>> parse_time_of_day("22:00"), parse_time_of_day("10:30 pm"), parse_time_of_day("0700")
    (datetime.time(22, 0), datetime.time(22, 30), datetime.time(7, 0))
    >>> parse_time_of_day("22:00+14:00"), parse_time_of_day("24:00"), parse_time_of_day("7")
    (None, None, None)
    """
    found = _TIME_OF_DAY.fullmatch(typed.strip())
    if not found or (found["minute"] is None and found["half"] is None):
        return None  # "7" alone: morning or evening?
    hour, minute = int(found["hour"]), int(found["minute"] or 0)
    if found["half"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if found["half"].lower() in ("pm", "p.m.", "yh") else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def parse_quiet_hours(start: str, end: str) -> tuple[time, time]:
    """('22:00', '07:00') -> times. Raises ChangeRefused."""
    given = [(v.strip() if isinstance(v, str) else "") for v in (start, end)]
    for typed, field in zip(given, ("quiet_from", "quiet_until"), strict=True):
        if not typed:
            raise ChangeRefused(gettext("Give both times, like 22:00 and 07:00."), field)
    times = []
    labels = (gettext("The start of quiet hours"), gettext("The end of quiet hours"))
    for typed, field, label in zip(given, ("quiet_from", "quiet_until"), labels, strict=True):
        try:
            # Named as every field names it: "22\x00:00" read "22:00 is not a time of
            # day", the NUL taken out before it was shown (an outside check).
            checked_text(typed, label, max_length=20)
        except TextRefused as refusal:
            raise ChangeRefused(str(refusal), field) from None
        parsed = parse_time_of_day(typed)
        if parsed is None:
            # "24:00" or "25:00" were told to give both times, given both (an outside
            # check): say which, and what a time looks like.
            shown = clean_text(typed)  # not a NUL into the page
            raise ChangeRefused(
                gettext(
                    "%(time)s is not a time of day. Give times from 00:00 to 23:59, like "
                    "22:00 and 07:00.",
                    time=shown if len(shown) <= 20 else shown[:19] + "…",
                ),
                field,
            )
        times.append(parsed)
    quiet_from, quiet_until = times
    if quiet_from == quiet_until:
        raise ChangeRefused(gettext("The start and end of quiet hours must differ."), "quiet_from")
    return quiet_from, quiet_until


@changes_resident
def set_quiet_hours(resident: Resident, quiet: tuple[time, time] | None) -> None:
    """The resident's quiet hours, and their messages held for quiet hours moved to
    them: held until the end of the old ones, they went inside the new (a resident who
    had just made them longer had a routine alert at 14:50), or waited after quiet hours
    were turned off (an outside check). Held: queued, never tried or refused, due
    later (a retry's wait has attempts)."""
    resident.quiet_from, resident.quiet_until = quiet if quiet else (None, None)
    release = func.quiet_hours_release(
        cast(quiet[0], Time) if quiet else null(),
        cast(quiet[1], Time) if quiet else null(),
        func.now(),
    )
    db.session.execute(
        update(Delivery)
        .where(
            Delivery.resident_id == resident.id,
            Delivery.status == "queued",
            Delivery.attempts == 0,
            Delivery.first_refused_at.is_(None),
            Delivery.next_attempt_at > func.now(),
        )
        # Not "touched": due now, the sweeper sends it as it sends one whose hours end.
        .values(next_attempt_at=release)
    )
    _audit(resident, "resident.quiet_hours_set", on=quiet is not None)


@changes_resident
def close_pages(resident: Resident) -> None:
    """Sign out: close every page of theirs that is open, in any browser (a page
    remembers the generation it was opened under: Resident.session_generation)."""
    resident.session_generation = Resident.session_generation + 1


@changes_resident
def set_paused(resident: Resident, paused: bool) -> None:
    resident.paused_at = func.now() if paused else None
    if paused:
        db.session.execute(
            update(Delivery)
            .where(Delivery.resident_id == resident.id, Delivery.status == "queued")
            .values(status="cancelled", reason="resident paused alerts", updated_at=func.now())
        )
    _audit(resident, "resident.paused" if paused else "resident.resumed")


def shares_a_number(resident: Resident) -> bool:
    """Whether another registration holds one of the resident's numbers (an import from
    an older list may have several, which sign-up never makes): one message goes to a
    number, through any of them, so this one's pause or quiet hours do not hold it."""
    own = select(ResidentChannel.address).where(
        ResidentChannel.resident_id == resident.id,
        ResidentChannel.channel.in_(("sms", "voice")),
        ResidentChannel.verified_at.is_not(None),
    )
    # Only one that gets alerts: confirmed, not paused (one who paused both was still
    # told to reply STOP: a review).
    return (
        db.session.scalar(
            select(ResidentChannel.resident_id)
            .join(Resident, Resident.id == ResidentChannel.resident_id)
            .where(
                ResidentChannel.channel.in_(("sms", "voice")),
                ResidentChannel.resident_id != resident.id,
                ResidentChannel.verified_at.is_not(None),
                ResidentChannel.unsubscribed_at.is_(None),
                ResidentChannel.address.in_(own),
                Resident.confirmed_at.is_not(None),
                Resident.paused_at.is_(None),
            )
            .limit(1)
        )
        is not None
    )


@changes_resident
def set_language(resident: Resident, language: str) -> None:
    """The language of the resident's pages and of what we send them."""
    if language not in LANGUAGES:
        raise ChangeRefused(gettext("Choose English or Cymraeg."), "language")
    resident.language = language
    _audit(resident, "resident.language_set", language=language)


def forces_of(resident: Resident) -> list[dict]:
    """The forces whose areas hold the resident's places (who can message them), each
    with whether the resident hears from it: id, name (in the page's language), the
    places' labels."""
    from app.i18n import current
    from app.services import forces

    stopped = set(
        db.session.scalars(
            select(resident_force_stops.c.force_id).where(
                resident_force_stops.c.resident_id == resident.id
            )
        )
    )
    found: dict[int, dict] = {}
    for place in ordered_places(resident):
        if place.force_id is None:
            continue
        force = forces.force_by_id(place.force_id)
        entry = found.setdefault(
            force.id,
            {
                "id": force.id,
                "name": forces.display_name(force, current()),
                "places": [],
                "hearing": force.id not in stopped,
            },
        )
        entry["places"].append(place.label)
    return list(found.values())


def forces_heard_by(resident_id: int) -> list:
    """The forces whose alerts reach this resident (what an unsubscribe stops): the
    forces of their places, less those they stopped hearing from. Empty when the
    resident is gone or has no place in any force."""
    from app.services import forces

    return [forces.force_by_id(i) for i in residents_dao.find_heard_force_ids(resident_id)]


@changes_resident
def set_forces_heard(resident: Resident, force_ids: set[int]) -> None:
    """Hear from these of the resident's forces and no others. Nothing queued from a
    force they stop is sent. Raises ChangeRefused when they would hear from none (that
    is pausing, or leaving)."""
    theirs = {entry["id"] for entry in forces_of(resident)}
    heard = force_ids & theirs
    if not heard:
        raise ChangeRefused(
            gettext("Keep at least one police force, or pause your alerts instead."), "forces"
        )
    stopping = theirs - heard
    db.session.execute(
        delete(resident_force_stops).where(resident_force_stops.c.resident_id == resident.id)
    )
    if stopping:
        db.session.execute(
            resident_force_stops.insert(),
            [{"resident_id": resident.id, "force_id": f} for f in sorted(stopping)],
        )
        db.session.execute(
            update(Delivery)
            .where(
                Delivery.resident_id == resident.id,
                Delivery.status == "queued",
                # Through the force that reached them: a neighbour's approval of
                # another force's alert is that neighbour's (migration 0056).
                func.coalesce(
                    Delivery.via_force_id,
                    select(Alert.force_id).where(Alert.id == Delivery.alert_id).scalar_subquery(),
                ).in_(stopping),
            )
            .values(status="cancelled", reason="resident stopped this force", updated_at=func.now())
        )
    _audit(resident, "resident.forces_chosen", stopped=sorted(stopping))


def ordered_places(resident: Resident) -> list[ResidentLocation]:
    """The resident's places in the order they were added, home (the first) first."""
    return sorted(resident.locations, key=lambda location: location.id or 0)


# --- their data, and leaving --------------------------------------------------------


def _held(resident: Resident, action: str):
    """The alerts sent to the resident and what they sent us, audited as `action`."""
    deliveries = db.session.execute(
        select(
            Alert.title,
            Alert.sent_at,
            Delivery.channel,
            Delivery.status,
            Delivery.finished_at,
            # The page shows the Welsh title on a Welsh page (i18n.title_for_page).
            Alert.title_cy,
            Alert.body_cy,
            Alert.language,
            # The reference each message carries: the list had none to match a text by
            # (an outside check).
            Alert.reference,
        )
        .join(Alert, Alert.id == Delivery.alert_id)
        .where(Delivery.resident_id == resident.id)
        .order_by(Delivery.id)
    ).all()
    sent_us = replies_dao.replies_of(resident.id)
    _audit(resident, action)
    db.session.commit()
    return deliveries, sent_us


def data_page(resident: Resident) -> dict:
    """Everything we hold about the resident, for a page they can read and print: the
    export's words, and the alerts and replies with their times as times."""
    deliveries, sent_us = _held(resident, "resident.data_viewed")
    return {
        "data": _export(resident, deliveries, sent_us),
        "sent": list(deliveries),  # rows: title_for_page reads their attributes
        "replies": sent_us,
        "statement_languages": _statement_languages(resident),
    }


def _statement_languages(resident: Resident) -> dict:
    """The language of each statement the resident agreed to, where it is not the
    page's ("en" for English words on a Welsh page), for a screen reader to read it
    in: the first one's (for the forces of their places, or every force, as the form
    showed it before the postcode was known) and each later one's."""
    from app.services import forces

    theirs = [forces.force_by_id(entry["id"]) for entry in forces_of(resident)]
    first = language_of(resident.consent_text, [theirs, *([force] for force in theirs), None])
    later = [
        language_of(
            consent.statement,
            [
                [
                    forces.force_by_id(other.force_id)
                    for other in resident.later_consents
                    if other.statement == consent.statement
                ]
            ],
        )
        for consent in _distinct_statements(resident.later_consents)
    ]
    return {"first": first, "later": later}


def export_data(resident: Resident) -> dict:
    """Everything we hold about the resident, as they could read it."""
    deliveries, sent_us = _held(resident, "resident.data_downloaded")
    return _export(resident, deliveries, sent_us)


def _export(resident: Resident, deliveries, sent_us) -> dict:
    from app.services import forces

    def stamp(value):
        return value.isoformat() if value else None

    return {
        "reference": str(resident.reference),
        "name": resident.name,
        "registered_at": stamp(resident.created_at),
        "source": resident.source,
        "consent": {
            "version": resident.consent_version,
            "statement": resident.consent_text,
            "given_at": stamp(resident.consent_given_at),
            # What they agreed to for the forces of places added since.
            "later": [
                {
                    "version": later.version,
                    "statement": later.statement,
                    "given_at": stamp(later.given_at),
                    # Whom it was for ("Wiltshire Police"): the statement may not say.
                    "forces": police_of_all(
                        [
                            forces.force_by_id(consent.force_id)
                            for consent in resident.later_consents
                            if consent.statement == later.statement
                        ]
                    ),
                }
                for later in _distinct_statements(resident.later_consents)
            ],
        },
        "language": resident.language,
        "paused_at": stamp(resident.paused_at),
        "quiet_hours": (
            {"from": resident.quiet_from.isoformat(), "until": resident.quiet_until.isoformat()}
            if resident.quiet_from and resident.quiet_until
            else None
        ),
        "places": [
            {"label": loc.label, "postcode": _display(loc.postcode)}
            for loc in ordered_places(resident)
        ],
        "contact": [
            {
                "channel": c.channel,
                "address": c.address,
                "confirmed_at": stamp(c.verified_at),
                "stopped_at": stamp(c.unsubscribed_at),
                # A new address waiting to be confirmed is theirs too.
                "changing_to": c.pending_address,
            }
            for c in resident.channels
        ],
        "groups": [g.name for g in resident.groups],
        "alerts_sent_to_you": [
            {
                "reference": row.reference,
                "title": row.title,
                "sent_at": stamp(row.sent_at),
                "channel": row.channel,
                "status": row.status,
                "finished_at": stamp(row.finished_at),
            }
            for row in deliveries
        ],
        "what_you_sent_us": [
            {
                "received_at": stamp(reply.received_at),
                "channel": reply.channel,
                "from": reply.address,
                "words": reply.body,
                "kind": reply.kind,
            }
            for reply in sent_us
        ],
    }


def _display(key: str) -> str:
    from geo.postcodes import display

    return display(key)


# A deleted resident's session reference, for this long: a double tap's second
# request (sent with the same cookie) is answered "deleted", not "your page has closed"
# (which read as if the deletion had failed: an outside probe). Nothing personal.
JUST_DELETED_SECONDS = 300


def remember_deleted(reference: str) -> None:
    with contextlib.suppress(RedisError):
        redis_store.client.set(f"deleted:{reference}", 1, ex=JUST_DELETED_SECONDS)


def just_deleted(reference: object) -> bool:
    if not isinstance(reference, str) or not reference:
        return False
    try:
        return bool(redis_store.client.exists(f"deleted:{reference[:64]}"))
    except RedisError:
        return False


def delete_resident(resident: Resident) -> None:
    """Remove the resident's personal data. Their deliveries stay for the force's
    statistics, with the address replaced by a pseudonym and no link to the resident.
    Deleting twice at once deletes once: the second finds nothing left."""
    if not residents_dao.lock_resident(resident.id):
        db.session.rollback()
        return
    _pseudonymise_deliveries(Delivery.resident_id == resident.id)
    # Theirs too: what was sent to their number or address when someone else asked for
    # alerts on it ("it already gets them"), a notice of no resident's. It kept the
    # number for the notices' 30 days after the resident had gone (an outside check).
    addresses = [channel.address.lower() for channel in resident.channels]
    notices = select(ResidentNotice.id).where(
        or_(
            ResidentNotice.resident_id == resident.id,
            and_(
                ResidentNotice.resident_id.is_(None),
                ResidentNotice.kind == "already_registered",
                func.lower(ResidentNotice.address).in_(addresses),
            ),
        )
    )
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.notice_id.in_(notices)))
    db.session.execute(delete(ResidentNotice).where(ResidentNotice.id.in_(notices)))
    _delete_unclaimed_replies(resident)
    reference = str(resident.reference)
    record_leaving([resident.id])
    db.session.delete(resident)  # locations, channels, groups, notices go with it
    create_audit_event(
        "resident.deleted", actor_id=None, subject_type="resident", subject_id=reference
    )
    db.session.commit()


def _delete_unclaimed_replies(resident: Resident) -> None:
    """What their number sent that is filed under no resident (texted before they
    registered it, or while another resident held it too) goes with them, unless
    someone else holds the number now: it is theirs as much. What is filed under
    them goes with the resident's row. (It stayed: an outside check.) A number is
    theirs, or another's, once proved: a number typed and never confirmed let someone
    erase a stranger's texts from the inbox by deleting their own details, or keep a
    resident's from going with theirs (an outside check)."""
    numbers = {
        c.address
        for c in resident.channels
        if c.channel in ("sms", "voice") and c.verified_at is not None
    }
    if not numbers:
        return
    held_by_others = select(ResidentChannel.address).where(
        ResidentChannel.resident_id != resident.id,
        ResidentChannel.address.in_(numbers),
        ResidentChannel.verified_at.is_not(None),
    )
    db.session.execute(
        delete(Reply).where(
            Reply.resident_id.is_(None),
            Reply.address.in_(numbers),
            Reply.address.not_in(held_by_others),
        )
    )


def _distinct_statements(consents):
    """One entry per statement agreed to: one place's statement naming two forces is
    kept for each, and read once."""
    seen: dict[str, object] = {}
    for consent in consents:
        seen.setdefault(consent.statement, consent)
    return list(seen.values())


def _pseudonymise_deliveries(where) -> int:
    """Replace the address of matching deliveries with a keyed hash (enough to count
    distinct recipients in statistics, not enough to contact anyone) and drop the link
    to the resident; anything still waiting to go is cancelled."""
    salt = hashlib.sha256(current_app.config["SECRET_KEY"].encode()).hexdigest()
    ids = list(
        db.session.scalars(
            update(Delivery)
            .where(where, ~Delivery.address.startswith("removed:"))
            .values(
                address="removed:" + func.left(func.md5(salt + Delivery.address), 16),
                resident_id=None,
                status=case((Delivery.status == "queued", "cancelled"), else_=Delivery.status),
                reason=case(
                    (Delivery.status == "queued", "resident removed"), else_=Delivery.reason
                ),
                updated_at=func.now(),
            )
            .returning(Delivery.id)
        )
    )
    if ids:
        db.session.execute(delete(OutboxMessage).where(OutboxMessage.delivery_id.in_(ids)))
    return len(ids)


def purge_expired() -> dict[str, int]:
    """The retention rules (run daily, and by the sweeper hourly):
    - deliveries older than RETENTION_DAYS keep only a pseudonym of the address;
    - residents who never confirmed a way to reach them within UNVERIFIED_DAYS of
      signing up are removed (not those who once did and are changing a number), and
      a number added and never confirmed goes UNVERIFIED_DAYS after its last code;
    - an uploaded list not imported within a day is dropped, and its rejected rows'
      values (names, postcodes) after IMPORT_REPORT_DAYS;
    - sent notices older than a day lose their text; all older than 30 days go;
    - provider event ids, residents' replies and numbers' STOPs kept by themselves go
      after RETENTION_DAYS, staff sessions 30 days after they end;
    - the audit log's IP addresses go after AUDIT_IP_DAYS."""
    config = current_app.config
    cutoff = datetime.now(UTC) - timedelta(days=config["RETENTION_DAYS"])
    pseudonymised = _pseudonymise_deliveries(Delivery.created_at < cutoff)
    unverified_cutoff = datetime.now(UTC) - timedelta(days=config["UNVERIFIED_DAYS"])
    stale = list(
        db.session.scalars(
            select(Resident).where(
                Resident.created_at < unverified_cutoff, Resident.confirmed_at.is_(None)
            )
        )
    )
    if stale:
        record_leaving([r.id for r in stale], expired=True)
        _pseudonymise_deliveries(Delivery.resident_id.in_([r.id for r in stale]))
    for resident in stale:
        db.session.delete(resident)
    unproven = retention.delete_unproven_numbers(db.session, days=config["UNVERIFIED_DAYS"])
    # Officers' recordings (their voices) go after RECORDING_DAYS, unless an alert
    # still waiting to go needs one.
    retention.delete_old_recordings(db.session, days=config["RECORDING_DAYS"])
    # An uploaded list that was checked but never imported is not kept.
    retention.update_unimported_lists_to_drop_content(db.session)
    reports = retention.update_old_import_reports_to_drop_values(
        db.session, days=config["IMPORT_REPORT_DAYS"]
    )
    notices = retention.delete_old_notices(db.session)
    retention.update_sent_notices_to_drop_body(db.session)
    # Provider event ids are kept long enough to refuse any replay Twilio's signature
    # would still pass (it carries no time): RETENTION_DAYS, like the deliveries.
    events = retention.delete_old_provider_events(db.session, days=config["RETENTION_DAYS"])
    # Staff sessions that ended (or would have) more than 30 days ago: the audit log
    # keeps who signed in; these rows only hold what a session needed.
    sessions = retention.delete_ended_staff_sessions(db.session)
    replies = retention.delete_old_replies(db.session, days=config["RETENTION_DAYS"])
    stops = retention.delete_old_stops(db.session, days=config["RETENTION_DAYS"])
    # Who did what stays; from where (residents' and staff's IP addresses) does not.
    addresses = retention.forget_old_audit_addresses(db.session, days=config["AUDIT_IP_DAYS"])
    found = {
        "replies_removed": replies,
        "number_stops_removed": stops,
        "audit_ip_addresses_forgotten": addresses,
        "deliveries_pseudonymised": pseudonymised,
        "unverified_residents_removed": len(stale),
        "unproven_numbers_removed": unproven,
        "notices_removed": notices,
        "import_reports_emptied": reports,
        "provider_events_removed": events,
        "staff_sessions_removed": sessions,
    }
    if any(found.values()):
        create_audit_event("retention.purged", actor_id=None, details=found)
    db.session.commit()
    return found | keep_ledger_months()


def keep_ledger_months() -> dict[str, int]:
    """The ledger's months (migration 0032): make the coming months' partitions, and
    drop whole months that ended more than LEDGER_DAYS ago once every alert in them is
    counted into the sent report's figures (those stay). Each step in a transaction of
    its own; one that would wait long for a lock is left for the next hour."""
    from psycopg.errors import LockNotAvailable
    from sqlalchemy.exc import SQLAlchemyError

    config = current_app.config
    found = {"ledger_months_made": 0, "ledger_months_dropped": 0, "ledger_rows_dropped": 0}
    try:
        wait_ms = config["LEDGER_LOCK_TIMEOUT_MS"]
        found["ledger_months_made"] = retention.make_delivery_months(
            db.session, ahead=config["LEDGER_MONTHS_AHEAD"], lock_timeout_ms=wait_ms
        )
        db.session.commit()
        cutoff = datetime.now(UTC) - timedelta(days=config["LEDGER_DAYS"])
        for name, first in retention.delivery_months(db.session):
            upper = (first + timedelta(days=32)).replace(day=1)
            if upper > cutoff:
                break
            uncounted = retention.uncounted_alerts_in(db.session, first, upper)
            if uncounted:
                log.warning("ledger %s kept: %s alerts not yet counted", name, uncounted)
                continue
            rows = retention.drop_delivery_month(
                db.session, name, cutoff=cutoff, lock_timeout_ms=wait_ms
            )
            if rows is None:
                db.session.rollback()
                continue
            create_audit_event(
                "retention.ledger_month_dropped",
                actor_id=None,
                details={"month": first.strftime("%Y-%m"), "deliveries": rows},
            )
            db.session.commit()
            found["ledger_months_dropped"] += 1
            found["ledger_rows_dropped"] += rows
    except SQLAlchemyError as error:
        # Tried again within the hour; the rest of the retention rules are done.
        db.session.rollback()
        if isinstance(getattr(error, "orig", None), LockNotAvailable):
            log.warning("ledger months: a lock was busy; trying again within the hour")
        else:
            log.exception("ledger months: not kept this hour")
    return found


def purge_expired_hourly() -> dict[str, int] | None:
    """purge_expired at most once an hour, however many sweepers run."""
    from app.extensions import redis_store

    if not redis_store.client.set("retention:last-run", 1, nx=True, ex=3600):
        return None
    return purge_expired()
