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

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from app.dao.figures import ARRIVED

# Alerts that count: released in the period (sent_at is set when the deliveries are
# written, at once or when a scheduled alert's time comes), not an officer's test to
# themselves (audience "self", mode "test"; lifecycle.is_test says the same).
_IN_PERIOD = """
    a.sent_at >= :start AND a.sent_at < :end
    AND a.audience <> 'self' AND a.mode <> 'test'
"""

# When a message arrived, as far as the ledger knows: a text or call the provider
# reported delivered (finished_at); an e-mail the mail server accepted (SMTP gives no
# receipt, so "sent" is as far as an e-mail goes). NULL: not (yet) arrived.
_ARRIVED = ARRIVED

# The alert's deliveries were counted (and nothing changed since), with the same speed
# mark the report asks for.
_COUNTED = """EXISTS (
    SELECT 1 FROM alert_figures f WHERE f.alert_id = a.id AND f.deliveries_at IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM alert_delivery_totals x
                    WHERE x.alert_id = a.id AND x.within_s <> :within))"""


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


@dataclass(frozen=True)
class MessageGroupRow:
    """One alert's messages on one channel in one status."""

    alert_id: int
    channel: str
    status: str
    messages: int
    segments: int  # text parts the provider reported
    billed_minutes: int  # each call rounded up to the whole minute
    within: int  # arrived within `within_s` of the alert's release
    last_arrived_s: float | None  # seconds from release to the last arrival


def find_sent_alerts(session, start: datetime, end: datetime) -> list[SentAlertRow]:
    """Alerts released in [start, end), oldest first, tests left out."""
    rows = session.execute(
        text(
            f"""
            SELECT a.id, a.reference, a.title, a.category, a.mode, a.status, a.sent_at,
                   a.recipient_count, a.area IS NOT NULL
            FROM alerts a
            WHERE {_IN_PERIOD}
            ORDER BY a.sent_at, a.id
            """
        ),
        {"start": start, "end": end},
    ).all()
    return [SentAlertRow(*row) for row in rows]


def count_messages(
    session, start: datetime, end: datetime, *, within_s: float
) -> list[MessageGroupRow]:
    """The messages of the period's alerts grouped by alert, channel and status, with
    the text parts, billed call minutes, how many arrived within `within_s` seconds of
    the alert's release, and when the last one arrived."""
    rows = session.execute(
        text(
            f"""
            SELECT t.alert_id, t.channel, t.status, sum(t.messages), sum(t.segments),
                   sum(t.billed_minutes), sum(t.within), max(t.last_arrived_s)
            FROM alerts a
            JOIN alert_delivery_totals t ON t.alert_id = a.id
            WHERE {_IN_PERIOD} AND {_COUNTED}
            GROUP BY t.alert_id, t.channel, t.status
            UNION ALL
            SELECT d.alert_id, d.channel, d.status, count(*),
                   coalesce(sum(d.segments), 0),
                   coalesce(sum(ceil(d.duration_seconds / 60.0)), 0),
                   count(*) FILTER (
                       WHERE t.arrived <= a.sent_at + make_interval(secs => :within)),
                   extract(epoch FROM max(t.arrived) - a.sent_at)
            FROM alerts a
            JOIN deliveries d ON d.alert_id = a.id
            CROSS JOIN LATERAL (SELECT {_ARRIVED} AS arrived) t
            WHERE {_IN_PERIOD} AND NOT {_COUNTED}
            GROUP BY d.alert_id, a.sent_at, d.channel, d.status
            """
        ),
        {"start": start, "end": end, "within": within_s},
    ).all()
    return [
        MessageGroupRow(
            alert_id=alert_id,
            channel=channel,
            status=status,
            messages=int(messages),
            segments=int(segments),
            billed_minutes=int(minutes),
            within=int(within),
            last_arrived_s=None if last is None else float(last),
        )
        for alert_id, channel, status, messages, segments, minutes, within, last in rows
    ]


def count_failure_reasons(
    session, start: datetime, end: datetime, *, within_s: float
) -> list[tuple[str, str, int]]:
    """(channel, reason as the ledger has it, messages) for the failed messages of the
    period's alerts."""
    rows = session.execute(
        text(
            f"""
            SELECT channel, reason, sum(n) FROM (
                SELECT t.channel, t.reason, t.messages AS n
                FROM alerts a
                JOIN alert_delivery_totals t ON t.alert_id = a.id AND t.status = 'failed'
                WHERE {_IN_PERIOD} AND {_COUNTED}
                UNION ALL
                SELECT d.channel, coalesce(d.reason, ''), 1
                FROM alerts a
                JOIN deliveries d ON d.alert_id = a.id AND d.status = 'failed'
                WHERE {_IN_PERIOD} AND NOT {_COUNTED}
            ) x
            GROUP BY channel, reason
            """
        ),
        {"start": start, "end": end, "within": within_s},
    ).all()
    return [(channel, reason, int(n)) for channel, reason, n in rows]


@dataclass(frozen=True)
class AreaWard:
    """A ward an alert's area overlaps, and how much of the ward is inside it."""

    alert_id: int
    ward_code: str
    share_inside: float  # of the ward's area, 0..1
    adults: int | None  # None: no population figure for this ward code
    inside_m2: float
    alert_area_m2: float


def find_area_wards(session, start: datetime, end: datetime, year: int | None) -> list[AreaWard]:
    """For each alert of the period with an area, the wards (newest boundary of each
    code) it overlaps, with the share of each ward's area inside the alert's area and
    the ward's adults in `year`'s estimates. The overlap test uses the places' spatial
    index; the intersections are measured for those wards only."""
    rows = session.execute(
        text(
            f"""
            SELECT a.id, aw.ward_code, aw.share_inside, wp.adults, aw.inside_m2,
                   aw.alert_area_m2
            FROM alerts a
            JOIN alert_figures f ON f.alert_id = a.id AND {_MEASURED}
            JOIN alert_area_wards aw ON aw.alert_id = a.id
            LEFT JOIN ward_population wp ON wp.ward_code = aw.ward_code AND wp.year = :year
            WHERE {_IN_PERIOD} AND a.area IS NOT NULL
            UNION ALL
            SELECT a.id, w.code,
                   ST_Area(ST_Intersection(w.boundary, a.area))
                       / NULLIF(ST_Area(w.boundary), 0),
                   wp.adults,
                   ST_Area(ST_Intersection(w.boundary, a.area)),
                   ST_Area(a.area)
            FROM alerts a
            JOIN places w ON w.kind = 'ward' AND ST_Intersects(w.boundary, a.area)
            LEFT JOIN ward_population wp ON wp.ward_code = w.code AND wp.year = :year
            WHERE {_IN_PERIOD} AND a.area IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM alert_figures f
                              WHERE f.alert_id = a.id AND {_MEASURED})
              AND NOT EXISTS (SELECT 1 FROM places n WHERE n.kind = 'ward'
                              AND n.code = w.code AND n.release > w.release)
            ORDER BY 1, 2
            """
        ),
        {"start": start, "end": end, "year": year},
    ).all()
    return [
        AreaWard(
            alert_id=alert_id,
            ward_code=code,
            share_inside=float(share or 0.0),
            adults=adults,
            inside_m2=float(inside or 0.0),
            alert_area_m2=float(whole or 0.0),
        )
        for alert_id, code, share, adults, inside, whole in rows
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
