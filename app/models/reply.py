from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.force import force_column

# message: words for an officer to read (the inbox). answer: an option of the alert's
# quick question. confirmation: "OK" / 1 to an alert asking to confirm receipt.
# help: HELP, answered automatically.
REPLY_KINDS = ("message", "answer", "confirmation", "help")


class Reply(db.Model):
    """Something a resident (or anyone) sent us: a text, or keys pressed in a call.
    Personal data: kept for RETENTION_DAYS, shown masked, every view audited."""

    __tablename__ = "replies"
    __table_args__ = (
        CheckConstraint(f"kind IN {REPLY_KINDS!r}", name="kind_known"),
        Index("ix_replies_received_at", "received_at"),
        Index("ix_replies_alert_id_received_at", "alert_id", "received_at"),
        # Each text from a number reads its STOP, and STOP and START write it (0066).
        Index("ix_replies_address", "address"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The provider's id for it (a voice answer: the call's id and ":keys"): the same
    # reply twice is recorded once.
    provider_ref: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    # The alert it answers: the latest sent to that number on that channel, if recent.
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="SET NULL"), index=True
    )
    # The delivery it answers (no foreign key to the partitioned deliveries: a trigger
    # on deliveries clears it when that delivery goes, migration 0032).
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    # Who sent it, when exactly one resident holds the number.
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(10), nullable=False)  # sms, voice
    address: Mapped[str] = mapped_column(String(254), nullable=False)
    body: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    answer: Mapped[int | None] = mapped_column(SmallInteger)  # the option's number
    # It came after the alert was cancelled or followed by an all-clear: in the inbox,
    # not counted.
    after_close: Mapped[bool] = mapped_column(nullable=False, server_default="false")
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Its number texted STOP since (START clears it): no answer goes (migration 0065).
    number_stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_by_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    # The force of the alert it answers (the default force's without one): migration
    # 0037's trigger sets it; each force's staff read their own.
    force_id: Mapped[int] = force_column()


class StoppedNumber(db.Model):
    """A number that texted STOP (or its provider opted it out), until it texts START
    or a code texted to it is typed in: its messages take no answer, whoever holds
    it, nobody included. Kept by the number keyed with SECRET_KEY (optout.number_key),
    for RETENTION_DAYS at most."""

    __tablename__ = "stopped_numbers"

    number_key: Mapped[str] = mapped_column(Text, primary_key=True)
    stopped_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
