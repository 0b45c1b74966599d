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
EVENT_KINDS = ("unsubscribed", "stopped", "deleted")
LEFT_KINDS = ("deleted", "expired")


def _facts(kind: str, by: str | None) -> str:
    """A query of one row per fact in [:start, :end) (UK dates) with its week and what
    the dimension `by` needs."""
    need_channels = by == "channel"
    need_groups = by == "group"
    need_source = by == "source"
    if kind in _LIVE:
        column, day = _LIVE[kind]
        week = _WEEK_OF_AT.format(col=f"r.{column}")
        live = (
            f"SELECT {week} AS week,"
            f" {_CHANNELS if need_channels else 'NULL::text[]'} AS channels,"
            f" {_GROUPS if need_groups else 'NULL::text[]'} AS groups,"
            f" {_SOURCE if need_source else 'NULL'} AS source"
            f" FROM residents r WHERE r.{column} >= {_UK_MIDNIGHT.format(name='start')}"
            f" AND r.{column} < {_UK_MIDNIGHT.format(name='end')}"
        )
        left = (
            f"SELECT {_WEEK_OF_DAY.format(col='e.' + day)} AS week, e.channels::text[],"
            f" e.groups::text[], e.source FROM resident_events e"
            f" WHERE e.kind IN {LEFT_KINDS!r} AND e.{day} >= :start AND e.{day} < :end"
        )
        return f"{live} UNION ALL {left}"
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return (
        f"SELECT {_WEEK_OF_AT.format(col='e.at')} AS week, e.channels::text[] AS channels,"
        f" e.groups::text[] AS groups, e.source FROM resident_events e"
        f" WHERE e.kind = '{kind}' AND e.at >= {_UK_MIDNIGHT.format(name='start')}"
        f" AND e.at < {_UK_MIDNIGHT.format(name='end')}"
    )


def count_weekly(kind: str, by: str | None, start: date, end: date) -> list[tuple]:
    """(week Monday, value, count) for one kind of fact in the UK weeks from `start`
    (a Monday) up to `end` (the Monday after the last). value None: the week's total;
    else a value of `by` (channel, group or source; a fact with two channels counts
    once under each)."""
    facts = _facts(kind, by)
    params = {"start": start, "end": end}
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


def find_interest_groups() -> list[tuple[str, str]]:
    """(slug, name) of every group, by name."""
    return [
        tuple(row)
        for row in db.session.execute(text("SELECT slug, name FROM interest_groups ORDER BY name"))
    ]


def find_alerts_sent(start: date, end: date) -> list[tuple]:
    """(reference, category, sent_at, title) of live alerts to residents sent in the
    UK days [start, end): not exercises, not an officer's test to themselves."""
    return [
        tuple(row)
        for row in db.session.execute(
            text(
                "SELECT a.reference, a.category, a.sent_at, a.title FROM alerts a"
                " WHERE a.status = 'sent' AND a.mode = 'live' AND a.audience <> 'self'"
                f" AND a.sent_at >= {_UK_MIDNIGHT.format(name='start')}"
                f" AND a.sent_at < {_UK_MIDNIGHT.format(name='end')} ORDER BY a.sent_at"
            ),
            {"start": start, "end": end},
        )
    ]


def find_opt_out_times(since: datetime, until: datetime) -> list[datetime]:
    """When each unsubscribe and STOP happened in [since, until)."""
    return list(
        db.session.scalars(
            text(
                "SELECT e.at FROM resident_events e"
                " WHERE e.kind IN ('unsubscribed', 'stopped') AND e.at >= :since"
                " AND e.at < :until ORDER BY e.at"
            ),
            {"since": since, "until": until},
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
            f"INSERT INTO resident_events (kind, channels, groups, source)"
            f" SELECT :kind, ARRAY[:channel], {_GROUPS}, {_SOURCE}"
            f" FROM residents r WHERE r.id = :r"
        ),
        {"kind": kind, "channel": channel, "r": resident_id},
    )


def create_stop_events(number: str) -> int:
    """A STOP from `number`: one event for each resident whose SMS channel on it was
    stopped in this transaction (unsubscribed_at is the transaction's now())."""
    return db.session.execute(
        text(
            f"INSERT INTO resident_events (kind, channels, groups, source)"
            f" SELECT 'stopped', ARRAY['sms'], {_GROUPS}, {_SOURCE}"
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
            f" (kind, channels, groups, source, registered_on, confirmed_on)"
            f" SELECT :kind, {_CHANNELS}, {_GROUPS}, {_SOURCE},"
            f" (r.created_at AT TIME ZONE '{TZ}')::date,"
            f" (r.confirmed_at AT TIME ZONE '{TZ}')::date"
            f" FROM residents r WHERE r.id = ANY(:ids)"
        ),
        {"kind": kind, "ids": list(resident_ids)},
    )
