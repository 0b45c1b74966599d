from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.officer import Officer

ALERT_STATUSES = ("draft", "sending", "sent", "cancelled")


class Alert(db.Model):
    """A message to everyone registered inside an area."""

    __tablename__ = "alerts"
    __table_args__ = (CheckConstraint(f"status IN {ALERT_STATUSES!r}", name="status_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), nullable=False)
    title: Mapped[str] = mapped_column(String(120), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    # The shapes as the officer drew them (WGS84), and the area they resolve to (BNG):
    # the area is what targeting used, so the record shows exactly who was meant.
    shapes: Mapped[list] = mapped_column(JSONB, nullable=False)
    area = mapped_column(Geometry("MULTIPOLYGON", srid=27700, spatial_index=False), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="draft")
    recipient_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))

    created_by: Mapped[Officer] = relationship(foreign_keys=[created_by_id])
