"""The analysts' time line: weekly counts of what residents did, alerts sent, and
opt-outs with their times. UK weeks (Europe/London), Monday first. Nothing here
commits; none of it returns anyone's details."""

# The SQL is put together from this module's constants only (a kind is checked against
# EVENT_KINDS first); every value goes in as a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text

from app.extensions import db

TZ = "Europe/London"
# A week in UK time, Monday first, from a timestamp and from a UK date.
_WEEK_OF_AT = f"date_trunc('week', {{col}} AT TIME ZONE '{TZ}')::date"
_WEEK_OF_DAY = "date_trunc('week', {col})::date"
# Start of a UK day as a timestamp (follows the clocks).
_UK_MIDNIGHT = f"(CAST(:{{name}} AS date)::timestamp AT TIME ZONE '{TZ}')"
_SOURCE = "CASE WHEN r.source LIKE 'import:%' THEN 'import' ELSE 'self' END"
_CHANNELS = "ARRAY(SELECT c.channel FROM resident_channels c WHERE c.resident_id = r.id)"
# The forces of a resident's places (migration 0034): whose time lines they are on.
_FORCES = (
    "ARRAY(SELECT DISTINCT l.force_id FROM resident_locations l"
    " WHERE l.resident_id = r.id AND l.force_id IS NOT NULL)"
)
_GROUPS = (
    "ARRAY(SELECT g.slug FROM resident_groups rg JOIN interest_groups g"
    " ON g.id = rg.group_id WHERE rg.resident_id = r.id)"
)
# What each dimension's values are, from a fact's (channels, groups, source). A NULL
# list is "not recorded"; an empty group list is "no group".
_VALUES = {
    "channel": "unnest(CASE WHEN f.channels IS NULL OR cardinality(f.channels) = 0"
    " THEN ARRAY['unknown']::text[] ELSE f.channels::text[] END)",
    "group": "unnest(CASE WHEN f.groups IS NULL THEN ARRAY['unknown']::text[]"
    " WHEN cardinality(f.groups) = 0 THEN ARRAY['none']::text[] ELSE f.groups::text[] END)",
    "source": "coalesce(f.source, 'unknown')",
}
# Kinds read from the residents' own rows (living residents), plus the residents who
# have since left (their deletion event keeps the day).
_LIVE = {
    "registered": ("created_at", "registered_on"),
    "confirmed": ("confirmed_at", "confirmed_on"),
}
LIVE_KINDS = tuple(_LIVE)
EVENT_KINDS = ("unsubscribed", "stopped", "deleted")
LEFT_KINDS = ("deleted", "expired")


def _facts(kind: str) -> str:
    """A query of one row per unsubscribe, STOP or deletion of a resident of
    :force_id in [:start, :end) (UK dates) with its week, channels, groups and source."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return (
        f"SELECT {_WEEK_OF_AT.format(col='e.at')} AS week, e.channels::text[] AS channels,"
        f" e.groups::text[] AS groups, e.source FROM resident_events e"
        f" WHERE e.kind = '{kind}' AND e.at >= {_UK_MIDNIGHT.format(name='start')}"
        f" AND e.at < {_UK_MIDNIGHT.format(name='end')} AND :force_id = ANY(e.forces)"
    )


# Registrations and confirmations are counted ahead per UK day (app/dao/figures.py,
# resident_days); a week is the sum of its days.
_DAYS = (
    "SELECT date_trunc('week', d.day)::date AS week, {value}, sum(d.n)::bigint"
    " FROM resident_days d WHERE d.force_id = :force_id AND d.kind = :kind AND d.dimension = :by"
    " AND d.day >= :start AND d.day < :end GROUP BY 1, 2 ORDER BY 1, 2"
)


def count_weekly(
    kind: str, by: str | None, start: date, end: date, *, force_id: int
) -> list[tuple]:
    """(week Monday, value, count) for one kind of fact of one force's residents in the
    UK weeks from `start` (a Monday) up to `end` (the Monday after the last). value
    None: the week's total; else a value of `by` (channel, group or source; a fact with
    two channels counts once under each). Registrations and confirmations as last
    counted."""
    params = {"start": start, "end": end, "kind": kind, "force_id": force_id}
    if kind in _LIVE:
        total = db.session.execute(text(_DAYS.format(value="NULL")), params | {"by": ""}).all()
        if by is None:
            return [tuple(row) for row in total]
        parts = db.session.execute(text(_DAYS.format(value="d.value")), params | {"by": by})
        return [tuple(row) for row in total] + [tuple(row) for row in parts.all()]
    facts = _facts(kind)
    total = db.session.execute(
        text(f"SELECT f.week, NULL, count(*) FROM ({facts}) f GROUP BY 1 ORDER BY 1"), params
    ).all()
    if by is None:
        return [tuple(row) for row in total]
    parts = db.session.execute(
        text(
            f"SELECT f.week, v.value, count(*) FROM ({facts}) f,"
            f" LATERAL (SELECT {_VALUES[by]} AS value) v GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        params,
    ).all()
    return [tuple(row) for row in total] + [tuple(row) for row in parts]


# What resident_days holds: each living resident's registration and first
# confirmation (with their channels, groups and source now), and those of the
# residents who have left (their leaving event keeps the days, channels, groups and
# source), per UK day, in total and per value of each dimension.
_RESIDENT_DAYS = f"""
INSERT INTO resident_days (force_id, kind, dimension, value, day, n)
WITH living AS (
    SELECT (r.created_at AT TIME ZONE '{TZ}')::date AS registered_on,
           (r.confirmed_at AT TIME ZONE '{TZ}')::date AS confirmed_on,
           coalesce(c.channels, ARRAY[]::text[]) AS channels,
           coalesce(g.groups, ARRAY[]::text[]) AS groups,
           {_SOURCE} AS source,
           {_FORCES} AS forces
    FROM residents r
    LEFT JOIN (SELECT resident_id, array_agg(channel::text) AS channels
               FROM resident_channels GROUP BY resident_id) c ON c.resident_id = r.id
    LEFT JOIN (SELECT rg.resident_id, array_agg(g.slug::text) AS groups
               FROM resident_groups rg JOIN interest_groups g ON g.id = rg.group_id
               GROUP BY rg.resident_id) g ON g.resident_id = r.id
), everyone AS (
    SELECT registered_on, confirmed_on, channels, groups, source, forces FROM living
    UNION ALL
    SELECT e.registered_on, e.confirmed_on, e.channels::text[], e.groups::text[], e.source,
           e.forces
    FROM resident_events e WHERE e.kind IN {LEFT_KINDS!r}
), f AS MATERIALIZED (
    SELECT force_id, 'registered' AS kind, registered_on AS day, channels, groups, source
    FROM everyone, unnest(forces) AS force_id WHERE registered_on IS NOT NULL
    UNION ALL
    SELECT force_id, 'confirmed', confirmed_on, channels, groups, source
    FROM everyone, unnest(forces) AS force_id WHERE confirmed_on IS NOT NULL
)
SELECT force_id, kind, '', '', day, count(*) FROM f GROUP BY force_id, kind, day
UNION ALL
SELECT f.force_id, f.kind, 'channel', v.value, f.day, count(*)
FROM f, LATERAL (SELECT {_VALUES["channel"]} AS value) v GROUP BY 1, 2, 4, 5
UNION ALL
SELECT f.force_id, f.kind, 'group', v.value, f.day, count(*)
FROM f, LATERAL (SELECT {_VALUES["group"]} AS value) v GROUP BY 1, 2, 4, 5
UNION ALL
SELECT f.force_id, f.kind, 'source', v.value, f.day, count(*)
FROM f, LATERAL (SELECT {_VALUES["source"]} AS value) v GROUP BY 1, 2, 4, 5
"""


def recount_resident_days(session) -> None:
    session.execute(text("DELETE FROM resident_days"))
    session.execute(text(_RESIDENT_DAYS))


def find_interest_groups() -> list[tuple[str, str, str | None]]:
    """(slug, name, Welsh name) of every group, by name."""
    return [
        tuple(row)
        for row in db.session.execute(
            text("SELECT slug, name, name_cy FROM interest_groups ORDER BY name")
        )
    ]


def find_alerts_sent(start: date, end: date, *, force_id: int) -> list[tuple]:
    """(reference, category, sent_at, title) of a force's live alerts to residents that
    went in the UK days [start, end) (sent, still sending, or cancelled after they
    went): not exercises, not an officer's test to themselves."""
    return [
        tuple(row)
        for row in db.session.execute(
            text(
                "SELECT a.reference, a.category, a.sent_at, a.title FROM alerts a"
                # Every alert that went, whatever became of it since: one cancelled
                # after six calls, or still redialling, was missing (an outside check).
                " WHERE a.status IN ('sending', 'sent', 'cancelled') AND a.sent_at IS NOT NULL"
                " AND a.mode = 'live' AND a.audience <> 'self'"
                " AND a.force_id = :force_id"
                f" AND a.sent_at >= {_UK_MIDNIGHT.format(name='start')}"
                f" AND a.sent_at < {_UK_MIDNIGHT.format(name='end')} ORDER BY a.sent_at"
            ),
            {"start": start, "end": end, "force_id": force_id},
        )
    ]


def find_opt_out_times(since: datetime, until: datetime, *, force_id: int) -> list[datetime]:
    """When each unsubscribe and STOP of a force's residents happened in [since, until)."""
    return list(
        db.session.scalars(
            text(
                "SELECT e.at FROM resident_events e"
                " WHERE e.kind IN ('unsubscribed', 'stopped') AND e.at >= :since"
                " AND e.at < :until AND :force_id = ANY(e.forces) ORDER BY e.at"
            ),
            {"since": since, "until": until, "force_id": force_id},
        )
    )


def uk_midnight(day: date) -> datetime:
    """The moment a UK day starts, as the database reckons it."""
    return db.session.scalar(text(f"SELECT {_UK_MIDNIGHT.format(name='day')}"), {"day": day})


# --- recording ----------------------------------------------------------------------


def create_channel_events(kind: str, resident_id: int, channel: str) -> None:
    """An unsubscribe from one channel of one resident."""
    db.session.execute(
        text(
            f"INSERT INTO resident_events (kind, channels, groups, source, forces)"
            f" SELECT :kind, ARRAY[:channel], {_GROUPS}, {_SOURCE}, {_FORCES}"
            f" FROM residents r WHERE r.id = :r"
        ),
        {"kind": kind, "channel": channel, "r": resident_id},
    )


def create_stop_events(number: str) -> int:
    """A STOP from `number`: one event for each resident whose SMS channel on it was
    stopped in this transaction (unsubscribed_at is the transaction's now())."""
    return db.session.execute(
        text(
            f"INSERT INTO resident_events (kind, channels, groups, source, forces)"
            f" SELECT 'stopped', ARRAY['sms'], {_GROUPS}, {_SOURCE}, {_FORCES}"
            f" FROM resident_channels c JOIN residents r ON r.id = c.resident_id"
            f" WHERE c.channel = 'sms' AND c.address = :number AND c.unsubscribed_at = now()"
        ),
        {"number": number},
    ).rowcount


def create_leaving_events(kind: str, resident_ids: list[int]) -> None:
    """Residents about to be removed (deleted at their request, or expired unconfirmed):
    their channels, groups, source and the UK days they signed up and confirmed."""
    if not resident_ids:
        return
    db.session.execute(
        text(
            f"INSERT INTO resident_events"
            f" (kind, channels, groups, source, registered_on, confirmed_on, forces)"
            f" SELECT :kind, {_CHANNELS}, {_GROUPS}, {_SOURCE},"
            f" (r.created_at AT TIME ZONE '{TZ}')::date,"
            f" (r.confirmed_at AT TIME ZONE '{TZ}')::date, {_FORCES}"
            f" FROM residents r WHERE r.id = ANY(:ids)"
        ),
        {"kind": kind, "ids": list(resident_ids)},
    )
