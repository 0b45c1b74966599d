"""Finding and queueing again an alert's messages no provider ever took (every try
refused for now: refused_every_try, migration 0055), to the addresses its audience
still reaches by the send's own rules (dao.targeting.reaches): the channel verified
and not stopped, alerts not paused, the force that reached them not stopped, in the
alert's groups, and for an area's alert a place still in its area."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, false, func, null, or_, select, true, update

from app.dao.targeting import Audience, reaches
from app.extensions import db
from app.models import Delivery, Resident


def _never_taken_wanted(
    alert_id: int, created_at: datetime, audiences: list[Audience]
) -> list[ColumnElement]:
    """The alert's never-taken messages to an address one of `audiences` (one per
    force whose part sent it) reaches."""
    return [
        Delivery.alert_id == alert_id,
        Delivery.alert_created_at == created_at,
        Delivery.status == "failed",
        Delivery.refused_every_try.is_(true()),
        Delivery.resident_id.is_not(None),
        or_(*(reaches(audience, Delivery.channel, Delivery.address) for audience in audiences)),
    ]


def never_taken(
    alert_id: int, created_at: datetime, audiences: list[Audience]
) -> tuple[int, str | None]:
    """How many of the alert's never-taken messages may be sent again (the page offered
    some that residents had since stopped, and each press sent nothing: an outside
    check), and the reason most of them failed with, as kept; in one query."""
    count, reason = db.session.execute(
        select(func.count(), func.mode().within_group(Delivery.reason)).where(
            *_never_taken_wanted(alert_id, created_at, audiences)
        )
    ).one()
    return count, reason


def requeue_never_taken(
    alert_id: int, created_at: datetime, audiences: list[Audience], *, urgent: bool
) -> list[int]:
    """Queue again the alert's never-taken messages to addresses it still reaches. A
    routine alert's waits for the resident's quiet hours to end. Each is tried for
    another retry window from when it is due; the ids queued. No provider took any of
    them: nobody can get one twice."""
    due = (
        null()
        if urgent
        else select(func.quiet_hours_release(Resident.quiet_from, Resident.quiet_until, func.now()))
        .where(Resident.id == Delivery.resident_id)
        .scalar_subquery()
    )
    return list(
        db.session.scalars(
            update(Delivery)
            .where(*_never_taken_wanted(alert_id, created_at, audiences))
            .values(
                status="queued",
                finished_at=None,
                updated_at=func.now(),
                refused_every_try=false(),
                # Every try so far was refused (the last one too): counted so, the row
                # is marked again if each of its next is refused.
                attempts_refused=Delivery.attempts - Delivery.attempts_held,
                next_attempt_at=due,
                first_attempted_at=func.coalesce(due, func.now()),
                # A window of its own, from its next refusal (if any).
                first_refused_at=None,
            )
            .returning(Delivery.id),
            execution_options={"synchronize_session": False},
        )
    )
