"""How an alert's deliveries are getting on."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Delivery
from app.services.transaction import read_only

FINISHED_STATUSES = ("possibly_sent", "sent", "delivered", "failed", "cancelled")


def alert_progress(alert_id: int) -> dict:
    """Counts of deliveries per channel and status, and whether the alert is finished."""
    with read_only():
        rows = db.session.execute(
            select(Delivery.channel, Delivery.status, func.count())
            .where(Delivery.alert_id == alert_id)
            .group_by(Delivery.channel, Delivery.status)
        ).all()
    by_channel: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for channel, status, count in rows:
        by_channel.setdefault(channel, {})[status] = count
        totals[status] = totals.get(status, 0) + count
    total = sum(totals.values())
    done = sum(totals.get(status, 0) for status in FINISHED_STATUSES)
    return {
        "total": total,
        "by_status": totals,
        "by_channel": by_channel,
        "finished": done == total,
    }
