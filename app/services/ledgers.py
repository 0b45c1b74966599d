"""The outbound engine's ledgers by name, and one sweep over all of them."""

from __future__ import annotations

from redis.exceptions import RedisError

from app import jobs
from app.services import dispatch, notices, outbound

LEDGERS = {ledger.name: ledger for ledger in (dispatch.ALERTS, notices.NOTICES)}


def ledger(name: str) -> outbound.Ledger:
    return LEDGERS[name]


def sweep() -> dict[str, int]:
    """Put back, urgent alerts' first, each delivery job that died with its worker or
    raised (jobs.requeue_dead), and each job left past its time by a dead scheduler
    (jobs.release_overdue), then sweep every ledger (outbound.sweep). Alerts' figures keep
    their names; the others' are prefixed with the ledger's name ("notices_requeued")."""
    found: dict[str, int] = {"jobs_requeued": 0, "jobs_overdue": 0}
    try:
        alerts = LEDGERS["alerts"]
        found["jobs_requeued"] = jobs.requeue_dead(_urgent_job, alerts.urgent_waiting)
        # A job not queued OVERDUE_SECONDS past its time: its scheduler's worker died.
        found["jobs_overdue"] = jobs.release_overdue(jobs.OVERDUE_SECONDS)
    except RedisError:
        pass  # the ledgers' sweep finds their rows once it is back
    for name, each in LEDGERS.items():
        for key, count in outbound.sweep(each).items():
            found[key if name == "alerts" else f"{name}_{key}"] = count
    return found


def release_due_jobs() -> dict[str, int]:
    """Between sweeps, every second: the jobs left past their time by a dead scheduler
    (jobs.release_overdue), so that while none is alive they go about as late as a live
    one's (at the sweeps alone, up to SWEEP_INTERVAL_SECONDS late)."""
    try:
        return {"jobs_overdue": jobs.release_overdue(jobs.OVERDUE_SECONDS)}
    except RedisError:
        return {"jobs_overdue": 0}  # the next sweep tries again


def _urgent_job(spec: dict) -> bool:
    """Whether a delivery job's rows (by its arguments: a ledger's batch, or an alert's
    range of deliveries) are an urgent alert's."""
    name, args = spec["name"], spec["args"]
    if name == "outbound.deliver_batch":
        return bool(ledger(args[0]).urgent(args[1]))
    if name == "outbound.deliver_alert_range":
        return bool(LEDGERS["alerts"].urgent([args[1]]))  # its first delivery's alert
    return False
