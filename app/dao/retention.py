"""What the retention rules remove or blank, table by table (services/residents.py
`purge_expired` decides when). Never commits; the delete_ functions that report say how
many rows went."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text


def delete_old_recordings(session, *, days: int) -> None:
    """Officers' recordings (their voices) older than `days`, unless an alert still
    waiting to go needs one; alerts that used one lose the link."""
    session.execute(
        text(
            """
            WITH old AS (
                SELECT id FROM alert_recordings
                WHERE created_at < now() - make_interval(days => :days)
                  AND id NOT IN (SELECT recording_id FROM alerts WHERE recording_id IS NOT NULL
                                 AND status IN ('draft', 'pending_approval', 'scheduled',
                                                'sending'))
            ), unlinked AS (
                UPDATE alerts SET recording_id = NULL WHERE recording_id IN (SELECT id FROM old)
            )
            DELETE FROM alert_recordings WHERE id IN (SELECT id FROM old)
            """
        ),
        {"days": days},
    )


def update_unimported_lists_to_drop_content(session) -> None:
    """An uploaded list that was checked but not imported within a day is not kept."""
    session.execute(
        text(
            "UPDATE resident_imports SET content = NULL WHERE content IS NOT NULL "
            "AND created_at < now() - interval '1 day'"
        )
    )


# A reason of an older report that quoted the row's postcode ("postcode not in the
# postcode data: BS1 6AD"): the part after the colon goes with the values.
_QUOTING_REASON = (
    r"^(postcode (not in the postcode data|no longer in use[^:]*"
    r"|has no location in the postcode data|not valid)): .*$"
)


def update_old_import_reports_to_drop_values(session, *, days: int) -> int:
    """An import's rejected rows older than `days` keep their row numbers and reasons,
    not their values (nor a value a reason quoted)."""
    return session.execute(
        text(
            """
            UPDATE resident_imports SET report = jsonb_set(
                report, '{rejected}',
                (SELECT coalesce(jsonb_agg(
                    CASE WHEN jsonb_typeof(r->'reasons') = 'array' THEN
                        (r - 'values') || jsonb_build_object('reasons',
                            (SELECT coalesce(jsonb_agg(
                                CASE WHEN jsonb_typeof(reason) = 'string' THEN
                                    to_jsonb(regexp_replace(reason #>> '{}', :quoting, '\\1'))
                                ELSE reason END ORDER BY m), '[]')
                             FROM jsonb_array_elements(r->'reasons')
                                  WITH ORDINALITY AS x(reason, m)))
                    ELSE r - 'values' END ORDER BY n), '[]'::jsonb)
                 FROM jsonb_array_elements(report->'rejected') WITH ORDINALITY AS e(r, n))
            ) || '{"values_dropped": true}'::jsonb
            WHERE created_at < now() - make_interval(days => :days)
              AND jsonb_typeof(report->'rejected') = 'array'
              AND NOT report ? 'values_dropped'
            """
        ),
        {"days": days, "quoting": _QUOTING_REASON},
    ).rowcount


def delete_old_notices(session) -> int:
    """Notices (codes, links) older than 30 days."""
    return session.execute(
        text("DELETE FROM resident_notices WHERE created_at < now() - interval '30 days'")
    ).rowcount


def update_sent_notices_to_drop_body(session) -> None:
    """A notice no longer waiting to go loses its text after a day."""
    session.execute(
        text(
            "UPDATE resident_notices SET body = NULL WHERE body IS NOT NULL AND status NOT IN "
            "('queued', 'sending', 'unknown') AND created_at < now() - interval '1 day'"
        )
    )


def delete_old_provider_events(session, *, days: int) -> int:
    """Provider event ids received more than `days` ago."""
    return session.execute(
        text("DELETE FROM provider_events WHERE received_at < now() - make_interval(days => :d)"),
        {"d": days},
    ).rowcount


def delete_ended_staff_sessions(session) -> int:
    """Staff sessions that ended (or would have) more than 30 days ago."""
    return session.execute(
        text(
            "DELETE FROM staff_sessions WHERE coalesce(ended_at, last_seen_at) "
            "< now() - interval '30 days'"
        )
    ).rowcount


def delete_old_replies(session, *, days: int) -> int:
    """What residents sent us, after `days` (RETENTION_DAYS, like the deliveries)."""
    return session.execute(
        text("DELETE FROM replies WHERE received_at < now() - make_interval(days => :d)"),
        {"d": days},
    ).rowcount


def delete_old_stops(session, *, days: int) -> int:
    """Numbers' STOPs kept by themselves (stopped_numbers), after `days`
    (RETENTION_DAYS, like the messages they stopped answers to). A resident's STOP
    stays on their channel for as long as they are signed up."""
    return session.execute(
        text("DELETE FROM stopped_numbers WHERE stopped_at < now() - make_interval(days => :d)"),
        {"d": days},
    ).rowcount


def delete_unproven_numbers(session, *, days: int) -> int:
    """Numbers residents who confirmed another way added and never confirmed, their
    last code expired `days` ago (UNVERIFIED_DAYS): a stranger's number typed by
    someone else stayed on that someone's record for good (an outside check). Not an
    e-mail address: a channel's row does not say when its address was last changed."""
    return session.execute(
        text(
            "DELETE FROM resident_channels c USING residents r"
            " WHERE r.id = c.resident_id AND r.confirmed_at IS NOT NULL"
            " AND c.verified_at IS NULL AND c.channel IN ('sms', 'voice')"
            " AND coalesce(c.verify_expires_at, c.created_at)"
            " < now() - make_interval(days => :d)"
        ),
        {"d": days},
    ).rowcount


def forget_old_audit_addresses(session, *, days: int) -> int:
    """The IP addresses of audit events older than `days` (AUDIT_IP_DAYS): the one
    change the audit log allows (migration 0059)."""
    return session.execute(
        text(
            "UPDATE audit_events SET ip_address = NULL WHERE ip_address IS NOT NULL"
            " AND at < now() - make_interval(days => :d)"
        ),
        {"d": days},
    ).rowcount


def _lock_timeout(session, ms: int) -> None:
    session.execute(text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": f"{int(ms)}ms"})


def make_delivery_months(session, *, ahead: int, lock_timeout_ms: int) -> int:
    """The ledger's partitions for this month and `ahead` more, and for any month
    whose rows wait in deliveries_default (migration 0032). Returns how many it made.
    Gives up (LockNotAvailable) rather than wait longer than lock_timeout_ms behind a
    long transaction on deliveries."""
    _lock_timeout(session, lock_timeout_ms)
    return session.scalar(text("SELECT deliveries_ensure_partitions(:a)"), {"a": ahead})


def delivery_months(session) -> list[tuple[str, datetime]]:
    """The ledger's monthly partitions (name, first instant of the month), oldest first."""
    names = session.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'deliveries'::regclass AND c.relname <> 'deliveries_default'"
        )
    )
    months = [(n, datetime.strptime(n, "deliveries_%Y_%m").replace(tzinfo=UTC)) for n in names]
    return sorted(months, key=lambda month: month[1])


def uncounted_alerts_in(session, first: datetime, upper: datetime) -> int:
    """Alerts created in [first, upper) with deliveries whose figures the sent report
    has not counted (alert_figures.deliveries_at, migration 0029)."""
    return session.scalar(
        text(
            "SELECT count(*) FROM alerts a"
            " LEFT JOIN alert_figures f ON f.alert_id = a.id"
            " WHERE a.created_at >= :first AND a.created_at < :upper"
            "   AND f.deliveries_at IS NULL"
            "   AND EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = a.id"
            "               AND d.alert_created_at = a.created_at)"
        ),
        {"first": first, "upper": upper},
    )


def drop_delivery_month(
    session, name: str, *, cutoff: datetime, lock_timeout_ms: int
) -> int | None:
    """Drop one month's partition of the ledger, unless it holds a delivery written at
    or after `cutoff` (an alert drafted long ago and sent lately: its deliveries are in
    its draft's month), then None. First the month is locked (nothing is written into
    it meanwhile), and what the foreign keys to deliveries did is done (outbox rows go,
    replies lose the link). Returns the rows dropped. `name` is one delivery_months
    gave. Gives up as make_delivery_months does."""
    _lock_timeout(session, lock_timeout_ms)
    table = f'"{name}"'  # a partition's name from the catalogue (delivery_months)
    session.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
    recent = session.scalar(
        text(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE created_at >= :cutoff)"),  # noqa: S608
        {"cutoff": cutoff},
    )
    if recent:
        return None
    rows = session.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
    session.execute(
        text(f"DELETE FROM outbox_messages WHERE delivery_id IN (SELECT id FROM {table})")  # noqa: S608
    )
    session.execute(
        text(
            f"UPDATE replies SET delivery_id = NULL"  # noqa: S608
            f" WHERE delivery_id IN (SELECT id FROM {table})"
        )
    )
    session.execute(text(f"DROP TABLE {table}"))
    return rows
