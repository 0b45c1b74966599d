from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.force import force_column

CHANNELS = ("sms", "voice", "email")


class DeliveryStatus(enum.StrEnum):
    """A delivery only moves forward (see STATUS_RANK): queued -> sending -> sent ->
    delivered, or ends failed / cancelled with a reason. "unknown" is a request that
    may have reached the provider (it timed out): its status callback settles it."""

    QUEUED = "queued"
    SENDING = "sending"
    UNKNOWN = "unknown"
    # May have gone out; never sent again (at most once): an e-mail whose worker died
    # mid-send, or a text or call whose provider cannot say whether it accepted it.
    POSSIBLY_SENT = "possibly_sent"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


# How far along each status is: an update may only raise the rank. A late or repeated
# provider callback can therefore never move a delivery backwards.
STATUS_RANK = {
    "queued": 0,
    "sending": 1,
    "unknown": 1,
    "possibly_sent": 2,
    "sent": 2,
    "delivered": 3,
    "failed": 3,
    "cancelled": 3,
}
FINAL_STATUSES = ("delivered", "failed", "cancelled")
# Still on the way: a row in one of these has not finished.
UNFINISHED_STATUSES = ("queued", "sending", "unknown")
_STATUSES_SQL = ", ".join(f"'{status}'" for status in STATUS_RANK)


class Delivery(db.Model):
    """One message to one resident on one channel for one alert. The table is
    partitioned by the month of alert_created_at (the alert's created_at, migration
    0032): the key is (id, alert_created_at) in the database, id alone here, since
    every id comes from one sequence. The references to alerts and residents are held
    by triggers checking each statement's rows at once (migration 0033), not by
    PostgreSQL's foreign keys, which check row by row."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("resident_id", "alert_id", "channel", "alert_created_at"),
        CheckConstraint(f"status IN ({_STATUSES_SQL})", name="status_known"),
        Index("ix_deliveries_alert_id_status", "alert_id", "status"),
        # The sweeper looks for work left behind: only unfinished rows are indexed.
        Index(
            "ix_deliveries_unfinished",
            "status",
            "updated_at",
            postgresql_where="status IN ('queued', 'sending', 'unknown')",
        ),
        Index(
            "ix_deliveries_provider_ref",
            "provider_ref",
            postgresql_where="provider_ref IS NOT NULL",
        ),
        # Texts whose delivery Twilio never reported: the sweeper asks about them.
        Index(
            "ix_deliveries_texts_unreported",
            "sent_at",
            postgresql_where="status = 'sent' AND channel = 'sms'",
        ),
        # And calls whose end Twilio never reported (migration 0062).
        Index(
            "ix_deliveries_calls_unreported",
            "sent_at",
            postgresql_where="status = 'sent' AND channel = 'voice'",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), nullable=False)
    # The partition key: the alert's created_at (a foreign key holds it to the alert's).
    alert_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    address: Mapped[str] = mapped_column(String(254), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="queued")
    reason: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Of those, held back and never tried (a provider's Retry-After): not counted
    # against DELIVERY_MAX_ATTEMPTS (migration 0053).
    attempts_held: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Of those, refused for now by the provider (a 5xx, a 429, no connection), and
    # whether it failed with every try so refused: never taken, and may be sent again
    # by its officer without anyone getting it twice (migration 0055).
    attempts_refused: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    refused_every_try: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    # Not before this time (a retry's backoff); NULL means now.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the latest attempt was claimed: a provider is asked about messages since then.
    attempted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the first was (migration 0054): a text in doubt is looked for in the
    # provider's list from then.
    first_attempted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When it was first refused for now or held back by a provider's wait: it is tried
    # again for at least DELIVERY_RETRY_WINDOW_SECONDS from then (migration 0060; a row
    # refused before it has none, and is timed from its first attempt).
    first_refused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The attempt whose message has certainly not gone: from its claim until just
    # before an e-mail's last line, or a text's or call's turn to be asked for
    # (services/outbound.py). Named when e-mails alone had it; kept so, so that code a
    # release old runs on the schema.
    email_unsent_attempt: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Released to its resident later than the alert was (a neighbouring force approved
    # it late, cross-border): speed is measured from here. NULL: the alert's release.
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The neighbouring force whose approval of a cross-border alert reached the
    # resident; NULL: the alert's own force. The alert's updates, its all-clear and a
    # send-again hold to the stops of the force that reached them (migration 0056).
    via_force_id: Mapped[int | None] = mapped_column(Integer)  # forces.id (no key: 0033)
    segments: Mapped[int | None] = mapped_column(Integer)  # SMS segments billed
    duration_seconds: Mapped[int | None] = mapped_column(Integer)  # voice call length
    # A call that found the line busy or went unanswered is placed again, up to
    # CALL_REDIALS times (migration 0064); the earlier calls' references are kept so
    # that no word about them is taken for the new call's.
    redials: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    earlier_refs: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class ResidentNotice(db.Model):
    """A message to one resident that is not an alert: a verification code or link, a
    link to manage their alerts, a notice that an imported list now includes them.
    The text is dropped once it is finished with (it may hold a code). Its ledger has
    the shape of a delivery's, and the same statuses: one engine sends both."""

    __tablename__ = "resident_notices"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUSES_SQL})", name="status_known"),
        Index(
            "ix_resident_notices_unfinished",
            "status",
            "updated_at",
            postgresql_where="status IN ('queued', 'sending', 'unknown')",
        ),
        Index("ix_resident_notices_provider_ref", "provider_ref"),
        Index(
            "ix_resident_notices_texts_unreported",
            "sent_at",
            postgresql_where="status = 'sent' AND channel = 'sms'",
        ),
        Index(
            "ix_resident_notices_calls_unreported",
            "sent_at",
            postgresql_where="status = 'sent' AND channel = 'voice'",
        ),
        # The confirm page reads the newest notice to an address (0072).
        Index("ix_resident_notices_to", "address", "channel", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    # The force whose staff it is to (an invitation, a question to supervisors); None
    # for a resident's, which is their first place's force (migration 0045).
    force_id: Mapped[int | None] = force_column(nullable=True, index=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    address: Mapped[str] = mapped_column(String(254), nullable=False)
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="queued")
    reason: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Of those, held back and never tried (a provider's Retry-After): not counted
    # against DELIVERY_MAX_ATTEMPTS (migration 0053).
    attempts_held: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    attempts_refused: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    refused_every_try: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_attempted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_refused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    email_unsent_attempt: Mapped[int | None] = mapped_column(Integer)  # as a delivery's
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    segments: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    # As a delivery's; a notice is never redialled (a code call is asked for again).
    redials: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    earlier_refs: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class OutboxMessage(db.Model):
    """What the development transport would have sent, instead of sending it."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # An alert's delivery, or a notice to one resident. No foreign key can name a
    # partitioned table's id alone: a trigger on deliveries removes the row instead.
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    notice_id: Mapped[int | None] = mapped_column(
        ForeignKey("resident_notices.id", ondelete="CASCADE"), unique=True
    )
    alert_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # The force of its alert, else the default force's (migration 0037).
    force_id: Mapped[int] = force_column()
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    recipient: Mapped[str] = mapped_column(String(254), nullable=False)
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class ProviderEvent(db.Model):
    """An inbound message or status event a provider sent, by its own id: acted on
    once, however often it is replayed."""

    __tablename__ = "provider_events"

    event_key: Mapped[str] = mapped_column(Text, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
