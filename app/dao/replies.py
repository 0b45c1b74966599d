"""Queries about what residents send back: which message a reply answers, who holds a
number, the inbox, and the answers to an alert's question. Nothing here commits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from app.extensions import db
from app.models import Alert, Reply


@dataclass(frozen=True)
class Answered:
    """The latest message sent to a number: what a reply from it answers."""

    delivery_id: int
    alert_id: int
    resident_id: int | None
    channel: str
    address: str
    alert_status: str
    # Cancelled, followed by an all-clear, or its page taken down (a missing person
    # found): answers given to it are kept in the inbox, not counted.
    closed: bool
    question_options: int  # how many options its question has (0: no question)
    confirm_receipt: bool
    option_labels: list | None = None  # the question's options, in order
    welsh_labels: list | None = None  # the same in Welsh, when the officer wrote them


# What a reply needs to know of the message it answers (Answered, in order).
_ANSWERED = """
    SELECT d.id, d.alert_id, d.resident_id, d.channel, d.address, a.status,
           (a.status = 'cancelled' OR a.taken_down_at IS NOT NULL OR EXISTS (
                SELECT 1 FROM alerts f WHERE f.parent_id = a.id
                AND f.category = 'all_clear' AND f.status IN ('sending', 'sent'))) AS closed,
           CASE WHEN jsonb_typeof(a.answer_options) = 'array'
                THEN jsonb_array_length(a.answer_options) ELSE 0 END,
           a.confirm_receipt,
           CASE WHEN jsonb_typeof(a.answer_options) = 'array' THEN a.answer_options END,
           CASE WHEN jsonb_typeof(a.answer_options_cy) = 'array' THEN a.answer_options_cy END
    FROM deliveries d JOIN alerts a ON a.id = d.alert_id
"""


def find_answered(address: str, channels: tuple[str, ...], hours: int) -> Answered | None:
    """The latest alert message to `address` on one of `channels` that went out (or was
    going out: a reply can overtake the send's own record) within `hours`, to a
    resident who still holds that number."""
    row = db.session.execute(
        text(
            _ANSWERED  # noqa: S608 (constant text: no value is put into the SQL)
            + """
            -- Found through the alerts of the window and the residents holding the
            -- number (the deliveries' own unique index): the deliveries are not
            -- indexed by address, which would slow every alert's fan-out.
            WHERE a.status IN ('sending', 'sent', 'cancelled')
              AND coalesce(a.sent_at, a.created_at) > now() - make_interval(hours => :hours)
              AND d.resident_id IN (SELECT resident_id FROM resident_channels
                                    WHERE address = :address)
              AND d.address = :address AND d.channel IN :channels
              AND d.status NOT IN ('queued', 'cancelled')
              AND coalesce(d.sent_at, d.attempted_at, d.created_at)
                  > now() - make_interval(hours => :hours)
            ORDER BY coalesce(d.sent_at, d.attempted_at, d.created_at) DESC, d.id DESC
            LIMIT 1
            """
        ).bindparams(bindparam("channels", expanding=True)),
        {"address": address, "channels": list(channels), "hours": hours},
    ).first()
    return Answered(*row) if row else None


def find_delivery_answered(delivery_id: int) -> Answered | None:
    """The delivery a call's keys or an e-mail's answer link answer (the message's
    own), while its resident is still with us: once they have deleted their details,
    their deliveries are the force's statistics, and nothing is recorded against them."""
    row = db.session.execute(
        text(_ANSWERED + " WHERE d.id = :id AND d.resident_id IS NOT NULL"),
        {"id": delivery_id},
    ).first()
    return Answered(*row) if row else None


def language_of_delivery(delivery_id: int) -> str | None:
    """The language the delivery's resident chose, or None (gone, or no such delivery)."""
    return db.session.execute(
        text(
            "SELECT r.language FROM deliveries d JOIN residents r ON r.id = d.resident_id"
            " WHERE d.id = :id"
        ),
        {"id": delivery_id},
    ).scalar()


def holders_of(address: str, channels: tuple[str, ...], *, unproven_too: bool = False) -> list[int]:
    """The residents who hold this number or address (several may share one), having
    proved it: a number typed by someone else and never confirmed is not theirs (its
    owner's texts went into that someone's download of their data: an outside check).
    With `unproven_too`, those who have not proved it as well."""
    return list(
        db.session.execute(
            text(
                "SELECT DISTINCT resident_id FROM resident_channels WHERE address = :address"
                " AND channel IN :channels AND (:unproven OR verified_at IS NOT NULL)"
                " ORDER BY resident_id"
            ).bindparams(bindparam("channels", expanding=True)),
            {"address": address, "channels": list(channels), "unproven": unproven_too},
        ).scalars()
    )


def create_reply(**values) -> int | None:
    """Record a reply once: None when its provider_ref was recorded before."""
    return db.session.execute(
        insert(Reply)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["provider_ref"])
        .returning(Reply.id)
    ).scalar()


def inbox(
    *, alert_id: int | None, limit: int, before_id: int | None = None, visible=None
) -> list[Reply]:
    """Messages for an officer to read, newest first: words that are not an answer,
    and answers that fit no option. `visible`: a filter of the alerts whose replies
    the officer reads (texts to no alert are everyone's)."""
    query = (
        select(Reply)
        .where(Reply.kind == "message")
        .order_by(Reply.received_at.desc(), Reply.id.desc())
        .limit(limit)
    )
    if alert_id is not None:
        query = query.where(Reply.alert_id == alert_id)
    if visible is not None:
        query = query.where(
            Reply.alert_id.is_(None) | Reply.alert_id.in_(select(Alert.id).where(visible))
        )
    if before_id is not None:
        query = query.where(Reply.id < before_id)
    return list(db.session.scalars(query))


def unread_count(alert_id: int | None = None) -> int:
    query = (
        select(func.count())
        .select_from(Reply)
        .where(Reply.kind == "message", Reply.read_at.is_(None))
    )
    if alert_id is not None:
        query = query.where(Reply.alert_id == alert_id)
    return db.session.scalar(query)


def mark_read(reply_ids: list[int], officer_id: int) -> None:
    db.session.execute(
        update(Reply)
        .where(Reply.id.in_(reply_ids), Reply.read_at.is_(None))
        .values(read_at=func.now(), read_by_id=officer_id)
    )


def answer_counts(alert_id: int) -> list[tuple[str | None, str | None, int, int]]:
    """(ward code, ward name, option, residents) for the alert's answers: each
    resident's latest answer counts once, whichever message they answered (a text's
    "No", then the e-mail's "Yes", counted once for each: an outside check), placed
    in the ward of their first location; a message whose resident is gone, once."""
    return db.session.execute(
        text(
            """
            WITH latest AS (
                SELECT DISTINCT ON (coalesce(d.resident_id::text, 'row ' || d.id))
                       d.resident_id, r.answer
                FROM replies r JOIN deliveries d ON d.id = r.delivery_id
                WHERE r.alert_id = :alert_id AND r.kind = 'answer' AND NOT r.after_close
                  AND d.alert_id = :alert_id
                ORDER BY coalesce(d.resident_id::text, 'row ' || d.id),
                         r.received_at DESC, r.id DESC
            ), placed AS (
                SELECT l.answer, (
                    SELECT p.admin_ward_code FROM resident_locations rl
                    JOIN postcodes p ON p.postcode = rl.postcode
                    WHERE rl.resident_id = l.resident_id ORDER BY rl.id LIMIT 1
                ) AS ward_code
                FROM latest l
            )
            SELECT placed.ward_code,
                   (SELECT name FROM places WHERE kind = 'ward' AND code = placed.ward_code
                    ORDER BY release DESC LIMIT 1),
                   placed.answer, count(*)
            FROM placed GROUP BY placed.ward_code, placed.answer
            ORDER BY 2 NULLS LAST, 3
            """
        ),
        {"alert_id": alert_id},
    ).all()


def receipt_counts(alert_id: int) -> list[tuple[str, str, int]]:
    """(channel, state, deliveries) with state confirmed, not_confirmed or unreachable:
    a reply of any kind to the message (an answer, OK, a key) confirms it, before the
    alert closed (keys pressed after it was taken down confirmed it: an outside check),
    as answers are counted."""
    return db.session.execute(
        text(
            """
            SELECT d.channel,
                   CASE WHEN EXISTS (SELECT 1 FROM replies r WHERE r.delivery_id = d.id
                                     AND r.kind IN ('answer', 'confirmation')
                                     AND NOT r.after_close)
                        THEN 'confirmed'
                        WHEN d.status IN ('failed', 'cancelled') THEN 'unreachable'
                        ELSE 'not_confirmed' END AS state,
                   count(*)
            FROM deliveries d WHERE d.alert_id = :alert_id
            GROUP BY 1, 2 ORDER BY 1, 2
            """
        ),
        {"alert_id": alert_id},
    ).all()


def replies_of(resident_id: int) -> list[Reply]:
    """Everything a resident sent us, for their download."""
    return list(
        db.session.scalars(select(Reply).where(Reply.resident_id == resident_id).order_by(Reply.id))
    )


def find_recent_answer(said: str, seconds: int) -> int | None:
    """The notice of an officer's answer whose audit event names `said` (the digest of
    its words and number) within the last `seconds`, if any."""
    notice_id = db.session.scalar(
        text(
            "SELECT details->>'notice_id' FROM audit_events WHERE action = 'reply.answered'"
            " AND at > now() - make_interval(secs => :s) AND details->>'answer' = :said"
            " ORDER BY id DESC LIMIT 1"
        ),
        {"said": said, "s": seconds},
    )
    return int(notice_id) if notice_id is not None else None


def latest_web_answer(delivery_id: int) -> tuple[str, int | None] | None:
    """(kind, answer) of the latest answer given on this message's link, if any."""
    row = db.session.execute(
        select(Reply.kind, Reply.answer)
        .where(Reply.delivery_id == delivery_id, Reply.provider_ref.like("web:%"))
        .order_by(Reply.id.desc())
        .limit(1)
    ).first()
    return (row.kind, row.answer) if row is not None else None


def web_answers_given(delivery_id: int) -> dict:
    """What was given on this message's link: the latest answer (its number, or None)
    and whether receipt was confirmed."""
    rows = db.session.execute(
        select(Reply.kind, Reply.answer)
        .where(Reply.delivery_id == delivery_id, Reply.provider_ref.like("web:%"))
        .order_by(Reply.id.desc())
    ).all()
    answers = [row.answer for row in rows if row.kind == "answer"]
    return {
        "answer": answers[0] if answers else None,
        "confirmed": any(row.kind == "confirmation" for row in rows),
    }


def numbers_welsh_alone(addresses: set[str]) -> set[str]:
    """Those of these numbers whose every holder (having proved it, as holders_of)
    chose Welsh: an answer to them goes in Welsh (replies.answer_language). One query
    for an inbox's page."""
    if not addresses:
        return set()
    return set(
        db.session.scalars(
            text(
                "SELECT c.address FROM resident_channels c JOIN residents r"
                " ON r.id = c.resident_id WHERE c.address = ANY(:addresses)"
                " AND c.channel IN ('sms', 'voice') AND c.verified_at IS NOT NULL"
                " GROUP BY c.address HAVING bool_and(coalesce(r.language = 'cy', false))"
            ),
            {"addresses": sorted(addresses)},
        )
    )
