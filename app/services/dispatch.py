"""An alert's deliveries: the alerts' ledger of the outbound engine (services/outbound.py),
the words each channel carries, and the one-click unsubscribe link."""

from __future__ import annotations

import itertools
import math

from flask import current_app, url_for
from itsdangerous import BadSignature
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app import jobs
from app.channels import OutgoingMessage, ProviderStatus
from app.channels.lines import URGENT_SECONDS
from app.dao import outbound as ledger_sql
from app.extensions import db
from app.models import Alert, Delivery, Resident
from app.services import forces, message_text, outbound
from app.services.notices import NOTICES
from app.services.optout import address_key
from app.services.outbound import Claimed, Outcome
from app.services.tokens import SealedSerializer
from app.services.transaction import read_only

# --- the words each channel carries -------------------------------------------------

_unsubscribe_signer_salt = "one-click-unsubscribe"


def unsubscribe_token(resident_id: int, channel: str, address: str) -> str:
    """Opaque and expiring (app/services/tokens.py): the link says nothing of who it
    is for, and stops working UNSUBSCRIBE_LINK_DAYS after the e-mail was sent. It
    carries the address it was sent to (optout.address_key), so a link in a mail to
    an address the resident has since changed stops nothing."""
    return SealedSerializer(_unsubscribe_signer_salt).dumps(
        [resident_id, channel, address_key(address)]
    )


def read_unsubscribe_token(token: str) -> tuple[int, str, str | None] | None:
    """(resident id, channel, the address's key), or None for a link that is not ours
    or has expired. The key is None in links made before they carried one."""
    days = current_app.config["UNSUBSCRIBE_LINK_DAYS"]
    try:
        resident_id, channel, *key = SealedSerializer(_unsubscribe_signer_salt).load_fields(
            token, days * 86400, int, str, str, optional=1
        )
    except BadSignature:
        return None
    return resident_id, channel, (key[0] if key else None)


def sms_reference(reference: str) -> str | None:
    """The reference a text carries: the alert's, unless the force has turned it off."""
    return reference if current_app.config["TEXTS_CARRY_REFERENCE"] else None


def render_messages(chunk: list[Claimed]) -> list[OutgoingMessage]:
    """render_message for each claimed delivery, with their URLs built in one request
    context (one per message would cost more than all the rest of the rendering)."""
    alerts = {alert_id: db.session.get(Alert, alert_id) for alert_id in {c.alert_id for c in chunk}}
    # Who of these chose Welsh: the Welsh first, and our own words in Welsh.
    residents = [c.resident_id for c in chunk if c.resident_id]
    welsh = set(
        db.session.scalars(
            select(Resident.id).where(Resident.id.in_(residents), Resident.language == "cy")
        )
    )
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    with current_app.test_request_context(base_url=base):
        return [render_message(alerts[c.alert_id], c, c.resident_id in welsh) for c in chunk]


def render_message(alert: Alert, claimed: Claimed, welsh_first: bool = False) -> OutgoingMessage:
    """The words each channel carries, signed by the alert's force (see
    render_messages)."""
    with forces.speaking_for(alert.force_id):
        return _render_message(alert, claimed, welsh_first)


def _render_message(alert: Alert, claimed: Claimed, welsh_first: bool = False) -> OutgoingMessage:
    """The words each channel carries. Alert text is plain text everywhere. URLs are
    PUBLIC_BASE_URL's: call it inside render_messages' request context. An alert
    written in Welsh too goes in both languages, Welsh first when `welsh_first` (the
    resident chose Welsh)."""
    force = forces.force_by_id(alert.force_id).name
    unsubscribe_url = callback_url = audio_url = ask = answer_url = welsh_script = None
    ask_welsh: bool | None = None
    links: tuple[str, ...] = ()
    paragraph_languages: tuple[str | None, ...] = ()
    words = {"title": alert.title, "body": alert.body, "force": force, "mode": alert.mode}
    question = (alert.question, alert.answer_options, alert.confirm_receipt)

    def asked(language: str) -> tuple:  # the Welsh question to a Welsh speaker, if any
        return message_text.asked_in(
            *question, alert.question_cy, alert.answer_options_cy, language=language
        )

    reference = alert.reference
    welsh = (alert.title_cy, alert.body_cy) if alert.title_cy and alert.body_cy else None
    subject = None
    also_reads: tuple[str, ...] = ()
    if claimed.channel == "sms":

        def text(first: bool) -> str:
            return message_text.sms_text(
                **words,
                ask=message_text.sms_ask(*asked("cy" if first else "en"), "cy" if first else "en"),
                reference=sms_reference(reference),
                welsh=welsh,
                welsh_first=first,
            )

        body = text(welsh_first)
        if welsh:
            also_reads = (text(not welsh_first),)
    elif claimed.channel == "voice":
        if alert.recording is not None:
            audio_url = url_for("public.recording", token=alert.recording.token, _external=True)
            body = message_text.voice_introduction(
                force=force,
                mode=alert.mode,
                reference=reference,
                language="cy" if welsh_first else "en",
            )
        elif alert.language == "cy" and not welsh:
            # Written in Welsh only: its words said by the Welsh voice, whoever it calls
            # (the English voice read them, after its English opening: an outside check).
            body = ""
            welsh_script = message_text.welsh_voice_script(
                title=alert.title, body=alert.body, reference=reference, mode=alert.mode
            )
        else:
            body = message_text.voice_script(**words, reference=reference)
            if welsh:
                welsh_script = message_text.welsh_voice_script(
                    title=welsh[0], body=welsh[1], reference=reference, mode=alert.mode
                )
        # Its question is Welsh too (a request to confirm alone is ours, in the
        # resident's language): when the officer wrote it in Welsh. One written in
        # English only is asked in English, in the English voice (the Welsh voice read
        # it inside Welsh words, "Did you see anything? Pwyswch 1 ar gyfer Yes": an
        # outside check), as the English-only words are said.
        in_welsh = alert.language == "cy" or not alert.question or bool(alert.question_cy)
        ask_welsh = (welsh_first and in_welsh) or (alert.language == "cy" and bool(alert.question))
        language = "cy" if ask_welsh else "en"
        ask = message_text.voice_ask(*asked(language), language)
        # Every call takes a key: an answer, or 9 to stop the calls.
        answer_url = url_for("callbacks.twilio_keys", delivery_id=claimed.id, _external=True)
    else:
        subject = message_text.email_subject(
            title=alert.title,
            force=force,
            mode=alert.mode,
            welsh_title=welsh[0] if welsh else None,
            welsh_first=welsh_first,
        )
        # Its force's check page (a Wiltshire resident's e-mail sent them to Avon and
        # Somerset's: an outside check), in the language of the lines it ends: the Welsh
        # lines' opens in Welsh (message_text.in_welsh; it opened in English from a Welsh
        # e-mail: an outside check), the English lines' in English.
        check_url = url_for("public.check", _external=True, **forces.public_values(alert))
        links = (check_url, message_text.in_welsh(check_url))
        body = message_text.email_text(
            body=alert.body,
            force=force,
            mode=alert.mode,
            reference=reference,
            check_url=check_url,
            welsh=welsh[1] if welsh else None,
            welsh_first=welsh_first,
        )
        paragraph_languages = message_text.email_languages(
            body=alert.body,
            welsh=welsh[1] if welsh else None,
            welsh_first=welsh_first,
            mode=alert.mode,
            written_in=alert.language,
        )
        if message_text.sms_ask(*question):
            language = "cy" if welsh_first else "en"
            # Its page in the resident's language, as the other links' are.
            link = url_for(
                "public.answer",
                token=answer_token(claimed.id),
                _external=True,
                lang="cy" if welsh_first else None,
            )
            body += "\n\n" + message_text.email_ask(*asked(language), link=link, language=language)
            links += (link,)
    # Every e-mail carries its way to stop, the outbox's record too (the demo's
    # unsubscribe journey starts there, as a resident's starts in their inbox).
    if claimed.channel == "email" and claimed.resident_id:
        unsubscribe_url = url_for(
            "public.unsubscribe",
            _external=True,
            token=unsubscribe_token(claimed.resident_id, "email", claimed.address),
            lang="cy" if welsh_first else None,  # its page in the resident's language
        )
    providers = current_app.config.get("DELIVERY_TRANSPORT") == "providers"
    if providers and claimed.channel in ("sms", "voice"):
        callback_url = url_for(
            "callbacks.twilio_status",
            delivery_id=claimed.id,
            attempt=claimed.attempts,  # whose line the call's end frees
            _external=True,
        )
    return OutgoingMessage(
        delivery_id=claimed.id,
        alert_id=alert.id,
        channel=claimed.channel,
        recipient=claimed.address,
        subject=subject,
        body=body,
        unsubscribe_url=unsubscribe_url,
        status_callback_url=callback_url,
        audio_url=audio_url,
        ask=ask,
        answer_url=answer_url,
        welsh=welsh_script,
        welsh_first=welsh_first,
        ask_welsh=ask_welsh,
        closing=message_text.voice_closing("cy")
        if claimed.channel == "voice" and welsh_first
        else None,
        also_reads=also_reads,
        paragraph_languages=paragraph_languages,
        links=links,
    )


_answer_signer_salt = "answer-an-alert"


def answer_token(delivery_id: int) -> str:
    """Opaque and expiring, like the unsubscribe link: an e-mail's link to answer the
    alert's question or confirm receipt."""
    return SealedSerializer(_answer_signer_salt).dumps([delivery_id])


def read_answer_token(token: str) -> int | None:
    hours = current_app.config["REPLY_WINDOW_HOURS"]
    try:
        (delivery_id,) = SealedSerializer(_answer_signer_salt).load_fields(token, hours * 3600, int)
    except BadSignature:
        return None
    return delivery_id


def _after(alert_ids: set[int]) -> None:
    for alert_id in alert_ids:
        mark_alert_sent_when_done(alert_id)


def mark_alert_sent_when_done(alert_id: int) -> None:
    ledger_sql.mark_alert_sent_when_done(alert_id)
    db.session.commit()


def _after_sweep() -> None:
    _after(set(ledger_sql.alerts_sending()))


ALERTS = outbound.Ledger(
    name="alerts",
    table="deliveries",
    render=render_messages,
    after=_after,
    after_sweep=_after_sweep,
    # An urgent alert's rows wait on the urgent queue (outbound._by_queue), which
    # workers take before the alerts queue: an incident sent 1.5 s after a routine alert
    # sent its first e-mail at +31 s, behind 78 routine texts and e-mails, and its
    # all-clear's calls waited behind 52 routine calls (an outside check). Among urgent
    # alerts, first come first sent; a job's rest handed back goes behind the jobs
    # waiting there.
    urgent=lambda ids: ledger_sql.urgent_deliveries(
        ids, urgent=current_app.config["URGENT_CATEGORIES"]
    ),
    urgent_waiting=lambda: ledger_sql.urgent_queued(urgent=current_app.config["URGENT_CATEGORIES"]),
    # (Due within the lines' claim on freed lines: a redial due in minutes keeps none.)
    # A resident's code by call takes the lines freed as they do: a routine call job
    # that found them kept let them go while only a code waited (a review).
    urgent_calls_waiting=lambda: (
        ledger_sql.urgent_calls_queued(
            urgent=current_app.config["URGENT_CATEGORIES"], within_s=URGENT_SECONDS
        )
        or ledger_sql.code_calls_queued(within_s=URGENT_SECONDS, bulk_kinds=NOTICES.bulk_kinds)
    ),
    yields_to_urgent=True,
    urgent_rows_waiting=lambda channel: ledger_sql.urgent_rows_to_send(
        urgent=current_app.config["URGENT_CATEGORIES"], channel=channel, within_s=URGENT_SECONDS
    ),
    take_urgent=lambda seconds=None: ledger_sql.take_urgent_queued(
        urgent=current_app.config["URGENT_CATEGORIES"], seconds=seconds
    ),
)


# --- the alerts' ledger through the engine ------------------------------------------


def enqueue(delivery_ids: list[int], *, after_seconds: float = 0) -> None:
    outbound.enqueue(ALERTS, delivery_ids, after_seconds=after_seconds)


def deliver(delivery_ids: list[int]) -> dict[str, int]:
    return outbound.deliver(ALERTS, delivery_ids)


def enqueue_alert_range(alert_id: int, spans: list[tuple[str, int, int]]) -> int:
    """Queue jobs sending an alert's deliveries: for each channel, its (channel,
    first id, last id), a range of ids a job (DELIVERY_BATCH_SIZE ids, more when that
    would make over DELIVERY_MAX_JOBS jobs), in the order _in_turn gives, in one round
    trip to Redis. In id order, an alert's calls came after all its texts, and its first
    call went after 150 s (an outside check). Returns the jobs queued."""
    config = current_app.config
    most = max(1, config["DELIVERY_MAX_JOBS"] // max(1, len(spans)))
    each = []
    for channel, first_id, last_id in spans:
        span = last_id - first_id + 1
        size = max(config["DELIVERY_BATCH_SIZE"], math.ceil(span / most))
        each.append(
            [
                (alert_id, start, min(start + size - 1, last_id), channel)
                for start in range(first_id, last_id + 1, size)
            ]
        )
    ranges = _in_turn(each)
    urgent = ALERTS.urgent([spans[0][1]]) if spans else set()  # (one alert's)
    jobs.enqueue_many(
        "outbound.deliver_alert_range", ranges, on=jobs.URGENT if urgent else jobs.ALERTS
    )
    return len(ranges)


# Channels sent as fast as the mail server takes them: no rate holds their jobs,
# unless one is set (EMAIL_PER_SECOND).
UNMETERED = ("email",)


# The channel whose first job is queued first: calls (each holds a line for its
# length), then texts (held at the texting rate), then e-mails (a mail server takes
# them in moments). E-mails first, an incident's calls started 4 to 22 s after its
# texts and e-mails (an outside check), its landline-only residents hearing last.
FIRST_JOBS = ("voice", "sms", "email")


def _in_turn(each: list[list[tuple]]) -> list[tuple]:
    """Each channel's first range (in FIRST_JOBS' order), then the rest of the e-mails'
    (quick: no rate holds them, unless one is set), then the texts' and calls' in turn.
    Taken strictly in turn, e-mails waited behind texts held at the texting rate, and
    the last went after 114 s, not 11 s (an outside check)."""
    order = {channel: n for n, channel in enumerate(FIRST_JOBS)}
    each = sorted(each, key=lambda ranges: order.get(ranges[0][3], len(order)) if ranges else 0)
    first = [ranges[0] for ranges in each if ranges]
    # An e-mail rate set, e-mails are metered too: queued all ahead of the texts, an
    # incident's texting sat idle 21 to 27 s while both workers sent its e-mails (an
    # outside check).
    limits = current_app.config["RATE_LIMITS"]
    quick_channels = {channel for channel in UNMETERED if not limits.get(channel)}
    quick = [job for ranges in each for job in ranges[1:] if job[3] in quick_channels]
    metered = [ranges[1:] for ranges in each if ranges and ranges[0][3] not in quick_channels]
    rest = [job for turn in itertools.zip_longest(*metered) for job in turn if job is not None]
    return first + quick + rest


def deliver_alert_range(
    alert_id: int, first_id: int, last_id: int, channel: str | None = None
) -> dict[str, int]:
    """Send the alert's deliveries in the id range (of the channel, when given) that
    are still queued."""

    def queued() -> list[int]:
        with read_only():
            return list(
                db.session.scalars(
                    select(Delivery.id)
                    .where(
                        Delivery.alert_id == alert_id,
                        Delivery.id.between(first_id, last_id),
                        Delivery.status == "queued",
                        *([Delivery.channel == channel] if channel else []),
                    )
                    .order_by(Delivery.id)
                )
            )

    try:
        ids = queued()
    except OperationalError:
        # The connection dropped at the job's first statement (a failover): asked once
        # more, on a new one. The job failed, and its rows waited for the sweeper.
        outbound.rolled_back()
        ids = queued()
    return deliver(ids) if ids else {}


def reconcile(delivery_ids: list[int]) -> dict[str, int]:
    return outbound.reconcile(ALERTS, delivery_ids)


def sweep() -> dict[str, int]:
    return outbound.sweep(ALERTS)


def claim(delivery_ids: list[int]) -> list[Claimed]:
    return outbound.claim(ALERTS, delivery_ids)


def record(outcomes: list[Outcome]) -> dict[str, int]:
    return outbound.record(ALERTS, outcomes)


def apply_provider_status(
    delivery_id: int, update: ProviderStatus, attempt: int | None = None
) -> bool:
    return outbound.apply_provider_status(ALERTS, delivery_id, update, attempt)
