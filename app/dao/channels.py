"""Stopping and restarting the ways residents are reached. Nothing here commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from app.extensions import db


def lock_holders(numbers: list[str], channels: tuple[str, ...] = ("sms",)) -> None:
    """The rows of the residents holding these numbers, first, in one order, as every
    change of theirs takes them: the way's row (or a reply's, or a message's) first
    met "Delete my details", which takes them the other way round, in a deadlock
    (reviews: a STOP, a START, a provider's opt-out, as the details were deleted; a
    text filed under a resident deleted meanwhile was refused, and lost: an outside
    check)."""
    db.session.execute(
        text(
            "SELECT id FROM residents WHERE id IN (SELECT resident_id FROM resident_channels"
            " WHERE channel = ANY(:channels) AND address = ANY(:numbers)) ORDER BY id FOR UPDATE"
        ),
        {"numbers": list(numbers), "channels": list(channels)},
    )


def stop_number(
    number: str, *, key: str, channel: str = "sms"
) -> tuple[list[int], list[int | None]]:
    """Stop every channel of this kind on the number, and cancel what is still queued
    to it; an SMS STOP is kept by `key` (the number keyed, optout.number_key) whoever
    holds the number. (the residents whose channel it stopped, the force of each
    delivery cancelled)."""
    lock_holders([number], (channel,))
    stopped = db.session.execute(
        text(
            "UPDATE resident_channels SET unsubscribed_at = now(), unsubscribed_by = 'text' "
            "WHERE channel = :channel AND address = :number AND unsubscribed_at IS NULL "
            "RETURNING resident_id"
        ),
        {"number": number, "channel": channel},
    ).all()
    # Through the alerts still going out and the residents holding the number (the
    # deliveries' own unique index): deliveries are not indexed by address.
    cancelled = db.session.execute(
        text(
            """
            UPDATE deliveries d SET status = 'cancelled', reason = 'recipient replied STOP',
                   finished_at = now(), updated_at = now()
            FROM alerts a
            WHERE d.alert_id = a.id AND a.status IN ('sending', 'scheduled')
              AND d.resident_id IN (SELECT resident_id FROM resident_channels
                                    WHERE address = :number)
              AND d.channel = :channel AND d.address = :number AND d.status = 'queued'
            RETURNING a.force_id
            """
        ),
        {"number": number, "channel": channel},
    ).all()
    if channel == "sms":
        # Held by a resident or by nobody: its messages take no answer now, and an
        # answer still waiting to go does not go (an outside check). Kept by itself
        # too: a number nobody holds, STOP its first text, had its next answered.
        db.session.execute(
            text(
                "INSERT INTO stopped_numbers (number_key) VALUES (:key)"
                " ON CONFLICT (number_key) DO NOTHING"
            ),
            {"key": key},
        )
        db.session.execute(
            text(
                "UPDATE replies SET number_stopped_at = now() WHERE address = :number"
                " AND channel = 'sms' AND number_stopped_at IS NULL"
            ),
            {"number": number},
        )
        db.session.execute(
            text(
                "UPDATE resident_notices SET status = 'cancelled',"
                " reason = 'recipient replied STOP', finished_at = now(), updated_at = now()"
                " WHERE address = :number AND channel = 'sms'"
                " AND kind IN ('officer_answer', 'thanks')"
                " AND status = 'queued'"
            ),
            {"number": number},
        )
    return [row[0] for row in stopped], [row[0] for row in cancelled]


def address_of(resident_id: int, channel: str) -> str | None:
    """The address a resident's channel sends to now (None: no such channel)."""
    return db.session.execute(
        text("SELECT address FROM resident_channels WHERE resident_id = :r AND channel = :c"),
        {"r": resident_id, "c": channel},
    ).scalar()


def channel_stopped(resident_id: int, channel: str) -> bool:
    """Whether a resident's channel is stopped (unsubscribed, or STOP)."""
    return bool(
        db.session.execute(
            text(
                "SELECT unsubscribed_at IS NOT NULL FROM resident_channels"
                " WHERE resident_id = :r AND channel = :c"
            ),
            {"r": resident_id, "c": channel},
        ).scalar()
    )


def number_stopped(number: str, *, key: str) -> bool:
    """Whether texts to this number were stopped by a text from it (STOP), held by a
    resident or by nobody (`key`: the number keyed, as stop_number keeps it)."""
    return bool(
        db.session.execute(
            text(
                # Stopped by a text from the number (or the provider's opt-out of it), or
                # before how was kept (migration 0052).
                "SELECT EXISTS (SELECT 1 FROM resident_channels WHERE channel = 'sms'"
                " AND address = :number AND unsubscribed_at IS NOT NULL"
                " AND coalesce(unsubscribed_by, 'text') = 'text')"
                " OR EXISTS (SELECT 1 FROM stopped_numbers WHERE number_key = :key)"
            ),
            {"number": number, "key": key},
        ).scalar()
    )


def number_stopped_at(number: str, *, key: str) -> datetime | None:
    """When the number's STOP was (START clears it), for its next message to carry: as
    kept by itself, or by its earlier messages (before migration 0067 kept it alone)."""
    return db.session.execute(
        text(
            "SELECT coalesce("
            " (SELECT stopped_at FROM stopped_numbers WHERE number_key = :key),"
            " (SELECT max(number_stopped_at) FROM replies WHERE address = :number"
            "  AND channel = 'sms'))"
        ),
        {"number": number, "key": key},
    ).scalar()


def forget_number_stopped(number: str, *, key: str) -> None:
    """The number wants texts again (START, or a code texted to it typed in): its
    messages take answers again, earlier ones too."""
    db.session.execute(
        text(
            "UPDATE replies SET number_stopped_at = NULL WHERE address = :number"
            " AND channel = 'sms' AND number_stopped_at IS NOT NULL"
        ),
        {"number": number},
    )
    db.session.execute(text("DELETE FROM stopped_numbers WHERE number_key = :key"), {"key": key})


def start_number(number: str, *, key: str, channel: str = "sms") -> int:
    """START from the number: its channels stopped by a text go on again, and so does
    one stopped by a link when it is the number's only one (its resident is who
    texted). A link's stop of one of several residents sharing the number stays: the
    text says nothing of which of them sent it. Its messages take answers again. How
    many went on again."""
    lock_holders([number], (channel,))
    if channel == "sms":
        forget_number_stopped(number, key=key)
    return len(
        db.session.execute(
            text(
                """
                UPDATE resident_channels SET unsubscribed_at = NULL, unsubscribed_by = NULL
                WHERE channel = :channel AND address = :number AND unsubscribed_at IS NOT NULL
                  AND (coalesce(unsubscribed_by, 'text') = 'text'
                       OR (SELECT count(*) FROM resident_channels
                           WHERE channel = :channel AND address = :number) = 1)
                RETURNING resident_id
                """
            ),
            {"number": number, "channel": channel},
        ).all()
    )


def stop_channel(resident_id: int, channel: str) -> bool:
    """Stop one channel of one resident and cancel what is queued on it. Whether it
    was on."""
    # The resident's row first, as every change of theirs takes it (stop_number).
    db.session.execute(
        text("SELECT id FROM residents WHERE id = :r FOR UPDATE"), {"r": resident_id}
    )
    row = db.session.execute(
        text(
            "UPDATE resident_channels SET unsubscribed_at = now(), unsubscribed_by = 'link' "
            "WHERE resident_id = :r AND channel = :c AND unsubscribed_at IS NULL "
            "RETURNING resident_id"
        ),
        {"r": resident_id, "c": channel},
    ).first()
    db.session.execute(
        text(
            "UPDATE deliveries SET status = 'cancelled', reason = 'recipient unsubscribed',"
            " finished_at = now(), updated_at = now() "
            "WHERE resident_id = :r AND channel = :c AND status = 'queued'"
        ),
        {"r": resident_id, "c": channel},
    )
    return row is not None
