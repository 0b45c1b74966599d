"""What is asked of residents' rows in more than one place. Nothing here commits."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Resident, ResidentLocation, ResidentNotice
from app.models.resident import resident_force_stops


def lock_resident(resident_id: int) -> bool:
    """Take the resident's row for this transaction, so that one change to their
    account waits for another (two taps on one button, two tabs), and read them again
    after: what the other change did is then seen, checked and never done twice.
    Every change takes it before any other row of theirs (a way's first, then the
    resident's as a notice to them was written, met their delete, which takes them the
    other way round, in a deadlock: a review). False when the record has been deleted
    meanwhile."""
    locked = db.session.execute(
        select(Resident.id).where(Resident.id == resident_id).with_for_update()
    ).scalar_one_or_none()
    db.session.expire_all()
    return locked is not None


def find_heard_force_ids(resident_id: int) -> list[int]:
    """The forces whose alerts reach the resident: those whose areas hold their places,
    less those they stopped hearing from, in the order the places were added. Read from
    the database, as PostgreSQL writes each place's force (migration 0034) and a place
    just added has none in memory. Empty when the resident is gone."""
    return list(
        db.session.scalars(
            select(ResidentLocation.force_id)
            .where(
                ResidentLocation.resident_id == resident_id,
                ResidentLocation.force_id.is_not(None),
                ResidentLocation.force_id.not_in(
                    select(resident_force_stops.c.force_id).where(
                        resident_force_stops.c.resident_id == resident_id
                    )
                ),
            )
            .group_by(ResidentLocation.force_id)
            .order_by(func.min(ResidentLocation.id))
        )
    )


def newest_refusal_to(channel: str, address: str, since, kinds) -> str | None:
    """Why the newest notice of these kinds to this address by this channel since then
    was refused; None when it was not refused (or still goes), or there is none. (The
    index of notices by address: 0072.)"""
    newest = db.session.execute(
        select(ResidentNotice.status, ResidentNotice.reason)
        .where(
            ResidentNotice.address == address,
            ResidentNotice.channel == channel,
            ResidentNotice.created_at >= since,
            ResidentNotice.kind.in_(kinds),
        )
        .order_by(ResidentNotice.created_at.desc(), ResidentNotice.id.desc())
        .limit(1)
    ).first()
    return newest.reason if newest is not None and newest.status == "failed" else None
