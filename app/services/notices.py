"""Messages to one resident that are not alerts: verification codes and links, links
to manage their alerts, a notice after an import. Queued in the caller's transaction,
sent by the one outbound engine (services/outbound.py) as the notices' ledger."""

from __future__ import annotations

import logging

from flask import current_app, url_for
from redis.exceptions import RedisError
from sqlalchemy import func, select

from app import jobs
from app.channels import OutgoingMessage, ProviderStatus
from app.channels.lines import URGENT_SECONDS
from app.dao import outbound as ledger_sql
from app.extensions import db
from app.models import Resident, ResidentChannel, ResidentNotice
from app.services import message_text, outbound
from app.services.outbound import Claimed

log = logging.getLogger(__name__)


def create_notice(
    *,
    resident_id: int | None,
    kind: str,
    channel: str,
    address: str,
    body: str,
    subject: str | None = None,
    force_id: int | None = None,
) -> ResidentNotice:
    """Add a notice to the session; the caller commits, then calls queue_notices.
    A notice to staff names their force (force_id): the outbox files it there."""
    notice = ResidentNotice(
        resident_id=resident_id,
        force_id=force_id,
        kind=kind,
        channel=channel,
        address=address,
        subject=subject,
        body=body,
    )
    db.session.add(notice)
    return notice


def queue_notices(notice_ids: list[int], *, bulk: bool = False) -> None:
    """Put committed notices on the queue (`bulk`: the bulk queue, behind every alert:
    an import's thousands of "you are registered" texts held an alert up 205 s, an
    outside probe). If Redis is down they stay queued in the database, and the sweeper
    queues them later."""
    if not notice_ids:
        return
    try:
        # A resident's code or link on the notices queue, which workers take before
        # the alerts queue: behind an incident's jobs, a code asked for during it came
        # after its last text (13 to 63 s; a force-wide one would outlast the code's
        # ten minutes: an outside check). One notice a job, done in a moment; first
        # come, first served.
        # An import's in a job of each channel: a batch of texts and e-mails stopped at
        # its first text while an incident's texts went, its e-mails waiting with it (a
        # review).
        for same_channel in outbound.by_channel(NOTICES, notice_ids) if bulk else [notice_ids]:
            outbound.enqueue(NOTICES, same_channel, bulk=bulk)
    except RedisError:
        log.exception("%s notices recorded but not queued: Redis unavailable", len(notice_ids))


def send_notices(notice_ids: list[int]) -> dict[str, int]:
    """Send each notice still queued, through the one outbound engine: claimed before
    any provider is called, so a second run never sends one again; the same sender,
    rate limits, retries and provider questions as alerts."""
    return outbound.deliver(NOTICES, notice_ids)


# E-mails to members of staff (an account's link, an alert waiting for approval, a
# neighbouring force's request): they end without the residents' "to stop these
# e-mails, call 101", which an invitation ended with.
STAFF_KINDS = frozenset({"staff_invite", "staff_reset", "approval_request", "cross_border_request"})


# E-mails someone may have asked for with another's address, which stop by themselves:
# "to stop these e-mails, call 101" told the address's owner to call the police about
# a sign-up they could ignore (an outside check).
ASKED_FOR_KINDS = frozenset({"verify_email", "manage_link", "already_registered"})


def _closing(notice: ResidentNotice, welsh: bool) -> str | None:
    """How an e-mail notice ends: nothing for staff, a word on ignoring it for one
    anyone could have asked for, else the residents' "to stop these e-mails"."""
    if notice.kind in STAFF_KINDS:
        return ""
    if notice.channel == "email" and notice.kind in ASKED_FOR_KINDS:
        return message_text.asked_for_closing(notice.kind, "cy" if welsh else "en")
    return None


def _staff_languages(notice: ResidentNotice) -> tuple[bool, tuple[str | None, ...]]:
    """Whether a staff member's e-mail is Welsh first, and each paragraph's language: an
    invitation from a Welsh page, Welsh then English, was marked English whole, and a
    screen reader read the Welsh with English rules (an outside check)."""
    if notice.kind not in STAFF_KINDS or notice.channel != "email":
        return False, ()
    welsh, apart, english = (notice.body or "").partition(message_text.WELSH_THEN_ENGLISH)
    if not apart:
        return False, ()
    return True, (
        *["cy"] * len(welsh.split("\n\n")),
        None,  # the line between
        *["en-GB"] * len(english.split("\n\n")),
    )


def render_notices(chunk: list[Claimed]) -> list[OutgoingMessage]:
    """The stored words of each notice; a text or call reports its status to us."""
    rows = {
        notice.id: notice
        for notice in db.session.scalars(
            select(ResidentNotice).where(ResidentNotice.id.in_([c.id for c in chunk]))
        )
    }
    # A Welsh resident's e-mail ends with how to stop it in Welsh, as its words are
    # (channels.smtp.email_text): it ended in English (an outside probe).
    welsh = set(
        db.session.scalars(
            select(Resident.id).where(
                Resident.id.in_([n.resident_id for n in rows.values() if n.resident_id]),
                Resident.language == "cy",
            )
        )
    )
    # The e-mail addresses a resident confirmed (smtp counts only their refusals on
    # policy towards our server being refused, and not of an e-mail anyone may ask for
    # with another's address: OutgoingMessage.proven).
    # (Asked only of those it may be: none for a batch of codes and links.)
    mailed = {
        n.address.lower()
        for n in rows.values()
        if n.channel == "email" and n.kind not in ASKED_FOR_KINDS
    }
    proven = (
        set(
            db.session.scalars(
                select(func.lower(ResidentChannel.address)).where(
                    ResidentChannel.channel == "email",
                    func.lower(ResidentChannel.address).in_(mailed),
                    ResidentChannel.verified_at.is_not(None),
                )
            )
        )
        if mailed
        else set()
    )
    providers = current_app.config.get("DELIVERY_TRANSPORT") == "providers"
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    messages = []
    with current_app.test_request_context(base_url=base):
        for claimed in chunk:
            notice = rows[claimed.id]
            callback_url = None
            if providers and claimed.channel in ("sms", "voice"):
                callback_url = url_for(
                    "callbacks.twilio_notice_status",
                    notice_id=notice.id,
                    attempt=claimed.attempts,  # whose line the call's end frees
                    _external=True,
                )
            spoken_welsh = notice.channel == "voice" and notice.resident_id in welsh
            staff_welsh, marks = _staff_languages(notice)
            messages.append(
                OutgoingMessage(
                    delivery_id=0,
                    alert_id=0,
                    notice_id=notice.id,
                    channel=notice.channel,
                    recipient=notice.address,
                    subject=notice.subject,
                    # A Welsh speaker's call is said in the Welsh voice, "Eto" and its
                    # ending too: the English voice read the Welsh code call (an
                    # outside check).
                    body="" if spoken_welsh else notice.body or "",
                    welsh=notice.body if spoken_welsh else None,
                    status_callback_url=callback_url,
                    welsh_first=staff_welsh
                    or (notice.resident_id in welsh and notice.channel in ("email", "voice")),
                    paragraph_languages=marks,
                    # Our own links made links in the e-mail's HTML (a staff member's
                    # link to set a password was text to copy: an outside check).
                    links=_our_links(notice.body or "", base),
                    proven=notice.channel != "email"
                    or (notice.kind not in ASKED_FOR_KINDS and notice.address.lower() in proven),
                    closing=message_text.calls_closing("cy")
                    if spoken_welsh
                    else _closing(notice, notice.resident_id in welsh),
                )
            )
    return messages


# A code lasts 10 minutes (verification.CODE_MINUTES): a notice not sent within this
# long is given up rather than sent late. (A provider's refusals for now are tried for
# DELIVERY_RETRY_WINDOW_SECONDS, half an hour: a code would have gone after it had
# expired.)
GIVE_UP_MINUTES = 10

# But a link works for days (verification.EMAIL_LINK_DAYS, MANAGE_LINK_HOURS), and an
# officer's answer to a resident's text is read whenever it comes: sent late rather
# than never, until an hour before the link stops working, and for a day. (A mail
# relay away for ten minutes had every sign-up link asked for in that time failed "not
# sent in time", none sent when it took mail again: a review.) An import's "you are
# registered" is of use however late: a 30,000-row import's take an hour at 8 texts a
# second, behind every alert.
OF_USE_FOR = (
    ("verify_email", (3 * 24 - 1) * 3600),
    ("manage_link", (24 - 1) * 3600),
    ("officer_answer", 24 * 3600),
    ("import_notice", None),
)

# A provider's wait a resident's code or link waits out in its job (Twilio asks for 1
# to 10 s); longer, it goes back to the queue as any message does.
NOTICE_HOLD_IN_PLACE_SECONDS = 10.0


NOTICES = outbound.Ledger(
    name="notices",
    table="resident_notices",
    # On a queue of their own, taken before the alerts queue (jobs.notices_queue).
    queue=jobs.NOTICES,
    render=render_notices,
    give_up_seconds=GIVE_UP_MINUTES * 60,
    of_use_for=OF_USE_FOR,
    # ...and waits on the bulk queue behind any alert, whoever queues it again.
    bulk_kinds=("import_notice",),
    # A resident's code or link handed back goes to the front of the notices queue
    # (late already), and waits out a provider's wait of up to this in its job.
    ahead=lambda ids: True,
    hold_in_place_seconds=NOTICE_HOLD_IN_PLACE_SECONDS,
    # A code by call takes the lines freed as an incident's calls do (a short call, of
    # use for ten minutes).
    calls_as_urgent=True,
    # Its bulk kinds wait, as a routine alert's texts do, while an urgent alert has
    # texts (or calls) to send (outbound._yielding_to_urgent).
    urgent_rows_waiting=lambda channel: ledger_sql.urgent_rows_to_send(
        urgent=current_app.config["URGENT_CATEGORIES"], channel=channel, within_s=URGENT_SECONDS
    ),
)


# What may follow a link in a sentence and is not the link's: "… them: <link>. If …".
_AFTER_A_LINK = ".,;:!?)"


def _our_links(body: str, base: str) -> tuple[str, ...]:
    """The links to this site in a notice's words, without the full stop or comma after
    them (taken whole, the link of "To change or stop them: <link>. If it was not you"
    ended in its full stop, and opened "not found": a review)."""
    words = (word.rstrip(_AFTER_A_LINK) for word in body.split())
    return tuple(word for word in words if word.startswith(base + "/"))


def apply_provider_status(
    notice_id: int, update: ProviderStatus, attempt: int | None = None
) -> bool:
    return outbound.apply_provider_status(NOTICES, notice_id, update, attempt)
