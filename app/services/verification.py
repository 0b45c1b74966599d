"""Proving a phone or an e-mail address is the resident's own before anything is sent
to it: a 6-digit code by text or call, a link by e-mail. Codes are kept only as a
keyed hash, last 10 minutes, work once, and allow a few guesses."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, url_for
from flask_babel import ngettext
from itsdangerous import BadSignature, SignatureExpired
from redis.exceptions import RedisError
from sqlalchemy import func, select

from app import jobs
from app.channels.reasons import address_refusal
from app.dao import outbound as outbound_dao
from app.dao import residents as residents_dao
from app.dao.audit import create_audit_event
from app.dao.events import create_provider_event
from app.dao.locks import lock_until_commit
from app.extensions import db, redis_store
from app.i18n import gettext, in_language, lazy_gettext, police, police_of
from app.models import Resident, ResidentChannel
from app.services import optout
from app.services.consent import police_of_all
from app.services.contacts import ContactRefused, normalise_email, normalise_phone
from app.services.counters import count_one, key_digest
from app.services.notices import create_notice, queue_notices, send_notices
from app.services.text import ascii_digits
from app.services.timeline import record_leaving
from app.services.tokens import SealedSerializer
from app.services.transaction import transaction
from geo import postcodes

UK = ZoneInfo("Europe/London")
CODE_MINUTES = 10
MAX_GUESSES = 5
EMAIL_LINK_DAYS = 3
# A phone number gets at most this many codes an hour, however they are asked for:
# verification texts to numbers that never signed up are what SMS-pumping fraud sells.
CODES_PER_NUMBER_PER_HOUR = 3
SENDS_PER_RESIDENT_PER_HOUR = 8
# And a day: a stranger signing up someone else's number three times an hour had it
# sent 72 codes or notices a day (an outside check).
CODES_PER_NUMBER_PER_DAY = 6
# A call that nobody there may have asked for rings a landline at most once a night
# (UK time, 21:00 to 08:00): a stranger's sign-ups rang one at 3 a.m., hourly.
NIGHT_HOURS = (21, 8)
CALLS_PER_NUMBER_PER_NIGHT = 1

# What a guess is told. A sign-up that stored nothing (unregistered_guess) must read
# exactly like a real one (check_code), so both take their words from here.
NOT_WAITING = lazy_gettext("That number is already confirmed, or no longer on your list.")
NO_CODE = lazy_gettext("Ask for a new code: we have no code waiting for that number.")
CODE_EXPIRED = lazy_gettext("That code has expired. Ask for a new one.")
TOO_MANY_GUESSES = lazy_gettext("Too many wrong codes. Ask for a new one.")
NOT_A_CODE = lazy_gettext(
    "Enter the 6-digit code from the message, like 123456. If it has not come yet, wait a minute."
)


# What the confirm page says of a number or address its code or link was refused as
# the address's own (channels.reasons.address_refusal).
ADDRESS_REFUSED = {
    ("sms", "not_a_mobile"): lazy_gettext(
        "We could not text this number: the phone network says it is not a mobile. For "
        "a landline, choose a call instead."
    ),
    ("sms", "landline_or_unreachable"): lazy_gettext(
        "We could not text this number: the phone network says it is a landline, or "
        "cannot be reached just now. For a landline, choose a call instead; else try "
        "again later."
    ),
    ("sms", "not_in_use"): lazy_gettext(
        "We could not text this number: the phone network says it is not in use. Check "
        "it, then try again."
    ),
    ("sms", "region"): lazy_gettext(
        "We could not text this number: we cannot send texts to numbers of Jersey, "
        "Guernsey or the Isle of Man. Choose e-mail instead, or give a UK mobile."
    ),
    ("voice", "region"): lazy_gettext(
        "We could not call this number: we cannot call numbers of Jersey, Guernsey or the "
        "Isle of Man. Choose e-mail instead, or give a UK number."
    ),
    ("voice", "not_in_use"): lazy_gettext(
        "We could not call this number: the phone network says it is not in use. Check "
        "it, then try again."
    ),
    ("email", "no_domain"): lazy_gettext(
        "We could not e-mail this address: its mail server says there is no such "
        "domain (the part after the @). Check it, then try again."
    ),
    ("email", "no_mailbox"): lazy_gettext(
        "We could not e-mail this address: its mail server says there is no such "
        "mailbox. Check it, then try again."
    ),
}


# What a sign-up or a way added sends: a code, a link, or the message telling a
# registered address's owner. Not a link to one's page, nor an import's notice: only a
# registered address is sent those, and their refusals said told it apart (a review).
SIGN_UP_KINDS = ("verify_code", "verify_email", "already_registered")


def refused_addresses(channels: dict[str, str]) -> dict[str, str]:
    """What to say of each of these ways (channel: address) whose newest code or link,
    sent in the last CODE_MINUTES, was refused as the address's own: a resident waited
    for a code the network had refused to deliver, told nothing (an outside check); a
    later one that went is what is said (a review). Read by the address, whoever's
    notice it was (a code, or the message telling a registered number's owner): a
    sign-up of a number we hold and of one we do not read alike."""
    since = datetime.now(UTC) - timedelta(minutes=CODE_MINUTES)
    said = {}
    for channel, address in channels.items():
        reason = residents_dao.newest_refusal_to(channel, address, since, SIGN_UP_KINDS)
        words = ADDRESS_REFUSED.get((channel, address_refusal(reason))) if reason else None
        if words is not None:
            said[channel] = str(words)
    return said


def wrong_code(guesses_left: int, *, renewed: bool = False) -> str:
    """`renewed`: this browser was sent a newer code for it (asked again, or the sign-up
    changed), so the code typed may be the first's: said, as it was not (an outside
    check). Decided by the browser's session, so a sign-up that stored nothing reads
    the same."""
    if guesses_left:
        said = ngettext(
            "That code is not right. You have %(num)s more try.",
            "That code is not right. You have %(num)s more tries.",
            guesses_left,
        )
    else:
        said = gettext("That code is not right. Ask for a new code.")
    if renewed:
        return f"{said} {gettext('We sent you more than one code: only the newest works.')}"
    return said


class ResidentGone(ValueError):
    """The resident's record was deleted while the change waited."""


class VerificationRefused(ValueError):
    """A code or link that does not prove anything, with what to do next."""


def _serializer(purpose: str) -> SealedSerializer:
    return SealedSerializer(purpose)


def _code_hash(resident_id: int, channel: str, address: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    message = f"{resident_id}:{channel}:{address}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _digest(address: str) -> str:
    """A keyed hash of the address: the link proves which address it was sent to
    without carrying anything that could be matched against a list of addresses."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, address.lower().encode(), hashlib.sha256).hexdigest()[:16]


def public_url(endpoint: str, **values) -> str:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    with current_app.test_request_context(base_url=base):
        return url_for(endpoint, _external=True, **values)


def allow_per_hour(kind: str, identifier: str, limit: int, *, seconds: int = 3600) -> bool:
    """Count one use of `kind` by `identifier` (hashed) this hour (or these `seconds`);
    False once over."""
    digest = key_digest(f"{kind}:{identifier}")
    return count_one(f"ratelimit:{kind}:{digest}", keep_seconds=seconds) <= limit


def allow_to_address(channel: str, address: str, *, now: datetime | None = None) -> bool:
    """Count one code or notice to a number or address nobody may have asked for (a
    sign-up's code, "this number already gets alerts", a manage link): at most
    CODES_PER_NUMBER_PER_HOUR an hour and CODES_PER_NUMBER_PER_DAY a day, and a call at
    most CALLS_PER_NUMBER_PER_NIGHT a night."""
    address = address.lower()
    if not allow_per_hour("verify-address", address, CODES_PER_NUMBER_PER_HOUR):
        return False
    if not allow_per_hour("verify-day", address, CODES_PER_NUMBER_PER_DAY, seconds=86400):
        return False
    hour = (now or datetime.now(UTC)).astimezone(UK).hour
    # The tests' configuration has no night (their calls would be held at night only:
    # CI found one such test failing after 21:00); the rule's own test sets it.
    night = current_app.config.get("CALL_NIGHT_HOURS", NIGHT_HOURS)
    if channel == "voice" and night and (hour >= night[0] or hour < night[1]):
        return allow_per_hour(
            "verify-night", address, CALLS_PER_NUMBER_PER_NIGHT, seconds=12 * 3600
        )
    return True


def address_taken(address: str, *, other_than: int | None = None) -> bool:
    """Whether another resident already has this number or address (any channel): one
    person, one record, so that pausing, STOP and deleting reach everything sent to it."""
    query = select(ResidentChannel.resident_id).where(
        func.lower(ResidentChannel.address) == address.lower()
    )
    if other_than is not None:
        query = query.where(ResidentChannel.resident_id != other_than)
    return db.session.scalar(query.limit(1)) is not None


def sign_ups_key(browser: str) -> str:
    """Redis's set of the residents a browser's sign-ups made (its session's secret,
    keyed with SECRET_KEY: never the session itself)."""
    return "sign-ups-made:" + key_digest(browser)


def sign_ups_made_by(browser: str | None) -> set[int]:
    """The residents this browser's sign-ups made within SIGN_UP_REPEAT_SECONDS of the
    last: a number one of them holds unconfirmed, signed up or added again from it, is
    theirs to give (release_unconfirmed)."""
    if not browser or current_app.config["SIGN_UP_REPEAT_SECONDS"] <= 0:
        return set()
    try:
        made = redis_store.client.smembers(sign_ups_key(browser))
    except RedisError:
        return set()
    return {int(m) for m in made if m.isdigit()}


# How long a sign-up waits for a holder's row another change holds before leaving it
# the number (release_unconfirmed).
HOLDER_WAIT_SECONDS = 1.0


def _release(holder: Resident, address: str, made_here: set[int]) -> int:
    """Take `address` from a holder who never confirmed it and can prove nothing now;
    1 when the sign-up, left with nothing, is removed."""
    db.session.refresh(holder)  # as it is now that it is locked
    kept = [
        c
        for c in holder.channels
        if c.address.lower() != address.lower()
        or c.verified_at is not None
        or (_proof_usable(c) and holder.id not in made_here)
    ]
    if len(kept) == len(holder.channels):
        return 0
    gone = not kept and holder.confirmed_at is None  # a confirmed resident stays
    if gone:
        record_leaving([holder.id], expired=True)
        db.session.delete(holder)
    else:
        holder.channels = kept
    create_audit_event(
        "resident.unconfirmed_released",
        actor_id=None,
        subject_type="resident",
        subject_id=str(holder.reference),
        details={"removed": gone},
    )
    return int(gone)


def release_unconfirmed(
    address: str, *, other_than: int | None = None, made_here: Iterable[int] = ()
) -> int:
    """Free a number or address from residents who never confirmed it and whose proof
    for it can no longer be used (its code expired; its e-mail link, EMAIL_LINK_DAYS
    after the sign-up), before it is signed up or added again (under lock_address). It
    proved nothing and can prove nothing now: it is often the same person, who lost the
    page with the code, and was told "it already gets them" of a number that gets
    nothing; or someone confirmed by e-mail who typed a stranger's mobile, which then
    kept its owner from signing up for good (an outside check). One still able to
    confirm keeps it (the owner is told, tell_owners_of). The resident loses the
    number or address; a sign-up left with none is removed, as an unconfirmed sign-up
    is when it expires. `made_here`: sign-ups this browser made, which lose it however
    usable their proof: the same person signing it up again, for calls now, or after
    another sign-up (held, their own code was refused on the page of the new one, and
    they were sent "it is waiting to be confirmed": an outside check). Returns how many
    sign-ups were removed."""
    made_here = set(made_here)
    holding = (
        select(Resident)
        .join(ResidentChannel)
        .where(
            func.lower(ResidentChannel.address) == address.lower(),
            ResidentChannel.verified_at.is_(None),
            Resident.id != (other_than if other_than is not None else -1),
        )
    )
    waiting = set(db.session.scalars(holding.with_only_columns(Resident.id)))
    removed = 0
    # A holder whose row another change holds is waited for a moment, then keeps it,
    # as if that change came first (its own new code makes its proof good again):
    # waited for to the end, its "Send a new code", which takes its row and then this
    # lock, deadlocked with this (a review), as did two residents each typing the
    # other's. Not waited for at all, a holder whose code had expired kept the number
    # while anything touched its row, and its owner's sign-up was sent "it is waiting
    # to be confirmed", not a code (a review).
    until = time.monotonic() + HOLDER_WAIT_SECONDS
    while waiting:
        holders = db.session.scalars(
            holding.where(Resident.id.in_(waiting)).with_for_update(of=Resident, skip_locked=True)
        ).unique()
        for holder in holders:
            waiting.discard(holder.id)
            removed += _release(holder, address, made_here)
        if not waiting or time.monotonic() >= until:
            break
        time.sleep(0.05)
    db.session.flush()
    return removed


def _proof_usable(channel: ResidentChannel) -> bool:
    """Whether the code or link last sent to confirm this channel still works."""
    now = datetime.now(UTC)
    if channel.channel == "email":
        return channel.created_at > now - timedelta(days=EMAIL_LINK_DAYS)
    return channel.verify_expires_at is not None and channel.verify_expires_at > now


def _spend_allowance(resident: Resident, channel: ResidentChannel) -> bool:
    """Count one proof sent. However they are asked for: at most
    allow_to_address's to one number or address, and SENDS_PER_RESIDENT_PER_HOUR
    for one resident (who could otherwise cycle through other people's numbers)."""
    return allow_to_address(channel.channel, channel.proving_address) and allow_per_hour(
        "verify-resident", str(resident.reference), SENDS_PER_RESIDENT_PER_HOUR
    )


def lock_address(address: str) -> None:
    """Until the transaction ends, this number or address is this transaction's alone
    to sign up or add: two at once (a sign-up, a resident adding it) cannot both find
    it free and both get a real code. Taken in sorted order when several."""
    lock_until_commit(db.session, f"sign-up:{address.lower()}")


def send_proof(
    resident: Resident, channel: ResidentChannel, *, made_here: Iterable[int] = ()
) -> int | None:
    """Send the proof for a channel (start_verification). For a number or address that
    another resident holds, do the same things with a code nobody receives: the same
    allowances spent in the same order, a code waiting (so a guess reads like any wrong
    guess), and a notice to the owner instead. Nothing on the page tells the two apart.
    Returns the notice's id, or None when the hour's allowance is spent. `made_here`:
    sign-ups this browser made (release_unconfirmed)."""
    lock_address(channel.proving_address)
    release_unconfirmed(channel.proving_address, other_than=resident.id, made_here=made_here)
    if not address_taken(channel.proving_address, other_than=resident.id):
        return start_verification(resident, channel)
    if not _spend_allowance(resident, channel):
        return None
    if channel.channel != "email":
        unknowable = secrets.token_hex(16)  # matches no 6-digit code
        channel.verify_code_hash = _code_hash(
            resident.id, channel.channel, channel.proving_address, unknowable
        )
        channel.verify_expires_at = datetime.now(UTC) + timedelta(minutes=CODE_MINUTES)
        channel.verify_attempts = 0
    heard = residents_dao.find_heard_force_ids(resident.id)
    ids = tell_owners_of(
        {channel.channel: channel.proving_address},
        counted=True,
        asked_force_id=heard[0] if heard else None,
    )
    return ids[0] if ids else None


def tell_owners_of(
    taken: dict[str, str], *, counted: bool = False, asked_force_id: int | None = None
) -> list[int]:
    """Tell each address that someone tried to sign it up again, and how to manage the
    alerts it already gets (at most CODES_PER_NUMBER_PER_HOUR such messages an hour;
    `counted`: the caller has spent the allowance already)."""
    from app.services import forces

    # The force whose alerts were asked for: the postcode's (the default force's form
    # takes a postcode of any force: a review), else this request's.
    if asked_force_id is not None:
        asked = forces.force_by_id(asked_force_id)
    else:
        asked = forces.current_force() if has_request_context() else None
    ids = []
    for channel, address in taken.items():
        if not counted and not allow_to_address(channel, address):
            continue
        # The force the address hears from, its own page: an Avon and Somerset
        # resident adding a Wiltshire resident's address told them it "already gets
        # Avon and Somerset Police alerts", with Avon's link (an outside check).
        force = _owner_force(address)
        # Signed up with another force only: said so, naming both ("Someone asked for
        # Wiltshire Police alerts… It already gets them" went to a Wiltshire resident's
        # number signed up again on Avon and Somerset's form: an outside check).
        elsewhere = (
            asked is not None and force is not None and asked.id not in _heard_forces(address)
        )
        slug = None if force is None or force.is_default else force.slug
        manage = public_url("residents.manage", force_slug=slug)
        speaking = forces.speaking_for(force.id) if force is not None else nullcontext()
        with in_language(_owner_language(address)), speaking:
            # The force whose alerts were asked for, one the owner hears from too: it
            # named their first force (a review). Else theirs.
            named = police_of(asked) if asked is not None and not elsewhere else police()
            if not _confirmed_anywhere(address):
                # Only an unconfirmed sign-up holds it, still able to confirm (else
                # release_unconfirmed freed it): it gets nothing yet, so say that.
                body = _waiting_email(address) if channel == "email" else None
                body = body or _waiting_text(channel)
            elif elsewhere and channel == "voice":
                body = gettext(
                    "Someone asked for %(asked)s alerts on this number, which is signed up "
                    "already for %(police)s alerts. To change them, call 101.",
                    asked=police_of(asked),
                    police=police(),
                )
            elif elsewhere and channel == "email":
                body = gettext(
                    "Someone asked for %(asked)s alerts on this e-mail address. It is signed "
                    "up already, for %(police)s alerts: to change them, or to add a place, "
                    "open %(link)s. If it was not you, you can ignore this.",
                    asked=police_of(asked),
                    police=police(),
                    link=manage,
                )
            elif elsewhere:
                body = gettext(
                    "Someone asked for %(asked)s alerts on this number. It is signed up "
                    "already, for %(police)s alerts: to change them, or to add a place, open "
                    "%(link)s. If it was not you, you can ignore this.",
                    asked=police_of(asked),
                    police=police(),
                    link=manage,
                )
            elif channel == "voice":
                body = gettext(
                    "Someone asked for %(police)s alerts on this number, which already gets "
                    "them. To change or stop them, call 101.",
                    police=named,
                )
            elif channel == "email":
                body = gettext(
                    "Someone asked for %(police)s alerts on this e-mail address. It already "
                    "gets them. To change or stop them: %(link)s. If it was not you, you can "
                    "ignore this.",
                    police=named,
                    link=manage,
                )
            else:
                body = gettext(
                    "Someone asked for %(police)s alerts on this number. It already gets "
                    "them. To change or stop them: %(link)s. If it was not you, you can "
                    "ignore this.",
                    police=named,
                    link=manage,
                )
            subject = gettext("%(police)s alerts", police=named) if channel == "email" else None
        notice = create_notice(
            resident_id=None,
            kind="already_registered",
            channel=channel,
            address=address,
            subject=subject,
            body=body,
        )
        db.session.flush()
        ids.append(notice.id)
    return ids


def _confirmed_anywhere(address: str) -> bool:
    """Whether a resident has confirmed this number or address (and so gets alerts on
    it, or stopped them)."""
    return (
        db.session.scalar(
            select(ResidentChannel.resident_id)
            .where(
                func.lower(ResidentChannel.address) == address.lower(),
                ResidentChannel.verified_at.is_not(None),
            )
            .limit(1)
        )
        is not None
    )


def _readdress_waiting(resident: Resident, channel: ResidentChannel, before: str | None) -> None:
    """After a channel's new address is proved: its alerts still waiting go there."""
    if before is not None:
        db.session.flush()
        outbound_dao.readdress_queued(resident.id, channel.channel, before, channel.address)


def _waiting_email(address: str) -> str | None:
    """To an e-mail address an unconfirmed sign-up holds: the place it was signed up
    for and a new link to confirm it. Only its mailbox reads this. "Open the link we
    sent" (and a page saying "we have sent a new link") left a resident who signed up
    again with the postcode put right on another device confirming the wrong one,
    never told (an outside check). None when no such sign-up is found."""
    holder = db.session.scalar(
        select(Resident)
        .join(ResidentChannel)
        .where(
            func.lower(ResidentChannel.address) == address.lower(),
            ResidentChannel.channel == "email",
            ResidentChannel.verified_at.is_(None),
        )
        .order_by(Resident.created_at.desc())
        .limit(1)
    )
    if holder is None or not holder.locations:
        return None
    token = _serializer("verify-email").dumps([str(holder.reference), _digest(address)])
    return gettext(
        "Someone asked for %(police)s alerts on this e-mail address again. It is signed "
        "up already, for alerts around %(postcode)s, and waiting to be confirmed. To "
        "confirm it, open this link:\n%(link)s\n\nIf %(postcode)s is not the place you "
        "meant, confirm it, then change the place on the page the link opens. If you did "
        "not sign up, ignore this e-mail and you will hear nothing more.",
        police=police_of_resident(holder),
        postcode=postcodes.display(holder.locations[0].postcode),
        link=public_url("residents.verify_email", token=token),
    )


def _waiting_text(channel: str) -> str:
    if channel == "email":
        return gettext(
            "Someone asked for %(police)s alerts on this e-mail address again. It is "
            "waiting to be confirmed: open the link in the e-mail we sent when it was "
            "signed up. If it was not you, you can ignore this.",
            police=police(),
        )
    return gettext(
        "Someone asked for %(police)s alerts on this number again. It is waiting to be "
        "confirmed with the code we sent in the last %(minutes)s minutes, on the page "
        "where it was signed up. If that was not you, sign up again once those "
        "%(minutes)s minutes are over, or ignore this.",
        police=police(),
        minutes=CODE_MINUTES,
    )


def _heard_forces(address: str) -> list[int]:
    """The forces any resident confirmed on this number or address hears from."""
    holders = db.session.scalars(
        select(ResidentChannel.resident_id)
        .where(func.lower(ResidentChannel.address) == address.lower())
        .where(ResidentChannel.verified_at.is_not(None))
    ).all()
    return sorted(
        {f for holder in set(holders) for f in residents_dao.find_heard_force_ids(holder)}
    )


def _owner_force(address: str):
    """The first force the resident holding this number or address hears from (None:
    nobody confirmed holds it, or they hear from none)."""
    from app.services import forces

    holder = db.session.scalar(
        select(ResidentChannel.resident_id)
        .where(func.lower(ResidentChannel.address) == address.lower())
        .order_by(ResidentChannel.verified_at.desc().nulls_last())
        .limit(1)
    )
    heard = residents_dao.find_heard_force_ids(holder) if holder is not None else []
    return forces.force_by_id(heard[0]) if heard else None


def _owner_language(address: str) -> str:
    """The language of the resident who holds this number or address (English if none)."""
    language = db.session.scalar(
        select(Resident.language)
        .join(ResidentChannel, ResidentChannel.resident_id == Resident.id)
        .where(func.lower(ResidentChannel.address) == address.lower())
        .order_by(ResidentChannel.verified_at.desc().nulls_last())
        .limit(1)
    )
    return language or "en"


def start_verification(resident: Resident, channel: ResidentChannel) -> int | None:
    """Send the proof for one channel: a code (SMS, voice) or a link (e-mail), in the
    resident's language. Returns the notice's id, or None when this number has had its
    codes for the hour."""
    if not _spend_allowance(resident, channel):
        return None
    with in_language(resident.language):
        return _start_verification(resident, channel)


def police_of_resident(resident: Resident) -> str:
    """The forces whose alerts this resident hears, as a resident reads them ("Wiltshire
    Police", "Avon and Somerset Police and Wiltshire Police"), in the current language;
    the installation's force when none is known yet. Their codes and links named the
    installation's first force to a resident of another (an outside check)."""
    from app.services import forces

    ids = residents_dao.find_heard_force_ids(resident.id)
    heard = [forces.force_by_id(force_id) for force_id in ids]
    if not heard:
        return police()
    return police_of_all(heard)


def _start_verification(resident: Resident, channel: ResidentChannel) -> int:
    whose = police_of_resident(resident)
    if channel.channel == "email":
        token = _serializer("verify-email").dumps(
            [str(resident.reference), _digest(channel.proving_address)]
        )
        link = public_url("residents.verify_email", token=token)
        notice = create_notice(
            resident_id=resident.id,
            kind="verify_email",
            channel="email",
            address=channel.proving_address,
            subject=gettext("%(police)s: confirm your e-mail address", police=whose),
            # Its closing says what to do if they did not ask (asked_for_closing): a
            # sentence of its own here said it twice, and "if you did not sign up" to
            # a resident changing their address (an outside check).
            body=gettext(
                "Confirm this is your e-mail address, to get alerts from %(police)s:\n"
                "%(link)s\n\nThe link works for %(days)s days.",
                police=whose,
                link=link,
                days=EMAIL_LINK_DAYS,
            ),
        )
    else:
        code = f"{secrets.randbelow(1_000_000):06d}"
        channel.verify_code_hash = _code_hash(
            resident.id, channel.channel, channel.proving_address, code
        )
        channel.verify_expires_at = datetime.now(UTC) + timedelta(minutes=CODE_MINUTES)
        channel.verify_attempts = 0
        if channel.channel == "sms":
            body = gettext(
                "%(code)s is your code to confirm alerts from %(police)s. It works for "
                "%(minutes)s minutes. If you did not ask for it, ignore this message.",
                code=code,
                police=whose,
                minutes=CODE_MINUTES,
            )
        else:
            # Said once here: the call says its words twice (said twice in them too,
            # the English call said "Again" three times: an outside check).
            spoken = " ".join(code)
            body = gettext(
                "Your code to confirm alerts from %(police)s is %(code)s.",
                police=whose,
                code=spoken,
            )
        notice = create_notice(
            resident_id=resident.id,
            kind="verify_code",
            channel=channel.channel,
            address=channel.proving_address,
            body=body,
        )
    db.session.flush()
    return notice.id


def resend_proof(resident: Resident, channel_name: str) -> bool | None:
    """Send a new code (or link) for one of the resident's channels still waiting to be
    confirmed, and queue it. None when there is nothing to confirm there; otherwise
    whether it went (False: the hour's allowance is spent)."""
    with transaction():
        # The resident's row, as every change of theirs takes it first: two taps at
        # once both see the first's code, and a delete is waited for.
        if not residents_dao.lock_resident(resident.id):
            raise ResidentGone(gettext("Your details have been deleted."))
        channel = next((c for c in resident.channels if c.channel == channel_name), None)
        if channel is None or not channel.awaiting_proof:
            return None
        if channel.channel != "email" and code_sent_moments_ago(
            channel.verify_expires_at, channel.verify_attempts
        ):
            return WAIT
        notice_id = send_proof(resident, channel)
    queue_notices([notice_id] if notice_id else [])
    return notice_id is not None


# resend_proof's and resend_unregistered's answer when a code went moments ago.
WAIT = "wait"


def code_sent_moments_ago(expires_at: datetime | None, guesses: int = 0) -> bool:
    """Whether the code that expires then was sent within CODE_RESEND_WAIT_SECONDS and
    still takes a guess (`guesses`: wrong ones made). One whose guesses are spent is
    no code to wait for: "Too many wrong codes, ask for a new one" was answered "wait
    for the code we sent" (an outside check)."""
    wait = current_app.config["CODE_RESEND_WAIT_SECONDS"]
    if not wait or expires_at is None or guesses >= MAX_GUESSES:
        return False
    sent_at = expires_at - timedelta(minutes=CODE_MINUTES)
    return sent_at > datetime.now(UTC) - timedelta(seconds=wait)


def check_code(resident: Resident, channel_name: str, code: str, *, renewed: bool = False) -> None:
    """Mark the channel verified if the code is right. Raises VerificationRefused.
    Committed either way: a wrong guess is counted even though it raises. `renewed`:
    see wrong_code."""
    try:
        _check_code(resident, channel_name, code, renewed)
    except VerificationRefused:
        db.session.commit()
        raise
    except ResidentGone:
        db.session.rollback()
        raise
    db.session.commit()


def _typed_code(code: str | None) -> str:
    """A code as typed, without spaces, its digits as any keyboard types them (a phone's
    full-width １２３４５６ too)."""
    return ascii_digits("".join((code or "").split()))


def _code_shaped(code: str) -> bool:
    return len(code) == 6 and code.isascii() and code.isdigit()


def _check_code(resident: Resident, channel_name: str, code: str, renewed: bool) -> None:
    # The resident's row, as every change of theirs takes it first: guesses sent at the
    # same moment are each counted, and a delete is waited for.
    if not residents_dao.lock_resident(resident.id):
        raise ResidentGone(gettext("Your details have been deleted."))
    channel = next((c for c in resident.channels if c.channel == channel_name), None)
    code = _typed_code(code)
    if channel is None or not channel.awaiting_proof:
        raise VerificationRefused(str(NOT_WAITING))
    if not channel.verify_code_hash or channel.verify_expires_at is None:
        raise VerificationRefused(str(NO_CODE))
    if channel.verify_expires_at < datetime.now(UTC):
        raise VerificationRefused(str(CODE_EXPIRED))
    if channel.verify_attempts >= MAX_GUESSES:
        raise VerificationRefused(str(TOO_MANY_GUESSES))
    if not _code_shaped(code):
        # Nothing, or not six digits, is no guess at the code: it costs no try (a
        # resident tapping Confirm before the text came lost theirs: an outside check).
        raise VerificationRefused(str(NOT_A_CODE))
    expected = _code_hash(resident.id, channel.channel, channel.proving_address, code)
    if not hmac.compare_digest(expected, channel.verify_code_hash):
        channel.verify_attempts += 1
        raise VerificationRefused(
            wrong_code(MAX_GUESSES - channel.verify_attempts, renewed=renewed)
        )
    _readdress_waiting(resident, channel, channel.proved())
    if channel.channel == "sms":
        # Its holder had the code by text and asks for texts: a STOP it sent before
        # is undone, as by START (its messages took no answer, and a YES to a quick
        # question was read as START).
        optout.texts_wanted_again(channel.address)
    resident.confirmed_at = resident.confirmed_at or func.now()
    channel.verify_code_hash = None  # single use
    channel.verify_expires_at = None
    create_audit_event(
        "resident.channel_verified",
        actor_id=None,
        subject_type="resident",
        subject_id=str(resident.reference),
        details={"channel": channel.channel},
    )


def verify_email_token(token: str) -> tuple[Resident, bool]:
    """The resident whose e-mail address the link proves, and whether this confirmed it
    (False: it already was), committed. Raises VerificationRefused."""
    with transaction():
        return _verify_email_token(token)


def email_link_language(token: str) -> str | None:
    """The language of the resident an e-mail link is for, or None (expired, not
    ours, or no longer here): its page is in it unless the visitor chose another."""
    try:
        reference, _digest_ = _email_link(token)
    except VerificationRefused:
        return None
    return db.session.scalar(select(Resident.language).where(Resident.reference == reference))


def email_link_resident(token: str) -> Resident | None:
    """The resident an e-mail link is for, or None (expired, not ours, or no longer
    here): its page is their force's."""
    try:
        reference, _digest_ = _email_link(token)
    except VerificationRefused:
        return None
    return db.session.scalar(select(Resident).where(Resident.reference == reference))


def email_link_refusal(token: str) -> str | None:
    """Why this e-mail link cannot confirm anything (expired, or not ours), or None
    when it may: read before its button is shown, changing nothing."""
    try:
        _email_link(token)
    except VerificationRefused as refusal:
        return str(refusal)
    return None


def _email_link(token: str) -> tuple[str, str]:
    """The resident's reference and the address's digest the link carries. Raises
    VerificationRefused when it has expired or is not ours."""
    try:
        reference, address_digest = _serializer("verify-email").load_fields(
            token, EMAIL_LINK_DAYS * 86400, str, str
        )
        return reference, address_digest
    except SignatureExpired:
        raise VerificationRefused(
            gettext("That link has expired. Ask for a link to manage your alerts to get a new one.")
        ) from None
    except (BadSignature, ValueError, TypeError):
        raise VerificationRefused(
            gettext("That link is not valid. Check you copied all of it.")
        ) from None


def _verify_email_token(token: str) -> tuple[Resident, bool]:
    reference, address_digest = _email_link(token)
    # Locked: the link opened in several tabs at once confirms (and opens the page) once.
    resident = db.session.scalar(
        select(Resident)
        .where(Resident.reference == reference)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    channel = (
        next((c for c in resident.channels if c.channel == "email"), None) if resident else None
    )

    def for_address(address: str) -> bool:
        return hmac.compare_digest(_digest(address), address_digest)

    if channel is not None and channel.verified_at is not None and for_address(channel.address):
        # The address is confirmed already (a change to another may still wait).
        return resident, False
    if channel is None or not for_address(channel.proving_address):
        raise VerificationRefused(
            gettext("That link is for an e-mail address that is no longer on the list.")
        )
    _readdress_waiting(resident, channel, channel.proved())
    resident.confirmed_at = resident.confirmed_at or func.now()
    create_audit_event(
        "resident.channel_verified",
        actor_id=None,
        subject_type="resident",
        subject_id=str(resident.reference),
        details={"channel": "email"},
    )
    return resident, True


# --- a sign-up that stored nothing -------------------------------------------------
# Every number and address on the form was someone else's (AlreadyRegistered): nobody
# was stored and the owners were told. The confirm page still answers as it does for
# any sign-up: guesses counted per channel and reset by a new code, codes that expire,
# the same refusals as check_code and resend_proof give. No code ever matches. The
# state is a plain dict the caller keeps (the visitor's session): we hold nothing.


def start_unregistered(
    addresses: dict[str, str],
    force_id: int | None = None,
    sent: int = 0,
    unsent: Iterable[str] = (),
) -> dict:
    """The state of a sign-up that stored nothing: the form's addresses by channel,
    and the force whose pages a new resident there would see. `sent`: the notices its
    sign-up sent, counted as a stored sign-up's codes are against its
    SENDS_PER_RESIDENT_PER_HOUR (_sends_allowed). `unsent`: the channels it sent
    nothing to (the number's hour spent): no code waits there, as none waits for a
    stored sign-up's (start_verification); said to have one sent moments ago, and
    counting guesses, it told a registered number from a free one (a review)."""
    pending = {
        "channels": addresses,
        "guesses": {},
        "started": time.time(),
        "force_id": force_id,
        "allowance": uuid.uuid4().hex,
        "sent_at": {channel: None for channel in unsent},
    }
    for _ in range(sent):
        _sends_allowed(pending)
    return pending


def _sends_allowed(pending: dict) -> bool:
    """Count one send of a sign-up that stored nothing against SENDS_PER_RESIDENT_PER_HOUR,
    as a stored one's are by its resident (_spend_allowance): without it, a ninth code
    in an hour went to a registered number's sign-up and not to a free one's, which told
    them apart (a review)."""
    allowance = pending.setdefault("allowance", uuid.uuid4().hex)
    return allow_per_hour("verify-resident", str(allowance), SENDS_PER_RESIDENT_PER_HOUR)


# A sign-up that stored nothing is kept on the server under a reference like a
# resident's, never in the session cookie: the cookie is signed, not sealed, and read
# by anyone who has it; "unregistered" and the number in it told who was registered
# (an outside probe). A day: its codes last minutes.
UNREGISTERED_SECONDS = 24 * 3600


# Sealed with SECRET_KEY: such a sign-up's numbers and addresses are residents' (it
# exists only when one was registered), and a Redis dump read them in clear for a day,
# after the resident deleted their details too (an outside check).
_UNREGISTERED_PURPOSE = "unregistered-sign-up"


def keep_unregistered(reference: str, pending: dict) -> None:
    sealed = SealedSerializer(_UNREGISTERED_PURPOSE).dumps(pending)
    redis_store.client.set(f"unregistered:{reference}", sealed, ex=UNREGISTERED_SECONDS)


def find_unregistered(reference: object) -> dict | None:
    """The sign-up that stored nothing kept under this reference, if any."""
    if not isinstance(reference, str) or not reference:
        return None
    try:
        kept = redis_store.client.get(f"unregistered:{reference[:64]}")
    except RedisError:
        return None
    if not kept:
        return None
    try:
        pending = SealedSerializer(_UNREGISTERED_PURPOSE).loads(
            kept.decode() if isinstance(kept, bytes) else kept
        )
    except BadSignature:  # kept before it was sealed, or under another SECRET_KEY
        return None
    return pending if isinstance(pending, dict) else None


def _unregistered_guesses(pending: dict) -> dict[str, int]:
    guesses = pending.setdefault("guesses", {})
    if not isinstance(guesses, dict):
        guesses = pending["guesses"] = {}
    return guesses


def resend_unregistered(pending: dict, channel: str) -> bool | None:
    """As resend_proof: tell the owner again (within the hour's allowance) and start a
    new code's guesses and clock. None when the channel is not one of the sign-up's;
    otherwise whether anything went. Updates `pending`."""
    address = pending["channels"].get(channel)
    guesses = _unregistered_guesses(pending)
    if address is None:
        return None
    # As resend_proof answers, so nothing tells the two apart.
    sent_at = _code_sent_at(pending, channel)
    if channel != "email" and sent_at is not None:
        expires = datetime.fromtimestamp(sent_at, UTC) + timedelta(minutes=CODE_MINUTES)
        if code_sent_moments_ago(expires, guesses.get(channel, 0)):
            return WAIT
    # The allowances spent in _spend_allowance's order: the address's, then the sign-up's.
    if not allow_to_address(channel, address) or not _sends_allowed(pending):
        return False
    with transaction():
        notice_ids = tell_owners_of(
            {channel: address}, counted=True, asked_force_id=pending.get("force_id")
        )
    queue_notices(notice_ids)
    if notice_ids and channel != "email":
        guesses[channel] = 0
        pending.setdefault("sent_at", {})[channel] = time.time()
    return bool(notice_ids)


def _code_sent_at(pending: dict, channel: str) -> float | None:
    """When a sign-up that stored nothing was last said to send a code by this channel
    (its start, unless "Send a new code" went since); None when none was."""
    sent_at = pending.get("sent_at")
    sent_at = sent_at if isinstance(sent_at, dict) else {}
    when = sent_at.get(channel, pending.get("started"))
    return when if isinstance(when, int | float) else None


def unregistered_guess(
    pending: dict, channel: str, code: str = "", *, renewed: bool = False
) -> str:
    """Count a guess at a code nobody was sent; return its refusal, the one check_code
    would give (in the same order: an empty code costs no try there, and one that cost
    a try here told that the number was registered: an outside check). Updates
    `pending`."""
    address = pending["channels"].get(channel)
    guesses = _unregistered_guesses(pending)
    sent_at = _code_sent_at(pending, channel)
    if address is None:
        return str(NOT_WAITING)
    if channel == "email" or sent_at is None:
        return str(NO_CODE)
    if time.time() - sent_at > CODE_MINUTES * 60:
        return str(CODE_EXPIRED)
    if guesses.get(channel, 0) >= MAX_GUESSES:
        return str(TOO_MANY_GUESSES)
    if not _code_shaped(_typed_code(code)):
        return str(NOT_A_CODE)
    guesses[channel] = guesses.get(channel, 0) + 1
    return wrong_code(MAX_GUESSES - guesses[channel], renewed=renewed)


# --- the link that opens a resident's own page --------------------------------------

MANAGE_LINK_HOURS = 24
# Asking for a link, per IP address each hour (per address: in send_manage_link).
LINKS_PER_IP_PER_HOUR = 10
# How long the address asked about waits in Redis for the job that looks it up.
MANAGE_REQUEST_SECONDS = 600
_MANAGE_REQUEST_PURPOSE = "manage-link-request"


class TooManyLinks(Exception):
    """This connection has asked for as many links as it may this hour."""


def request_manage_link(typed: str, *, ip_address: str) -> None:
    """Ask for a link to the resident's page to go to a mobile or e-mail address.

    The answer is the same, in the same time, whether or not we hold the address: a
    job looks it up (send_manage_link), so the page tells a stranger nothing about who
    is registered. The job gets a random key, not the address: job arguments are kept
    in Redis and written to the worker's log.

    Raises ContactRefused when the text is not a mobile number or e-mail address we
    could send to, TooManyLinks when this IP address has asked too often this hour."""
    typed = typed.strip()
    # The box takes either: its refusals say so (an empty box was told "Enter a phone
    # number", a mistyped address "Enter a UK phone number": an outside check).
    if not typed:
        raise ContactRefused(
            gettext("Enter the mobile number or e-mail address you get alerts on.")
        )
    if "@" not in typed and any(character.isalpha() for character in typed):
        raise ContactRefused(
            gettext(
                "That is not a mobile number or an e-mail address. An e-mail address has "
                "an @ in it; a mobile number is like 07700 900123."
            )
        )
    address = (
        normalise_email(typed)
        if "@" in typed
        else normalise_phone(
            typed,
            need_mobile=True,
            allow_drama=current_app.config["ENV_NAME"] != "production",
        )
    )
    if not allow_per_hour("manage-link-ip", ip_address, LINKS_PER_IP_PER_HOUR):
        raise TooManyLinks(
            gettext("We have sent as many links as we can this hour. Try again later.")
        )
    key = secrets.token_urlsafe(16)
    # Sealed with SECRET_KEY, as a sign-up that stored nothing is: a Redis dump read the
    # address in clear for up to ten minutes (an outside check).
    sealed = SealedSerializer(_MANAGE_REQUEST_PURPOSE).dumps(address)
    redis_store.client.set(f"manage-request:{key}", sealed, ex=MANAGE_REQUEST_SECONDS)
    jobs.enqueue("notices.send_manage_link", key, job_timeout=300, result_ttl=0, failure_ttl=3600)


def send_requested_manage_link(request_key: str) -> bool:
    """For the job request_manage_link queued: look up the address the resident gave
    (kept briefly in Redis under request_key) and, if we hold it, send it a link to
    their page. Whether a link went."""
    key = f"manage-request:{request_key}"
    sealed = redis_store.client.get(key)
    if sealed is None:
        return False
    try:
        address = SealedSerializer(_MANAGE_REQUEST_PURPOSE).loads(sealed.decode())
    except (BadSignature, UnicodeDecodeError):
        address = None
    if not isinstance(address, str):
        # Not ours (sealed under another SECRET_KEY, before a key change): dropped.
        redis_store.client.delete(key)
        return False
    with transaction():
        # Once for a request: a job gone again after recording its notice (killed, or
        # Redis failing, before the request was taken) recorded a second one, and the
        # resident had two links (a review). The first is sent by the sweeper then.
        first = create_provider_event(key)
        notice_id = send_manage_link(address) if first else None
    # Taken once its notice is recorded: taken first, a worker killed in between lost
    # the request (found by reading); the job, leased, goes again and finds it.
    redis_store.client.delete(key)
    if notice_id is not None:
        send_notices([notice_id])
    return notice_id is not None


def manage_token(resident: Resident) -> str:
    # The nonce is what "used" is recorded against: the decoded value, not the token's
    # text (which has more than one spelling of the same signature). The resident's
    # session generation too: signing out ends the links sent before it (one sent
    # earlier still opened the page after "Sign out": an outside check).
    return _serializer("manage").dumps(
        [str(resident.reference), secrets.token_hex(8), resident.session_generation]
    )


# After a link is spent, the browser that spent it may spend it again this long: a
# double tap sends the second request before the first's answer (and its session)
# arrives, and that tab would otherwise say the link was used.
MANAGE_LINK_GRACE_SECONDS = 60


def read_manage_token(token: str, *, use: bool, browser: str | None = None) -> Resident:
    """The resident a link opens the page of. Each link works once (it travels in
    messages and URLs, so it ends up in histories and logs): `use` spends it; without,
    it is only checked (a link preview or a mail scanner fetching it spends nothing).
    `browser`: a key of the browser's session, which may use it again for
    MANAGE_LINK_GRACE_SECONDS. Raises VerificationRefused."""
    try:
        reference, nonce, *generation = _serializer("manage").load_fields(
            token, MANAGE_LINK_HOURS * 3600, str, str, int, optional=1
        )
    except SignatureExpired:
        raise VerificationRefused(
            gettext("That link has expired. Ask for a new one below.")
        ) from None
    except (BadSignature, ValueError, TypeError):
        raise VerificationRefused(
            gettext("That link is not valid. Ask for a new one below.")
        ) from None
    used = f"manage-link-used:{nonce}"
    spender = hashlib.sha256(browser.encode()).hexdigest()[:32] if browser else None
    try:
        if use:
            fresh = redis_store.client.set(used, 1, nx=True, ex=MANAGE_LINK_HOURS * 3600)
            grace = f"manage-link-grace:{nonce}"
            if fresh and spender:
                redis_store.client.set(grace, spender, ex=MANAGE_LINK_GRACE_SECONDS)
            elif not fresh and spender:
                fresh = redis_store.client.get(grace) == spender.encode()
        else:
            fresh = not redis_store.client.exists(used)
    except RedisError:
        raise VerificationRefused(
            gettext("We can't open links at the moment. Please try again in a few minutes.")
        ) from None
    if not fresh:
        raise VerificationRefused(
            gettext("That link has been used already. Ask for a new one below.")
        )
    resident = db.session.scalar(select(Resident).where(Resident.reference == reference))
    if resident is None:
        raise VerificationRefused(gettext("We no longer hold any details for that link."))
    # A link from before the page was last signed out of (one without a generation
    # was sent before they were kept: as from generation 0).
    if (generation or [0])[0] != resident.session_generation:
        raise VerificationRefused(
            gettext("That link was sent before you signed out. Ask for a new one below.")
        )
    return resident


def send_manage_link(address: str) -> int | None:
    """Send a link to the resident page to an address we hold, confirmed (a mobile by
    text, an e-mail address by e-mail). Not to one never confirmed: a sign-up's
    mistyped address belongs to someone else, and the link would open the resident's
    page (their name, numbers and places) to them. Returns the notice id, or None
    when we hold no such address or it has had its links for the hour (the caller
    says the same thing either way)."""
    # Spent whether or not we hold it, before the look-up: spent for a held one's only,
    # three requests left a registered number's sign-up no code and a free one's a
    # new one, which told them apart (a review).
    if not allow_to_address("email" if "@" in address else "sms", address):
        return None
    channel = db.session.scalars(
        select(ResidentChannel)
        .where(
            func.lower(ResidentChannel.address) == address.lower(),
            # Stopped ones too: their page lets them start again.
            ResidentChannel.channel.in_(("sms", "email")),
            ResidentChannel.verified_at.is_not(None),
        )
        .order_by(ResidentChannel.verified_at.desc(), ResidentChannel.resident_id)
    ).first()
    # Within the number's allowance for messages nobody may have asked for (above), with
    # its codes and "already gets alerts" notices (counted apart, a stranger had it sent
    # 6 texts in a minute, 12 a day: a re-check).
    if channel is None:
        return None
    resident = channel.resident
    link = public_url("residents.open_manage", token=manage_token(resident))
    with in_language(resident.language):
        whose = police_of_resident(resident)
        notice = create_notice(
            resident_id=resident.id,
            kind="manage_link",
            channel=channel.channel,
            address=channel.address,
            subject=(
                gettext("%(police)s: manage your alerts", police=whose)
                if channel.channel == "email"
                else None
            ),
            body=gettext(
                "Open this link to change or stop your alerts from %(police)s: %(link)s "
                "(it works once, for %(hours)s hours).",
                police=whose,
                link=link,
                hours=MANAGE_LINK_HOURS,
            ),
        )
    db.session.flush()
    return notice.id
