"""Police forces: one installation serves one or several (migration 0034)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class Force(db.Model):
    """A police force this installation serves: its name, how the public reach it,
    the consent wording its residents agree to and its prices. Its area is the newest
    places row of kind "force" with its ONS code (app/dao/places.find_force). The
    default force is the installation's first, made from its FORCE_* settings."""

    __tablename__ = "forces"
    __table_args__ = (
        Index("uq_forces_default", "is_default", unique=True, postgresql_where="is_default"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(9), unique=True, nullable=False)  # E23000036
    slug: Mapped[str] = mapped_column(String(60), unique=True, nullable=False)  # in its URLs
    name: Mapped[str] = mapped_column(Text, nullable=False)  # "Avon and Somerset"
    name_cy: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    contact_cy: Mapped[str | None] = mapped_column(Text)  # the same in Welsh (0047)
    website: Mapped[str | None] = mapped_column(Text)
    cap_sender: Mapped[str | None] = mapped_column(Text)
    # What residents agree to, shown as given (None: the service's own wording), in
    # English and Welsh (migration 0039; no Welsh: the English).
    consent_text: Mapped[str | None] = mapped_column(Text)
    consent_text_cy: Mapped[str | None] = mapped_column(Text)
    # What the officer is told a message costs (None: the installation's settings).
    sms_price_per_segment: Mapped[Decimal | None] = mapped_column(Numeric(8, 4))
    voice_price_per_minute: Mapped[Decimal | None] = mapped_column(Numeric(8, 4))
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


def force_column(*, nullable: bool = False, index: bool = True, **kwargs):
    """The force a row belongs to: the installation's default force unless the service
    that writes it says otherwise."""
    return mapped_column(
        ForeignKey("forces.id", **kwargs),
        nullable=nullable,
        index=index,
        server_default=None if nullable else text("default_force_id()"),
    )


# What a force asked of another about an alert reaching into its area.
ALERT_FORCE_STATUSES = ("asked", "approved", "refused")


class AlertForce(db.Model):
    """A neighbouring force asked to send an alert to its own residents inside the
    alert's area (migration 0038). The alert is its own force's; this row is the one
    thing the neighbour's staff see of it, and the neighbour's supervisors decide it.
    Read through app/services/alerts/cross_border.py, never through the force scope."""

    __tablename__ = "alert_forces"
    __table_args__ = (
        Index(
            "ix_alert_forces_waiting",
            "force_id",
            "asked_at",
            postgresql_where=text("status = 'asked'"),
        ),
    )

    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    force_id: Mapped[int] = mapped_column(
        ForeignKey("forces.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(10), nullable=False, server_default="asked")
    asked_by_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), nullable=False)
    asked_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    residents: Mapped[int | None] = mapped_column(Integer)
