"""Messages to one resident that are not alerts: verification codes and links, links
to manage their alerts, a notice after an import. Queued in the caller's transaction,
sent by a job that takes their ids (safe to run twice: it claims each one first)."""

from __future__ import annotations

import logging
from concurrent.futures import Future

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select, update

from app import jobs
from app.channels import OutgoingMessage, TransportError, transport_for
from app.channels.ratelimit import RateLimiter
from app.channels.sender import ConcurrentSender
from app.extensions import db, redis_store
from app.models import ResidentNotice

log = logging.getLogger(__name__)


def create_notice(
    *,
    resident_id: int | None,
    kind: str,
    channel: str,
    address: str,
    body: str,
    subject: str | None = None,
) -> ResidentNotice:
    """Add a notice to the session; the caller commits, then calls queue_notices."""
    notice = ResidentNotice(
        resident_id=resident_id,
        kind=kind,
        channel=channel,
        address=address,
        subject=subject,
        body=body,
    )
    db.session.add(notice)
    return notice


def queue_notices(notice_ids: list[int]) -> None:
    """Put committed notices on the queue. If Redis is down they stay queued in the
    database, and the sweeper queues them later."""
    if not notice_ids:
        return
    try:
        for start in range(0, len(notice_ids), 200):
            jobs.enqueue("notices.send_notices", notice_ids[start : start + 200])
    except RedisError:
        log.exception("%s notices recorded but not queued: Redis unavailable", len(notice_ids))


def send_notices(notice_ids: list[int]) -> dict[str, int]:
    """Send each notice still queued. Notices are claimed (queued -> sending, committed)
    before any provider is called, so a second run never sends one again. They go
    through the same sender and per-channel rate limits as alerts."""
    totals = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    claimed = set(
        db.session.scalars(
            update(ResidentNotice)
            .where(ResidentNotice.id.in_(notice_ids), ResidentNotice.status == "queued")
            .values(status="sending")
            .returning(ResidentNotice.id)
        )
    )
    db.session.commit()
    totals["skipped"] = len(set(notice_ids) - claimed)
    notices = db.session.scalars(
        select(ResidentNotice).where(ResidentNotice.id.in_(claimed)).order_by(ResidentNotice.id)
    ).all()
    limits = current_app.config["RATE_LIMITS"]
    with ConcurrentSender(current_app.config["DELIVERY_CONCURRENCY"]) as sender:
        pending = []
        for notice in notices:
            message = OutgoingMessage(
                delivery_id=0,
                alert_id=0,
                notice_id=notice.id,
                channel=notice.channel,
                recipient=notice.address,
                subject=notice.subject,
                body=notice.body or "",
            )
            transport = transport_for(notice.channel)
            if transport.writes_to_database:  # the outbox: in this thread's transaction
                pending.append((notice, _now(transport.send, message)))
            else:
                limiter = RateLimiter(
                    redis_store.client, notice.channel, limits.get(notice.channel, 0)
                )
                pending.append((notice, sender.submit(transport, limiter, message)))
        for notice, future in pending:
            try:
                result = future.result()
            except TransportError as error:
                if error.permanent or error.maybe_sent:
                    notice.status, notice.reason = "failed", error.reason
                    notice.body = None
                    totals["failed"] += 1
                else:  # worth another go: the sweeper queues it again
                    notice.status, notice.reason = "queued", error.reason
                    totals["retry"] += 1
            except Exception as error:  # anything else fails this one, not the batch
                log.exception("notice %s could not be sent", notice.id)
                notice.status, notice.reason = "failed", f"unexpected {type(error).__name__}"
                notice.body = None
                totals["failed"] += 1
            else:
                notice.status, notice.provider_ref = "sent", result.provider_ref
                notice.sent_at = func.now()
                # The text may hold a code or a sign-in link: keep it no longer than needed.
                notice.body = None
                totals["sent"] += 1
            db.session.commit()  # each as it comes: a killed worker strands none sent
    return totals


def _now(send, message) -> Future:
    """Send at once in this thread, with the result where a submitted send's would be."""
    future: Future = Future()
    try:
        future.set_result(send(message))
    except Exception as error:
        future.set_exception(error)
    return future


# A code lasts 10 minutes and a link is wanted now: a notice not sent within this long
# is given up rather than sent late.
GIVE_UP_MINUTES = 15


def requeue_forgotten_notices(older_than_seconds: int = 60) -> int:
    """For the sweeper. Notices that waited longer than this while no job is waiting
    (Redis lost them, a crash between commit and enqueue, a temporary failure) are
    queued again; sending claims each one first, so one queued twice still goes once.
    Notices too old to be useful, or stuck "sending" (their worker died), fail and
    lose their text."""
    db.session.execute(
        update(ResidentNotice)
        .where(
            ResidentNotice.status.in_(("queued", "sending")),
            ResidentNotice.created_at
            < func.now() - func.make_interval(0, 0, 0, 0, 0, GIVE_UP_MINUTES),
        )
        .values(status="failed", reason="not sent in time", body=None)
    )
    db.session.commit()
    if jobs.waiting():
        return 0
    ids = list(
        db.session.scalars(
            select(ResidentNotice.id).where(
                ResidentNotice.status == "queued",
                ResidentNotice.created_at
                < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than_seconds),
            )
        )
    )
    db.session.rollback()
    queue_notices(ids)
    return len(ids)
