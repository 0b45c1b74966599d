"""RQ entry points for delivery. They take ids and act only on rows still in the state
they expect (app.services.dispatch), so running one twice sends nothing twice."""

from __future__ import annotations

import logging

from sqlalchemy import select

from app.extensions import db
from app.jobs import with_app_context
from app.models import Alert
from app.services import dispatch

log = logging.getLogger(__name__)


@with_app_context
def deliver_batch(delivery_ids: list[int]) -> dict[str, int]:
    """Send each delivery of the batch that is still queued."""
    outcomes = dispatch.deliver(delivery_ids)
    log.info("delivered batch of %s: %s", len(delivery_ids), outcomes)
    return outcomes


@with_app_context
def reconcile_batch(delivery_ids: list[int]) -> dict[str, int]:
    """Ask the provider about deliveries whose send got no answer, before any resend."""
    outcomes = dispatch.reconcile(delivery_ids)
    log.info("reconciled %s: %s", len(delivery_ids), outcomes)
    return outcomes


def find_unfinished_alert_ids() -> list[int]:
    return list(db.session.scalars(select(Alert.id).where(Alert.status == "sending")))
