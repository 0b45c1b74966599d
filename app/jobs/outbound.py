"""RQ entry points of the outbound engine. They take a ledger's name and row ids, and
act only on rows still in the state they expect (app.services.outbound), so running
one twice sends nothing twice."""

from __future__ import annotations

import logging

from app.jobs import leased, with_app_context
from app.services import dispatch, ledgers, outbound

log = logging.getLogger(__name__)


@with_app_context
@leased
def deliver_batch(ledger: str, ids: list[int]) -> dict[str, int]:
    """Send each row of the batch that is still queued."""
    outcomes = outbound.deliver(ledgers.ledger(ledger), ids)
    log.info("sent %s batch of %s: %s", ledger, len(ids), outcomes)
    return outcomes


@with_app_context
@leased
def deliver_alert_range(
    alert_id: int, first_id: int, last_id: int, channel: str | None = None
) -> dict[str, int]:
    """Send the alert's deliveries with ids in first_id..last_id (of the channel: a
    job queued before channels were named has none) that are still queued (how a
    fan-out is queued: a range is a few bytes, however many rows it holds)."""
    outcomes = dispatch.deliver_alert_range(alert_id, first_id, last_id, channel)
    log.info("sent alert %s %s ids %s-%s: %s", alert_id, channel, first_id, last_id, outcomes)
    return outcomes


@with_app_context
@leased
def reconcile_batch(ledger: str, ids: list[int]) -> dict[str, int]:
    """Ask the provider about rows whose send got no answer, before any resend."""
    outcomes = outbound.reconcile(ledgers.ledger(ledger), ids)
    log.info("reconciled %s %s: %s", len(ids), ledger, outcomes)
    return outcomes
