"""The analysts' figures, counted ahead so their pages answer fast at force scale.

Each set has a name and a recount. The sweeper recounts every set older than
ANALYST_REFRESH_SECONDS (refresh_due); a page asks for its set with `fresh(name)`,
which recounts first only when the set is older than ANALYST_MAX_AGE_SECONDS (or was
never counted), and returns when the figures were counted, for the page to say.

A recount runs in its own transaction under a lock on its name: two at once wait for
each other, and the second finds the set already fresh. Readers never wait: they see
the previous set until the recount commits."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import current_app

from app.dao import figures as dao
from app.dao import timeline as timeline_dao
from app.extensions import db
from app.services.transaction import read_only, transaction


def _density(session) -> None:
    dao.recount_density_squares(session, current_app.config["DENSITY_CELL_M"])


def _sent(session) -> None:
    from app.services.reports import WITHIN_SECONDS

    config = current_app.config
    settled_s = config["ANALYST_SETTLED_SECONDS"]
    batch = config["ANALYST_SETTLED_BATCH"]
    dao.count_settled_alerts(
        session,
        settled_s=settled_s,
        within_s=WITHIN_SECONDS,
        limit=batch,
        gap_s=config["ANALYST_NOTICE_SECONDS"],
    )
    dao.measure_alert_areas(session, limit=batch)


RECOUNTS: dict[str, Callable] = {
    "density": _density,
    "wards": dao.recount_ward_residents,
    "timeline": timeline_dao.recount_resident_days,
    # Settled alerts' deliveries and areas, a batch a round; the report reads every
    # other alert from the ledger, so it is exact whenever this last ran.
    "sent": _sent,
}


def refreshed_at(name: str) -> datetime | None:
    with read_only():
        return dao.find_refreshed_at(db.session, name)


def refresh(name: str, *, older_than: datetime | None = None) -> datetime:
    """Recount the set now (or, given older_than, only if it was last counted before
    then: someone else may have just done it); when it was counted."""
    recount = RECOUNTS[name]
    with transaction():
        dao.lock_figure(db.session, name)
        counted = dao.find_refreshed_at(db.session, name)
        if older_than is not None and counted is not None and counted >= older_than:
            return counted
        started = time.perf_counter()
        recount(db.session)
        return dao.mark_refreshed(db.session, name, round((time.perf_counter() - started) * 1000))


def fresh(name: str) -> datetime:
    """When the set the page is about to read was counted, recounting it first if it
    is older than ANALYST_MAX_AGE_SECONDS."""
    max_age = timedelta(seconds=current_app.config["ANALYST_MAX_AGE_SECONDS"])
    oldest = datetime.now(UTC) - max_age
    counted = refreshed_at(name)
    if counted is not None and counted > oldest:
        return counted
    return refresh(name, older_than=oldest)


def replica_has(name: str, counted_at: datetime | None) -> Callable:
    """For replica_reads(): whether the replica's session sees the set as counted at
    `counted_at` or later (a recount on the primary reaches a replica a moment after)."""

    def check(session) -> bool:
        if counted_at is None:
            return True
        seen = dao.find_refreshed_at(session, name)
        return seen is not None and seen >= counted_at

    return check


def due() -> list[str]:
    """The sets last counted more than ANALYST_REFRESH_SECONDS ago, or never."""
    every = timedelta(seconds=current_app.config["ANALYST_REFRESH_SECONDS"])
    oldest = datetime.now(UTC) - every
    with read_only():
        counted = dao.find_all_refreshed_at(db.session)
    return [name for name in RECOUNTS if name not in counted or counted[name] <= oldest]


def refresh_due() -> list[str]:
    """Recount every set that is due (the sweeper's round); the names recounted."""
    every = timedelta(seconds=current_app.config["ANALYST_REFRESH_SECONDS"])
    names = due()
    for name in names:
        refresh(name, older_than=datetime.now(UTC) - every)
    return names


def describe_age(counted: datetime) -> str:
    """The line each analyst page prints under its figures: when they were counted
    (UK time) and how often they are recounted."""
    from app.i18n import gettext, when

    minutes = max(1, round(current_app.config["ANALYST_REFRESH_SECONDS"] / 60))
    return gettext(
        "Figures counted %(when)s; they are recounted every %(minutes)s minutes.",
        when=when(counted),
        minutes=minutes,
    )
