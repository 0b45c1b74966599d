"""Messages to one resident that are not alerts: verification codes and links, links
to manage their alerts, a notice after an import. Queued in the caller's transaction,
sent by a job that takes their ids (safe to run twice: it claims each one first)."""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError
from sqlalchemy import func, select, update

from app.channels import OutgoingMessage, TransportError, transport_for
from app.extensions import db
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
    from app.jobs import queue
    from app.jobs.notices import send_notices

    if not notice_ids:
        return
    try:
        for start in range(0, len(notice_ids), 200):
            queue().enqueue(send_notices, notice_ids[start : start + 200], job_timeout=3600)
    except RedisError:
        log.exception("%s notices recorded but not queued: Redis unavailable", len(notice_ids))


def send_notices(notice_ids: list[int]) -> dict[str, int]:
    """Send each notice still queued. A notice is claimed (queued -> sending, committed)
    before its provider is called, so a second run never sends it again."""
    totals = {"sent": 0, "failed": 0, "skipped": 0}
    for notice_id in notice_ids:
        claimed = db.session.execute(
            update(ResidentNotice)
            .where(ResidentNotice.id == notice_id, ResidentNotice.status == "queued")
            .values(status="sending")
            .returning(ResidentNotice.id)
        ).first()
        db.session.commit()
        if claimed is None:
            totals["skipped"] += 1
            continue
        notice = db.session.get(ResidentNotice, notice_id)
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
        try:
            result = _send(transport, message)
        except TransportError as error:
            notice.status, notice.reason = "failed", error.reason
            totals["failed"] += 1
        else:
            notice.status, notice.provider_ref = "sent", result.provider_ref
            notice.sent_at = db.func.now()
            totals["sent"] += 1
        # The text may hold a code or a sign-in link: keep it no longer than needed.
        notice.body = None
        db.session.commit()
    return totals


def _send(transport, message: OutgoingMessage):
    send = getattr(transport, "send", None)
    if send is not None:
        return send(message)
    return asyncio.run(transport.send_async(message))


def requeue_forgotten_notices(older_than_seconds: int = 60) -> int:
    """Queue again the notices that waited longer than this while no job is waiting
    (Redis lost them, or a crash came between commit and enqueue). Sending claims
    each one first, so a notice queued twice still goes once."""
    from app.jobs import queue

    if queue().count:
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
