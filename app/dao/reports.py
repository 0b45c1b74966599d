"""The sent report's queries: alerts released in a period and their messages, read
from the delivery ledger. Reads only; nothing here commits.

Every query starts from the alerts released in the period (alerts.sent_at, a small
table). A settled alert's deliveries were counted once (app/dao/figures.py:
alert_delivery_totals, kept in step with the ledger by migration 0029's triggers);
any other alert's are read from the ledger by alert id, which
ix_deliveries_alert_id_status serves. Each returns rows already grouped (per alert,
channel and status), so what crosses to Python is small however many messages there
were.
"""

# Only this module's constant fragments are put into the SQL; values are bound.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from app.dao.figures import ARRIVED, RELEASED, WARD_SHARE_INSIDE

# Alerts that count: released in the period (sent_at is set when the deliveries are
# written, at once or when a scheduled alert's time comes), not an officer's test to
# themselves (audience "self", mode "test"; lifecycle.is_test says the same).
_IN_PERIOD = """
    a.sent_at >= :start AND a.sent_at < :end AND a.force_id = :force_id
    AND a.audience <> 'self' AND a.mode <> 'test'
"""

# When a message arrived, as far as the ledger knows: a text or call the provider
# reported delivered (finished_at); an e-mail the mail server accepted (SMTP gives no
# receipt, so "sent" is as far as an e-mail goes). NULL: not (yet) arrived.
_ARRIVED = ARRIVED

# The alert's deliveries were counted, and nothing changed since (the count is made
# with the report's speed mark; see figures.count_settled_alerts).
_COUNTED = """EXISTS (
    SELECT 1 FROM alert_figures f WHERE f.alert_id = a.id AND f.deliveries_at IS NOT NULL)"""


# The alert's area was measured against the wards since boundaries were last loaded.
_MEASURED = "f.wards_at >= (SELECT coalesce(max(loaded_at), '-infinity') FROM data_loads)"


@dataclass(frozen=True)
class SentAlertRow:
    id: int
    reference: str
    title: str
    category: str
    mode: str
    status: str
    sent_at: datetime
    recipient_count: int | None
    has_area: bool
    # Residents of other forces it reached with their approval (cross-border), in
    # recipient_count: theirs, not in this force's wards' population.
    others_residents: int = 0
    # A cancelled alert's own residents sent a message before it was cancelled (its
    # recipient_count is those it was for: an outside check read 618 messaged of an
    # alert cancelled after 64 e-mails); or, of an alert some of whose messages were
    # stopped (by its all-clear, a resident's STOP), those sent one (an incident its
    # all-clear stopped whole read 233 messaged: another). None for any other alert.
    reached_before_cancel: int | None = None
    # Its Welsh title, when it was written in both languages (Welsh pages show it).
    title_cy: str | None = None
    # How many of its own residents' messages were stopped before they went.
    cancelled_messages: int = 0


@dataclass(frozen=True)
class MessageKindRow:
    """The period's messages on one channel, in one status, of one mode of alert."""

    channel: str
    status: str
    mode: str
    messages: int
    segments: int  # text parts the provider reported
    billed_minutes: int  # each call rounded up to the whole minute
    within: int  # arrived within `within_s` of their alert's release


@dataclass(frozen=True)
class AlertMessagesRow:
    """One alert's messages, and when its last one arrived."""

    alert_id: int
    messages: int
    last_arrived_s: float | None  # seconds from release to the last arrival


def find_sent_alerts(
    session, start: datetime, end: datetime, *, force_id: int
) -> list[SentAlertRow]:
    """A force's alerts released in [start, end), oldest first, tests left out. (Each
    query of the report is of one force's alerts: _IN_PERIOD.)"""
    rows = session.execute(
        text(
            f"""
            SELECT a.id, a.reference, a.title, a.category, a.mode, a.status, a.sent_at,
                   a.recipient_count, a.area IS NOT NULL,
                   CASE WHEN a.audience = 'parent' THEN (
                       -- A follow-up to the same people reaches the neighbours' residents
                       -- its thread's approval added, with no approval of its own.
                       SELECT count(DISTINCT coalesce(d.resident_id::text, 'row ' || d.id))
                       FROM deliveries d
                       WHERE d.alert_id = a.id AND d.alert_created_at = a.created_at
                         AND d.via_force_id IS NOT NULL AND d.via_force_id <> a.force_id)
                   ELSE coalesce((SELECT sum(f.residents) FROM alert_forces f
                                  WHERE f.alert_id = a.id AND f.status = 'approved'), 0)
                   END::int,
                   CASE WHEN a.status = 'cancelled' OR stopped.n > 0 THEN (
                       -- A row pseudonymised by retention has no resident: one each.
                       SELECT count(DISTINCT coalesce(d.resident_id::text, 'row ' || d.id))
                       FROM deliveries d
                       WHERE d.alert_id = a.id AND d.alert_created_at = a.created_at
                         AND d.status <> 'cancelled' AND d.via_force_id IS NULL)::int
                   END,
                   a.title_cy,
                   stopped.n
            FROM alerts a
            CROSS JOIN LATERAL (
                SELECT count(*)::int AS n FROM deliveries d
                WHERE d.alert_id = a.id AND d.alert_created_at = a.created_at
                  AND d.status = 'cancelled' AND d.via_force_id IS NULL) stopped
            WHERE {_IN_PERIOD}
            ORDER BY a.sent_at, a.id
            """
        ),
        {"start": start, "end": end, "force_id": force_id},
    ).all()
    return [SentAlertRow(*row) for row in rows]


@dataclass(frozen=True)
class OtherForcesAlertRow:
    """Another force's alert this force approved, sent to its residents in the period."""

    id: int
    reference: str
    title: str
    category: str
    mode: str
    from_force_id: int
    sent_at: datetime  # when this force's residents were sent it (release or approval)
    residents: int


def find_approved_from_other_forces(
    session, start: datetime, end: datetime, *, force_id: int
) -> list[OtherForcesAlertRow]:
    """Other forces' alerts this force approved (cross-border) whose part for its
    residents went in [start, end), and their follow-ups to the same people that
    reached its residents, released in [start, end), oldest first, tests left out.
    (The follow-ups were in no report of the force whose residents had them: an
    outside check.)"""
    rows = session.execute(
        text(
            """
            SELECT a.id, a.reference, a.title, a.category, a.mode, a.force_id, f.sent_at,
                   coalesce(f.residents, 0)
            FROM alert_forces f JOIN alerts a ON a.id = f.alert_id
            WHERE f.force_id = :force_id AND f.status = 'approved'
              AND f.sent_at >= :start AND f.sent_at < :end
              AND a.audience <> 'self' AND a.mode <> 'test'
            UNION ALL
            SELECT a.id, a.reference, a.title, a.category, a.mode, a.force_id, a.sent_at,
                   (SELECT count(DISTINCT d.resident_id) FROM deliveries d
                    WHERE d.alert_id = a.id AND d.via_force_id = :force_id)
            FROM alerts a JOIN alert_forces f
              ON f.alert_id = a.parent_id AND f.force_id = :force_id AND f.status = 'approved'
            WHERE a.audience = 'parent' AND a.mode <> 'test'
              AND a.sent_at >= :start AND a.sent_at < :end
              AND EXISTS (SELECT FROM deliveries d
                          WHERE d.alert_id = a.id AND d.via_force_id = :force_id)
            ORDER BY 7, 1
            """
        ),
        {"start": start, "end": end, "force_id": force_id},
    ).all()
    return [OtherForcesAlertRow(*row) for row in rows]


def find_last_release_after(session, after: datetime, *, force_id: int) -> datetime | None:
    """When the force's latest alert released after `after` went (tests left out)."""
    return session.execute(
        text(
            "SELECT max(sent_at) FROM alerts WHERE sent_at >= :after AND force_id = :force_id"
            " AND audience <> 'self' AND mode <> 'test'"
        ),
        {"after": after, "force_id": force_id},
    ).scalar()


def count_messages(
    session,
    start: datetime,
    end: datetime,
    *,
    within_s: float,
    force_id: int,
    min_messages: int = 0,
) -> tuple[list[MessageKindRow], list[AlertMessagesRow]]:
    """The messages of the period's alerts, counted two ways in one pass: by channel,
    status and the alert's mode (with the text parts, billed call minutes and how many
    arrived within `within_s` seconds of their alert's release), of the alerts with at
    least `min_messages` messages; and by alert, every one (with when its last one
    arrived)."""
    rows = session.execute(
        text(
            f"""
            WITH g AS MATERIALIZED (
                SELECT t.alert_id, a.mode, t.channel, t.status, t.messages, t.segments,
                       t.billed_minutes, t.within, t.last_arrived_s
                FROM alerts a
                JOIN alert_delivery_totals t ON t.alert_id = a.id
                WHERE {_IN_PERIOD} AND {_COUNTED}
                UNION ALL
                SELECT d.alert_id, a.mode, d.channel, d.status, count(*),
                       coalesce(sum(d.segments), 0),
                       coalesce(sum(ceil(d.duration_seconds / 60.0)), 0),
                       count(*) FILTER (
                           WHERE t.arrived <= {RELEASED} + make_interval(secs => :within)),
                       extract(epoch FROM max(t.arrived - {RELEASED}))
                FROM alerts a
                JOIN deliveries d ON d.alert_id = a.id
                CROSS JOIN LATERAL (SELECT {_ARRIVED} AS arrived) t
                WHERE {_IN_PERIOD} AND NOT {_COUNTED}
                GROUP BY d.alert_id, a.mode, a.sent_at, d.channel, d.status
            ), counted AS (
                SELECT alert_id FROM g GROUP BY alert_id HAVING sum(messages) >= :least
            )
            SELECT 1, NULL, channel, status, mode, sum(messages)::bigint,
                   sum(segments)::bigint, sum(billed_minutes)::bigint, sum(within)::bigint,
                   NULL::float8
            FROM g WHERE alert_id IN (SELECT alert_id FROM counted)
            GROUP BY channel, status, mode
            UNION ALL
            SELECT 0, alert_id, NULL, NULL, NULL, sum(messages)::bigint, 0, 0, 0,
                   max(last_arrived_s)::float8
            FROM g GROUP BY alert_id
            """
        ),
        {
            "start": start,
            "end": end,
            "within": within_s,
            "force_id": force_id,
            "least": min_messages,
        },
    ).all()
    kinds, alerts = [], []
    for by_kind, alert_id, channel, status, mode, n, segments, minutes, within, last in rows:
        if by_kind:
            kinds.append(
                MessageKindRow(
                    channel, status, mode, int(n), int(segments), int(minutes), int(within)
                )
            )
        else:
            alerts.append(AlertMessagesRow(alert_id, int(n), last))
    return kinds, alerts


def count_failure_reasons(
    session,
    start: datetime,
    end: datetime,
    *,
    within_s: float,
    force_id: int,
    leaving_out: Sequence[int] = (),
) -> list[tuple[str, str, int]]:
    """(channel, reason as the ledger has it, messages) for the failed messages of the
    period's alerts, but those `leaving_out`."""
    rows = session.execute(
        text(
            f"""
            SELECT channel, reason, sum(n) FROM (
                SELECT t.channel, t.reason, t.messages AS n
                FROM alerts a
                JOIN alert_delivery_totals t ON t.alert_id = a.id AND t.status = 'failed'
                WHERE {_IN_PERIOD} AND {_COUNTED} AND a.id <> ALL(:leaving_out)
                UNION ALL
                SELECT d.channel, coalesce(d.reason, ''), 1
                FROM alerts a
                JOIN deliveries d ON d.alert_id = a.id AND d.status = 'failed'
                WHERE {_IN_PERIOD} AND NOT {_COUNTED} AND a.id <> ALL(:leaving_out)
            ) x
            GROUP BY channel, reason
            """
        ),
        {
            "start": start,
            "end": end,
            "within": within_s,
            "force_id": force_id,
            "leaving_out": list(leaving_out),
        },
    ).all()
    return [(channel, reason, int(n)) for channel, reason, n in rows]


@dataclass(frozen=True)
class AreaPopulationRow:
    """The adults in an alert's area: each ward it overlaps weighted by the share of
    the ward's area inside it."""

    alert_id: int
    adults: float | None  # None: a ward it overlaps has no population figure
    missing: tuple[str, ...]  # those wards' codes, first three
    covered: float  # share of the alert's area inside the wards, 0..1


def find_area_population(
    session,
    start: datetime,
    end: datetime,
    year: int | None,
    alert_ids: list[int],
    *,
    force_id: int,
) -> list[AreaPopulationRow]:
    """For each alert of the period with an area that overlaps a ward (newest boundary
    of each code): the adults in `year`'s estimates living in it, each ward's people
    spread over its live postcodes (figures.WARD_SHARE_INSIDE). Settled alerts'
    overlaps were measured once (alert_area_wards); the others' are measured here, with
    the places' spatial index."""
    rows = session.execute(
        text(
            f"""
            WITH overlapping AS (
                SELECT a.id AS alert_id, aw.ward_code, aw.share_inside, wp.adults,
                       aw.inside_m2, aw.alert_area_m2
                FROM alerts a
                JOIN alert_figures f ON f.alert_id = a.id AND {_MEASURED}
                JOIN alert_area_wards aw ON aw.alert_id = a.id
                LEFT JOIN ward_population wp ON wp.ward_code = aw.ward_code AND wp.year = :year
                WHERE {_IN_PERIOD} AND a.area IS NOT NULL AND a.id = ANY(:ids)
                UNION ALL
                SELECT a.id, w.code,
                       {WARD_SHARE_INSIDE},
                       wp.adults,
                       ST_Area(ST_Intersection(w.boundary, a.area)),
                       ST_Area(a.area)
                FROM alerts a
                JOIN places w ON w.kind = 'ward' AND ST_Intersects(w.boundary, a.area)
                LEFT JOIN ward_population wp ON wp.ward_code = w.code AND wp.year = :year
                WHERE {_IN_PERIOD} AND a.area IS NOT NULL AND a.id = ANY(:ids)
                  AND NOT EXISTS (SELECT 1 FROM alert_figures f
                                  WHERE f.alert_id = a.id AND {_MEASURED})
                  AND NOT EXISTS (SELECT 1 FROM places n WHERE n.kind = 'ward'
                                  AND n.code = w.code AND n.release > w.release)
            )
            SELECT alert_id,
                   CASE WHEN bool_or(adults IS NULL) THEN NULL
                        ELSE sum(adults * coalesce(share_inside, 0)) END,
                   (array_agg(ward_code ORDER BY ward_code)
                        FILTER (WHERE adults IS NULL))[1:3],
                   CASE WHEN max(alert_area_m2) > 0
                        THEN least(1.0, sum(coalesce(inside_m2, 0)) / max(alert_area_m2))
                        ELSE 0 END
            FROM overlapping
            GROUP BY alert_id
            """
        ),
        {"start": start, "end": end, "year": year, "ids": alert_ids, "force_id": force_id},
    ).all()
    return [
        AreaPopulationRow(
            alert_id,
            None if adults is None else float(adults),
            tuple(missing or ()),
            float(covered or 0.0),
        )
        for alert_id, adults, missing, covered in rows
    ]


def find_population_edition(session) -> tuple[int | None, dict]:
    """The newest year of ward population estimates and its load's summary (the
    description and attribution to show), or (None, {}) when none is loaded."""
    row = session.execute(
        text(
            """
            SELECT wp.year, dl.summary
            FROM ward_population wp JOIN data_loads dl ON dl.id = wp.data_load_id
            ORDER BY wp.year DESC LIMIT 1
            """
        )
    ).first()
    if row is None:
        return None, {}
    return int(row[0]), dict(row[1] or {})
