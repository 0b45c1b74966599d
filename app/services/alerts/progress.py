"""How alerts are getting on: the newest, one alert's status, its deliveries."""

from __future__ import annotations

import json
import logging

from flask import current_app
from flask_babel import gettext
from redis.exceptions import RedisError
from sqlalchemy import and_, func, or_, select

from app.dao.outbound import NUMBER_BUSY_SECONDS
from app.extensions import db, redis_store
from app.i18n import when
from app.models import Alert, Delivery
from app.services.reports import NO_REASON, reason_group
from app.services.transaction import read_only

FINISHED_STATUSES = ("possibly_sent", "sent", "delivered", "failed", "cancelled")

log = logging.getLogger(__name__)


def find_recent_alerts(limit: int = 100) -> list[Alert]:
    """The newest alerts first."""
    return list(db.session.scalars(select(Alert).order_by(Alert.id.desc()).limit(limit)))


def find_alert_status(alert_id: int) -> str | None:
    """The alert's status, or None when there is no such alert."""
    return db.session.scalar(select(Alert.status).where(Alert.id == alert_id))


def alert_progress(alert_id: int) -> dict:
    """Counts of deliveries per channel and status, and whether the alert is finished.
    A large alert's counts (PROGRESS_CACHE_ROWS deliveries or more: counting 1.5
    million takes a second, and the page asks every second) are kept in Redis for
    PROGRESS_CACHE_SECONDS, and one watcher at a time counts them again: the others
    meanwhile get the last count. However many watch, it is counted once a while."""
    key = f"alert-progress:{alert_id}"
    client = redis_store.client
    try:
        cached = client.get(key)
        if cached is None and not client.set(f"{key}:counting", 1, nx=True, ex=30):
            cached = client.get(f"{key}:last")  # someone is counting it now
    except RedisError:
        cached = None
    if cached is not None:
        return json.loads(cached)
    progress = _count_progress(alert_id)
    config = current_app.config
    try:
        if progress["total"] >= config["PROGRESS_CACHE_ROWS"] and not progress["finished"]:
            counted = json.dumps(progress)
            client.set(key, counted, ex=config["PROGRESS_CACHE_SECONDS"])
            client.set(f"{key}:last", counted, ex=60)
        client.delete(f"{key}:counting")
    except RedisError:
        log.warning("alert %s: progress not cached (Redis unavailable)", alert_id)
    return progress


def progress_shown(alert_id: int) -> dict:
    """alert_progress as a page shows it: its commonest reason for trying again in the
    page's language when it is that none was recorded (the counts may be shared by
    pages in either language, in Redis)."""
    progress = alert_progress(alert_id)
    if progress.get("retry_reason") == NO_REASON:
        progress = progress | {"retry_reason": gettext("no reason recorded")}
    return progress


def _count_progress(alert_id: int) -> dict:
    with read_only():
        rows = db.session.execute(
            select(Delivery.channel, Delivery.status, func.count())
            .where(Delivery.alert_id == alert_id)
            .group_by(Delivery.channel, Delivery.status)
        ).all()
        # One pass over the queued rows (a million, as a large alert begins):
        # - held for residents' quiet hours: not due until their morning (an alert
        #   showed "1 waiting" for hours and looked stuck: an outside check). Not yet
        #   tried, or tried and due later than any retry's backoff (a routine alert's
        #   retry waits for them: a page said "209 being tried again: Twilio 503" all
        #   night, the outage long over, an outside check);
        # - tried and waiting to be tried again, with the commonest reason: in a
        #   provider's outage an alert sat at "sending" with nothing said of why (its
        #   messages are tried for DELIVERY_RETRY_WINDOW_SECONDS).
        # The totals are over every reason, however many (a mail server's refusals
        # may each carry their own id); the reasons read, the commonest few.
        due = func.coalesce(Delivery.next_attempt_at, func.now())
        backoff_at_most = func.make_interval(
            0, 0, 0, 0, 0, 0, current_app.config["RETRY_MAX_SECONDS"] + 5
        )
        # Not one waiting a few seconds behind another message to the number (a call
        # ringing): "waiting for the residents' quiet hours" was said of those too.
        busy_at_most = func.make_interval(0, 0, 0, 0, 0, 0, NUMBER_BUSY_SECONDS)
        held_back = and_(
            due > func.now() + busy_at_most,
            or_(Delivery.attempts == 0, due > func.now() + backoff_at_most),
        )
        tried = and_(Delivery.attempts > 0, ~held_back)
        retrying_of = func.count().filter(tried)
        queued = db.session.execute(
            select(
                Delivery.reason,
                retrying_of,
                func.sum(retrying_of).over(),
                func.sum(func.count().filter(held_back)).over(),
                func.max(func.max(Delivery.next_attempt_at).filter(held_back)).over(),
            )
            .where(Delivery.alert_id == alert_id, Delivery.status == "queued")
            .group_by(Delivery.reason)
            .order_by(retrying_of.desc())
            .limit(FAILURE_REASONS_READ)
        ).all()
    retrying, held, held_until = (
        (int(queued[0][2]), int(queued[0][3]), queued[0][4]) if queued else (0, 0, None)
    )
    by_channel: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for channel, status, count in rows:
        by_channel.setdefault(channel, {})[status] = count
        totals[status] = totals.get(status, 0) + count
    total = sum(totals.values())
    done = sum(totals.get(status, 0) for status in FINISHED_STATUSES)
    retry_groups: dict[str, int] = {}
    for reason, count, *_ in queued:
        if count:
            # None too ("no reason recorded"): 3 of 4 with none, the one reason given
            # was called the commonest (an outside check).
            key = reason_group(reason)
            retry_groups[key] = retry_groups.get(key, 0) + count
    return {
        "held": held,
        "retrying": retrying,
        # In the provider's and engine's English, as "Why messages failed" lists them.
        "retry_reason": max(retry_groups, key=lambda k: (retry_groups[k], k))
        if retry_groups
        else None,
        # As the page shows a time: UK time, in the page's language.
        "held_until": when(held_until, "short") if held else None,
        "total": total,
        "by_status": totals,
        "by_channel": by_channel,
        "finished": done == total,
    }


# How many kinds of failure an alert's page lists (the most common first), from how
# many of the ledger's own reasons (one per number, for some providers' words).
FAILURE_REASONS_SHOWN = 6
FAILURE_REASONS_READ = 500


def failure_reasons(alert: Alert) -> list[tuple[str, int, bool]]:
    """Why the alert's failed messages failed, the most common reasons first: (the
    reason, how many failed so, whether it is in the provider's and engine's English).
    A page said "Failed 102" and no more, and an officer could not tell a provider's
    refusal for now from numbers that cannot get texts (an outside check). Grouped as
    the analysts' report groups them (reports.reason_group): without "gave up after N
    attempts" and with no address or number (a provider's words may quote the 'To')."""
    with read_only():
        rows = db.session.execute(
            select(Delivery.reason, func.count())
            .where(
                Delivery.alert_id == alert.id,
                Delivery.alert_created_at == alert.created_at,  # its month's partition
                Delivery.status == "failed",
            )
            .group_by(Delivery.reason)
            .order_by(func.count().desc())
            .limit(FAILURE_REASONS_READ)
        ).all()
    grouped: dict[str, int] = {}
    for reason, count in rows:
        key = reason_group(reason)
        grouped[key] = grouped.get(key, 0) + count
    shown = sorted(grouped.items(), key=lambda item: (-item[1], item[0]))
    return [
        (gettext("no reason recorded"), count, False)
        if reason == NO_REASON
        else (reason, count, True)
        for reason, count in shown[:FAILURE_REASONS_SHOWN]
    ]
