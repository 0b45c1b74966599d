"""What the retention rules remove or blank, table by table (services/residents.py
`purge_expired` decides when). Never commits; the delete_ functions that report say how
many rows went."""

from __future__ import annotations

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
