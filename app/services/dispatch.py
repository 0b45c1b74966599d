"""Delivering an alert's messages: claim, send, record, retry, reconcile, sweep.

The database is the source of truth and Redis only carries work. Every status change is
a compare-and-swap that can only move a delivery forward (models.delivery.STATUS_RANK),
so a job that runs twice, or a late provider callback, never sends twice or goes back.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, url_for
from itsdangerous import BadSignature
from redis.exceptions import RedisError
from sqlalchemy import bindparam, text

from app import jobs
from app.channels import OutgoingMessage, SendResult, TransportError, transport_for
from app.channels.ratelimit import RateLimiter
from app.channels.sender import ConcurrentSender
from app.dao.events import create_provider_event
from app.extensions import db, redis_store
from app.models import STATUS_RANK, Alert
from app.services import message_text
from app.services.tokens import SealedSerializer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    alert_id: int
    resident_id: int | None
    channel: str
    address: str
    attempts: int


@dataclass
class Outcome:
    claimed: Claimed
    result: SendResult | None = None
    error: TransportError | None = None


# --- claiming and recording -------------------------------------------------------


def claim(delivery_ids: Iterable[int]) -> list[Claimed]:
    """queued -> sending for those still queued and due, in one committed statement."""
    rows = db.session.execute(
        text(
            """
            UPDATE deliveries SET status = 'sending', attempts = attempts + 1,
                   updated_at = now(), attempted_at = now()
            WHERE id IN :ids AND status = 'queued'
              AND (next_attempt_at IS NULL OR next_attempt_at <= now())
            RETURNING id, alert_id, resident_id, channel, address, attempts
            """
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": list(delivery_ids)},
    ).all()
    db.session.commit()
    return [Claimed(*row) for row in rows]


def record(outcomes: list[Outcome]) -> dict[str, int]:
    """Write what the providers said, in one transaction and a statement per kind of
    outcome, however many there are. Returns counts by outcome."""
    max_attempts = current_app.config["DELIVERY_MAX_ATTEMPTS"]
    sent: list[Outcome] = []
    settled: dict[str, list] = {"ids": [], "statuses": [], "reasons": []}  # unknown, failed
    retry: dict[str, list] = {"ids": [], "reasons": [], "delays": []}
    counts = {"sent": 0, "retry": 0, "failed": 0, "unknown": 0}
    for outcome in outcomes:
        claimed, error = outcome.claimed, outcome.error
        if error is None:
            sent.append(outcome)
            kind = "sent"
        elif error.maybe_sent or error.permanent or claimed.attempts >= max_attempts:
            kind = "unknown" if error.maybe_sent else "failed"
            reason = error.reason
            if kind == "failed" and not error.permanent:
                reason = f"gave up after {claimed.attempts} attempts: {reason}"
            settled["ids"].append(claimed.delivery_id)
            settled["statuses"].append(kind)
            settled["reasons"].append(reason)
        else:
            kind = "retry"
            retry["ids"].append(claimed.delivery_id)
            retry["reasons"].append(error.reason)
            retry["delays"].append(backoff_seconds(claimed.attempts))
        counts[kind] += 1
    if sent:
        _mark_sent(sent)
    if settled["ids"]:
        db.session.execute(
            text(
                """
                UPDATE deliveries d SET status = v.status, reason = v.reason,
                       updated_at = now(),
                       finished_at = CASE WHEN v.status = 'failed' THEN now()
                                          ELSE d.finished_at END
                FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]),
                            CAST(:reasons AS text[])) AS v(id, status, reason)
                WHERE d.id = v.id AND d.status = 'sending'
                """
            ),
            settled,
        )
    if retry["ids"]:
        db.session.execute(
            text(
                """
                UPDATE deliveries d SET status = 'queued', reason = v.reason,
                       next_attempt_at = now() + make_interval(secs => v.delay),
                       updated_at = now()
                FROM unnest(CAST(:ids AS bigint[]), CAST(:reasons AS text[]),
                            CAST(:delays AS float8[])) AS v(id, reason, delay)
                WHERE d.id = v.id AND d.status = 'sending'
                """
            ),
            retry,
        )
    db.session.commit()
    return counts


def _mark_sent(outcomes: list[Outcome]) -> None:
    # A provider callback may already have moved one on ("delivered"): keep that status,
    # fill in what the send call knows.
    db.session.execute(
        text(
            """
            UPDATE deliveries d SET
                -- Also a row the sweeper took for lost (requeued, or possibly sent)
                -- while this send was still waiting its turn: it went, so it is sent.
                status = CASE WHEN d.status IN ('queued', 'sending', 'unknown', 'possibly_sent')
                              THEN v.status ELSE d.status END,
                provider_ref = coalesce(d.provider_ref, v.ref),
                segments = coalesce(v.segments, d.segments),
                sent_at = coalesce(d.sent_at, now()),
                finished_at = CASE WHEN v.status = 'delivered' THEN now()
                                   WHEN d.status = 'possibly_sent' THEN NULL
                                   ELSE d.finished_at END,
                -- A fast callback may already have failed it: keep why. Otherwise an
                -- earlier attempt's reason ("Twilio 503: try again") is history.
                reason = CASE WHEN d.status IN ('failed', 'cancelled') THEN d.reason
                              ELSE NULL END,
                updated_at = now()
            FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]),
                        CAST(:refs AS text[]), CAST(:segments AS int[]))
                 AS v(id, status, ref, segments)
            WHERE d.id = v.id
            """
        ),
        {
            "ids": [o.claimed.delivery_id for o in outcomes],
            "statuses": [o.result.status for o in outcomes],
            "refs": [o.result.provider_ref for o in outcomes],
            "segments": [o.result.segments for o in outcomes],
        },
    )


def backoff_seconds(attempt: int) -> float:
    """Capped exponential backoff with full jitter: retries from many workers spread out
    instead of arriving together."""
    base = current_app.config["RETRY_BASE_SECONDS"]
    cap = current_app.config["RETRY_MAX_SECONDS"]
    return random.uniform(0, min(cap, base * 2 ** max(attempt - 1, 0)))  # noqa: S311


# --- the words each channel carries -------------------------------------------------

_unsubscribe_signer_salt = "one-click-unsubscribe"


def unsubscribe_token(resident_id: int, channel: str) -> str:
    """Opaque and expiring (app/services/tokens.py): the link says nothing of who it
    is for, and stops working UNSUBSCRIBE_LINK_DAYS after the e-mail was sent."""
    return SealedSerializer(_unsubscribe_signer_salt).dumps([resident_id, channel])


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    """(resident id, channel), or None for a link that is not ours or has expired."""
    days = current_app.config["UNSUBSCRIBE_LINK_DAYS"]
    try:
        resident_id, channel = SealedSerializer(_unsubscribe_signer_salt).loads(
            token, max_age=days * 86400
        )
    except (BadSignature, ValueError, TypeError):
        return None
    return int(resident_id), str(channel)


def render_messages(chunk: list[Claimed], alerts: dict[int, Alert]) -> list[OutgoingMessage]:
    """render_message for each claimed delivery, with their URLs built in one request
    context (one per message would cost more than all the rest of the rendering)."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    with current_app.test_request_context(base_url=base):
        return [render_message(alerts[c.alert_id], c) for c in chunk]


def render_message(alert: Alert, claimed: Claimed) -> OutgoingMessage:
    """The words each channel carries. Alert text is plain text everywhere. URLs are
    PUBLIC_BASE_URL's: call it inside render_messages' request context."""
    force = current_app.config["FORCE_NAME"]
    unsubscribe_url = callback_url = audio_url = None
    words = {"title": alert.title, "body": alert.body, "force": force, "mode": alert.mode}
    subject = None
    if claimed.channel == "sms":
        body = message_text.sms_text(**words)
    elif claimed.channel == "voice" and alert.recording is not None:
        audio_url = url_for("public.recording", token=alert.recording.token, _external=True)
        body = message_text.voice_introduction(force=force, mode=alert.mode)
    elif claimed.channel == "voice":
        body = message_text.voice_script(**words)
    else:
        subject = message_text.email_subject(title=alert.title, force=force, mode=alert.mode)
        body = message_text.email_text(body=alert.body, force=force, mode=alert.mode)
    if current_app.config.get("DELIVERY_TRANSPORT") == "providers":
        if claimed.channel == "email" and claimed.resident_id:
            unsubscribe_url = url_for(
                "public.unsubscribe",
                _external=True,
                token=unsubscribe_token(claimed.resident_id, "email"),
            )
        if claimed.channel in ("sms", "voice"):
            callback_url = url_for(
                "callbacks.twilio_status", delivery_id=claimed.delivery_id, _external=True
            )
    return OutgoingMessage(
        delivery_id=claimed.delivery_id,
        alert_id=alert.id,
        channel=claimed.channel,
        recipient=claimed.address,
        subject=subject,
        body=body,
        unsubscribe_url=unsubscribe_url,
        status_callback_url=callback_url,
        audio_url=audio_url,
    )


# --- sending a batch ----------------------------------------------------------------


# A job waits for retries due within this long (backoff is capped at RETRY_MAX_SECONDS,
# 60 s by default); anything due later is left queued for the sweeper.
HOLD_IN_JOB_SECONDS = 90


def deliver(delivery_ids: list[int]) -> dict[str, int]:
    """Send every delivery of the batch that is still queued, retrying temporary
    failures with backoff until each is sent, failed for good, or left to the sweeper.
    Safe to run twice: only deliveries still "queued" are claimed."""
    totals = {"sent": 0, "retry": 0, "failed": 0, "unknown": 0, "skipped": 0}
    pending = list(delivery_ids)
    alerts: dict[int, Alert] = {}
    with ConcurrentSender(current_app.config["DELIVERY_CONCURRENCY"]) as sender:
        while pending:
            due = _due(pending)
            if not due:
                wait = _seconds_until_next_attempt(pending)
                if wait is None:
                    break  # nothing left to send from this batch
                if wait > HOLD_IN_JOB_SECONDS:
                    # Held for quiet hours: the sweeper queues them when their time comes,
                    # rather than this job holding a worker until morning.
                    break
                if not _queue_is_empty():
                    # Other batches wait for a worker: their first tries must not wait
                    # for these retries. The retries come back when due (RQ's scheduler,
                    # run by `flask worker`; failing that, the sweeper re-queues them).
                    enqueue(pending, after_seconds=wait)
                    break
                time.sleep(min(wait, 1))
                continue
            for key, count in _send_due(sender, due, alerts).items():
                totals[key] += count
            pending = _still_queued(pending)
    for alert_id in alerts:
        mark_alert_sent_when_done(alert_id)
    totals["skipped"] = len(delivery_ids) - totals["sent"] - totals["failed"] - totals["unknown"]
    return totals


def _send_due(sender: ConcurrentSender, due: list[int], alerts) -> dict[str, int]:
    """Claim, send and record, a chunk at a time and overlapping: while the sender has
    one chunk in flight, the next is claimed, and outcomes are recorded as a chunk's
    worth come back. At most two chunks are claimed and unrecorded at once, so a worker
    that dies leaves few deliveries "sending"."""
    totals = {"sent": 0, "retry": 0, "failed": 0, "unknown": 0}
    step = sender.concurrency
    finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
    in_flight: dict[Future, Claimed] = {}

    def record_finished(at_least: int) -> None:
        done = []
        while len(done) < at_least:
            try:
                done.append(finished.get(timeout=HEARTBEAT_SECONDS))
            except queue.Empty:
                # Still waiting (a rate limit, a slow provider): say this job is alive,
                # so the sweeper does not take its rows for a dead worker's.
                _heartbeat([c.delivery_id for c in in_flight.values()])
        while not finished.empty():
            done.append(finished.get())
        outcomes = [_outcome(in_flight.pop(future), future) for future in done]
        for key, count in record(outcomes).items():
            totals[key] += count

    for start in range(0, len(due), step):
        if len(in_flight) >= step:
            record_finished(len(in_flight) - step + 1)
        chunk = claim(due[start : start + step])
        for claimed in chunk:
            if claimed.alert_id not in alerts:
                alerts[claimed.alert_id] = db.session.get(Alert, claimed.alert_id)
        for claimed, message, transport, limiter in _prepare(chunk, alerts):
            if transport.writes_to_database:
                # The outbox records in this thread's transaction, with the status change.
                outcome = _send_here(transport, limiter, claimed, message)
                for key, count in record([outcome]).items():
                    totals[key] += count
                continue
            future = sender.submit(transport, limiter, message)
            in_flight[future] = claimed
            future.add_done_callback(finished.put)
    # Record each outcome as it comes back (with whatever else has finished), not when
    # the slowest of the batch answers: an e-mail has no callback, so one sent but not
    # yet recorded when a worker dies can only be counted "possibly sent".
    while in_flight:
        record_finished(1)
    return totals


# How often a job waiting on its sends touches their rows (well inside STALLED_SECONDS).
HEARTBEAT_SECONDS = 5


def _heartbeat(delivery_ids: list[int]) -> None:
    db.session.execute(
        text(
            "UPDATE deliveries SET updated_at = now() WHERE id IN :ids AND status = 'sending'"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": delivery_ids or [0]},
    )
    db.session.commit()


def _prepare(chunk: list[Claimed], alerts):
    """Each claimed delivery with its message, transport and rate limiter."""
    transports, limiters = {}, {}
    for claimed, message in zip(chunk, render_messages(chunk, alerts), strict=True):
        channel = claimed.channel
        if channel not in transports:
            transports[channel] = transport_for(channel)
            limiters[channel] = RateLimiter(
                redis_store.client, channel, current_app.config["RATE_LIMITS"].get(channel, 0)
            )
        yield claimed, message, transports[channel], limiters[channel]


def _outcome(claimed: Claimed, future: Future) -> Outcome:
    try:
        return Outcome(claimed, result=future.result())
    except TransportError as error:
        return Outcome(claimed, error=error)
    except Exception as error:  # a bug must not leave the delivery "sending"
        return _unexpected(claimed, error)


def _send_here(transport, limiter, claimed: Claimed, message: OutgoingMessage) -> Outcome:
    limiter.acquire()
    try:
        return Outcome(claimed, result=transport.send(message))
    except TransportError as error:
        db.session.rollback()
        return Outcome(claimed, error=error)
    except Exception as error:
        db.session.rollback()
        return _unexpected(claimed, error)


def _unexpected(claimed: Claimed, error: Exception) -> Outcome:
    log.error(
        "delivery %s: %s sending failed unexpectedly",
        claimed.delivery_id,
        claimed.channel,
        exc_info=error,
    )
    return Outcome(
        claimed,
        error=TransportError(f"unexpected error sending: {type(error).__name__}", permanent=True),
    )


def _due(ids: list[int]) -> list[int]:
    return list(
        db.session.execute(
            text(
                "SELECT id FROM deliveries WHERE id IN :ids AND status = 'queued' "
                "AND (next_attempt_at IS NULL OR next_attempt_at <= now()) ORDER BY id"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": ids},
        ).scalars()
    )


def _still_queued(ids: list[int]) -> list[int]:
    return list(
        db.session.execute(
            text("SELECT id FROM deliveries WHERE id IN :ids AND status = 'queued'").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        ).scalars()
    )


def _seconds_until_next_attempt(ids: list[int]) -> float | None:
    wait = db.session.execute(
        text(
            "SELECT extract(epoch FROM min(next_attempt_at) - now()) FROM deliveries "
            "WHERE id IN :ids AND status = 'queued'"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": ids},
    ).scalar()
    db.session.rollback()
    return None if wait is None else max(float(wait), 0.05)


def mark_alert_sent_when_done(alert_id: int) -> None:
    db.session.execute(
        text(
            """
            UPDATE alerts SET status = 'sent' WHERE id = :id AND status = 'sending'
            AND NOT EXISTS (SELECT 1 FROM deliveries WHERE alert_id = :id
                            AND status IN ('queued', 'sending', 'unknown'))
            """
        ),
        {"id": alert_id},
    )
    db.session.commit()


# --- provider callbacks -------------------------------------------------------------

SMS_STATUSES = {
    "accepted": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
CALL_STATUSES = {
    "queued": "sent",
    "initiated": "sent",
    "ringing": "sent",
    "in-progress": "sent",
    "answered": "sent",
    "completed": "delivered",
    "busy": "failed",
    "no-answer": "failed",
    "failed": "failed",
    "canceled": "failed",
}


# STATUS_RANK (models/delivery.py, the one statement of the order) as SQL over d.status.
_RANK_OF_STATUS = (
    "(CASE d.status "
    + " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in STATUS_RANK.items())
    + " END)"
)


def apply_provider_status(
    delivery_id: int,
    *,
    provider_ref: str,
    provider_status: str,
    error_code: str | None = None,
    segments: int | None = None,
    duration_seconds: int | None = None,
) -> bool:
    """Move a delivery forward from a provider's callback. Idempotent: a repeated or
    late callback cannot move it back. Returns whether the delivery exists."""
    mapping = CALL_STATUSES if provider_ref.startswith("CA") else SMS_STATUSES
    status = mapping.get(provider_status)
    if status is None:
        return True  # a status we do not track: nothing to do
    if not create_provider_event(f"status:{delivery_id}:{provider_ref}:{provider_status}"):
        db.session.rollback()
        return True  # this very event was applied before: a replay or a retry
    reason = None
    if status == "failed":
        reason = f"{provider_status}" + (f" (Twilio error {error_code})" if error_code else "")
    row = db.session.execute(
        text(
            """
            WITH old AS (SELECT id, status FROM deliveries WHERE id = :id FOR UPDATE)
            UPDATE deliveries d SET
                provider_ref = coalesce(d.provider_ref, :ref),
                segments = coalesce(:segments, d.segments),
                duration_seconds = coalesce(:duration, d.duration_seconds),
                sent_at = coalesce(d.sent_at, now()),
                status = CASE WHEN {rank_of_status} < :rank THEN :status
                              ELSE d.status END,
                reason = CASE WHEN :status = 'failed' AND d.status NOT IN
                              ('delivered', 'failed', 'cancelled') THEN :reason
                              WHEN :status = 'delivered' AND d.status = 'possibly_sent' THEN NULL
                              ELSE d.reason END,
                finished_at = CASE WHEN :rank = 3 AND d.finished_at IS NULL THEN now()
                                   ELSE d.finished_at END,
                updated_at = now()
            FROM old WHERE d.id = old.id
            RETURNING d.alert_id, old.status
            """.replace("{rank_of_status}", _RANK_OF_STATUS)
        ),
        {
            "id": delivery_id,
            "ref": provider_ref,
            "segments": segments,
            "duration": duration_seconds,
            "status": status,
            "rank": STATUS_RANK[status],
            "reason": reason,
        },
    ).first()
    db.session.commit()
    # Only a delivery this moved out of waiting can have finished its alert: the many
    # "sent -> delivered" callbacks of a big alert need not ask.
    if row is not None and row[1] in ("queued", "sending", "unknown"):
        mark_alert_sent_when_done(row[0])
    return row is not None


# --- the sweeper ------------------------------------------------------------------


def sweep() -> dict[str, int]:
    """Find work left behind and put it back on the road. Run it every few seconds
    (`flask sweeper`); running it twice at once is harmless.

    1. "sending" for longer than STALLED_SECONDS: its worker died mid-send. The outbox
       records in the status change's own transaction, so it goes back to "queued".
       With a provider the request may have gone out: an e-mail (no callback, no way to
       ask) ends "possibly_sent", never resent; a text or call becomes "unknown".
    2. "unknown" for longer than RECONCILE_SECONDS: its callback never came. With a
       provider reference the provider took it: "sent". Without, a job asks the
       provider whether it took it before anything is sent again (reconcile()).
    3. "queued" and due, untouched for REQUEUE_SECONDS while no job waits in the queue
       (Redis lost its jobs, or a crash came between commit and enqueue): enqueue again.
    """
    config = current_app.config
    outbox = config.get("DELIVERY_TRANSPORT") != "providers"
    stalled = db.session.execute(
        text(
            """
            UPDATE deliveries SET
                status = CASE WHEN :outbox THEN 'queued'
                              WHEN channel = 'email' THEN 'possibly_sent'
                              ELSE 'unknown' END,
                reason = CASE WHEN NOT :outbox AND channel = 'email'
                              THEN 'possibly sent: the worker stopped while sending it, '
                                   || 'and an e-mail is never sent twice'
                              ELSE 'worker stopped while sending' END,
                finished_at = CASE WHEN NOT :outbox AND channel = 'email' THEN now()
                                   ELSE finished_at END,
                updated_at = now()
            WHERE status = 'sending' AND updated_at < now() - make_interval(secs => :secs)
              AND NOT EXISTS (SELECT 1 FROM outbox_messages o WHERE o.delivery_id = deliveries.id)
            RETURNING id
            """
        ),
        {"outbox": outbox, "secs": config["STALLED_SECONDS"]},
    ).all()
    db.session.execute(
        text(
            """
            UPDATE deliveries SET status = 'sent', updated_at = now(),
                   reason = 'accepted by the provider; it never reported delivery'
            WHERE status = 'unknown' AND provider_ref IS NOT NULL
              AND updated_at < now() - make_interval(secs => :secs)
            """
        ),
        {"secs": config["RECONCILE_SECONDS"]},
    )
    # Taken for asking: next_attempt_at (unused while unknown) says when to ask again if
    # the job asking was lost, so sweeps in between do not queue it twice.
    to_reconcile = db.session.execute(
        text(
            """
            UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => :again)
            WHERE status = 'unknown' AND provider_ref IS NULL
              AND updated_at < now() - make_interval(secs => :secs)
              AND (next_attempt_at IS NULL OR next_attempt_at <= now())
            RETURNING id
            """
        ),
        {"secs": config["RECONCILE_SECONDS"], "again": ASK_AGAIN_SECONDS},
    ).all()
    # Only when no job is waiting: a long alert's queued rows are not forgotten, just
    # behind others, and re-queueing them every sweep would flood the queue.
    forgotten: list[int] = []
    if _queue_is_empty():
        forgotten = list(
            db.session.execute(
                text(
                    """
                    UPDATE deliveries SET updated_at = now()
                    WHERE status = 'queued'
                      AND (next_attempt_at IS NULL OR next_attempt_at <= now())
                      AND updated_at < now() - make_interval(secs => :secs)
                    RETURNING id
                    """
                ),
                {"secs": config["REQUEUE_SECONDS"]},
            ).scalars()
        )
    db.session.commit()
    ids = sorted(set(forgotten) | ({r[0] for r in stalled} if outbox else set()))
    enqueue(ids)
    enqueue_reconcile([r[0] for r in to_reconcile])
    for (alert_id,) in db.session.execute(
        text("SELECT id FROM alerts WHERE status = 'sending'")
    ).all():
        mark_alert_sent_when_done(alert_id)
    return {"stalled": len(stalled), "reconcile": len(to_reconcile), "requeued": len(ids)}


# Look for a message at the provider from a little before its attempt was claimed
# (clocks differ), and ask again if the job asking was lost.
LOOK_BACK_SECONDS = 60
ASK_AGAIN_SECONDS = 120


def reconcile(delivery_ids: list[int]) -> dict[str, int]:
    """For each text or call still "unknown" with no provider reference, ask the
    provider whether it took it since the attempt began (Twilio lists messages and
    calls by recipient and date), before anything is sent twice:
      - it did: adopt its reference, "sent" (its status callback may still come);
      - it did not: send again while attempts remain, else "failed" with why;
      - it cannot tell: "possibly_sent" with why, never sent again.
    Safe to run twice: each row changes only while still unknown and unreferenced."""
    rows = db.session.execute(
        text(
            """
            SELECT d.id, d.alert_id, d.resident_id, d.channel, d.address, d.attempts,
                   coalesce(d.attempted_at, d.created_at) AS attempted_at,
                   -- Not to be sent again: the alert was cancelled or they stopped.
                   (a.status = 'cancelled' OR coalesce(rc.unsubscribed_at IS NOT NULL, false))
                       AS stopped
            FROM deliveries d
            JOIN alerts a ON a.id = d.alert_id
            LEFT JOIN resident_channels rc
                   ON rc.resident_id = d.resident_id AND rc.channel = d.channel
                  AND rc.address = d.address
            WHERE d.id IN :ids AND d.status = 'unknown' AND d.provider_ref IS NULL
            """
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": list(delivery_ids) or [0]},
    ).all()
    db.session.rollback()
    max_attempts = current_app.config["DELIVERY_MAX_ATTEMPTS"]
    claimed = [Claimed(*row[:6]) for row in rows]
    alerts = {c.alert_id: db.session.get(Alert, c.alert_id) for c in claimed}
    messages = render_messages(claimed, alerts)
    answers = _ask_providers(
        [
            (m, row.attempted_at - timedelta(seconds=LOOK_BACK_SECONDS))
            for m, row in zip(messages, rows, strict=True)
        ]
    )
    counts = {"found": 0, "resend": 0, "failed": 0, "possibly_sent": 0, "cancelled": 0}
    resend: list[int] = []
    for claim_, answer, row in zip(claimed, answers, rows, strict=True):
        if isinstance(answer, SendResult):
            kind, values = (
                "found",
                {
                    "status": "sent",
                    "ref": answer.provider_ref,
                    "reason": "no answer in time, but the provider had taken it",
                },
            )
        elif isinstance(answer, TransportError):
            kind, values = (
                "possibly_sent",
                {
                    "status": "possibly_sent",
                    "ref": None,
                    "reason": f"possibly sent: no answer in time, and {answer.reason}",
                },
            )
        elif row.stopped:
            kind, values = (
                "cancelled",
                {
                    "status": "cancelled",
                    "ref": None,
                    "reason": "not sent again: the alert was cancelled or the recipient stopped",
                },
            )
        elif claim_.attempts >= max_attempts:
            kind, values = (
                "failed",
                {
                    "status": "failed",
                    "ref": None,
                    "reason": f"gave up after {claim_.attempts} attempts: no answer in time, "
                    "and the provider has no record of it",
                },
            )
        else:
            kind, values = (
                "resend",
                {
                    "status": "queued",
                    "ref": None,
                    "reason": "no answer in time, and the provider has no record of it: "
                    "sending again",
                },
            )
        changed = db.session.execute(
            text(
                """
                UPDATE deliveries SET status = CAST(:status AS text), reason = :reason,
                       provider_ref = CAST(:ref AS text), next_attempt_at = NULL,
                       updated_at = now(),
                       sent_at = CASE WHEN CAST(:status AS text) = 'sent'
                                      THEN coalesce(sent_at, now()) ELSE sent_at END,
                       finished_at = CASE WHEN CAST(:status AS text)
                                               IN ('failed', 'possibly_sent', 'cancelled')
                                          THEN now() ELSE finished_at END
                WHERE id = :id AND status = 'unknown' AND provider_ref IS NULL
                RETURNING id
                """
            ),
            values | {"id": claim_.delivery_id},
        ).first()
        if changed is not None:
            counts[kind] += 1
            if kind == "resend":
                resend.append(claim_.delivery_id)
    db.session.commit()
    enqueue(resend)
    for alert_id in alerts:
        mark_alert_sent_when_done(alert_id)
    return counts


def _ask_providers(asks: list[tuple[OutgoingMessage, datetime]]) -> list:
    """For each (message, since): the provider's record of it (SendResult), None when
    it has none, or the TransportError that kept it from saying."""
    transports = {m.channel: transport_for(m.channel) for m, _ in asks}  # app context here

    async def ask(message, since):
        transport = transports[message.channel]
        find = getattr(transport, "find_async", None)
        if find is None:
            return TransportError(f"{transport.name} cannot be asked what it sent", permanent=True)
        try:
            return await find(message, since)
        except TransportError as error:
            return error

    async def ask_all():
        from app.channels import close_async_clients

        try:
            return await asyncio.gather(*(ask(m, since) for m, since in asks))
        finally:
            await close_async_clients()

    if not asks:
        return []
    # On an event loop of its own thread: the caller's thread may already run one.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, ask_all()).result()


def enqueue_reconcile(delivery_ids: list[int]) -> None:
    size = current_app.config["DELIVERY_BATCH_SIZE"]
    for start in range(0, len(delivery_ids), size):
        jobs.enqueue("delivery.reconcile_batch", delivery_ids[start : start + size])


def _queue_is_empty() -> bool:
    """Whether no job waits for a worker (True when Redis cannot say: then a job keeps
    its retries rather than handing them to a queue that may not be there)."""
    try:
        return jobs.waiting() == 0
    except RedisError:
        return True


def enqueue(delivery_ids: list[int], *, after_seconds: float = 0) -> None:
    size = current_app.config["DELIVERY_BATCH_SIZE"]
    for start in range(0, len(delivery_ids), size):
        batch = delivery_ids[start : start + size]
        jobs.enqueue("delivery.deliver_batch", batch, after_seconds=after_seconds)
