from __future__ import annotations

from datetime import datetime

from flask_babel import gettext
from geoalchemy2 import Geometry
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.force import force_column
from app.models.officer import Officer
from app.references import new_reference
from geo.projection import BNG

# draft: being written; pending_approval: waits for a supervisor; scheduled: approved
# (or not needing approval) and waiting for its time; sending; sent; rejected; cancelled.
ALERT_STATUSES = (
    "draft",
    "pending_approval",
    "scheduled",
    "sending",
    "sent",
    "rejected",
    "cancelled",
)
# live: to residents. exercise: to residents, every message and screen marked as an
# exercise. test: only to the officer who asked ("send a test to myself").
ALERT_MODES = ("live", "exercise", "test")
# What an alert is about; the force can make some of them need approval.
CATEGORIES = {
    "incident": "Incident",
    "missing_person": "Missing person",
    "crime_prevention": "Crime prevention",
    "appeal": "Appeal for information",
    "update": "Update",
    "all_clear": "All clear",
}


class Alert(db.Model):
    """A message to everyone registered inside an area (or to the people an earlier
    alert reached, for a follow-up)."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(f"status IN {ALERT_STATUSES!r}", name="status_known"),
        CheckConstraint(f"mode IN {ALERT_MODES!r}", name="mode_known"),
        CheckConstraint(f"category IN {tuple(CATEGORIES)!r}", name="category_known"),
        # The sweeper releases scheduled alerts when their time comes.
        Index("ix_alerts_scheduled", "send_at", postgresql_where="status = 'scheduled'"),
        Index(
            "ix_alerts_created_by_id_repeat_key",
            "created_by_id",
            "repeat_key",
            postgresql_where="repeat_key IS NOT NULL",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The short public reference (app/references.py), e.g. A7K2-9QF.
    reference: Mapped[str] = mapped_column(
        String(8), unique=True, nullable=False, default=new_reference
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), nullable=False)
    # What its officer sent, as a key (services/alerts/submitting.py): the same sent
    # again within ALERT_REPEAT_SECONDS is this alert, not another (migration 0042).
    repeat_key: Mapped[str | None] = mapped_column(String(64))
    # Its author's force: only that force's residents are reached, and its staff see it.
    force_id: Mapped[int] = force_column()
    title: Mapped[str] = mapped_column(String(120), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    # The language title and body are in: "en", or "cy" when the officer wrote in Welsh
    # only. The Welsh words of an alert written in both (issue 15); None: one language.
    language: Mapped[str] = mapped_column(String(2), nullable=False, server_default="en")
    title_cy: Mapped[str | None] = mapped_column(String(120))
    body_cy: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(30), nullable=False, server_default="incident")
    mode: Mapped[str] = mapped_column(String(10), nullable=False, server_default="live")
    # The shapes as the officer drew them (WGS84), and the area they resolve to (BNG):
    # the area is what targeting used, so the record shows exactly who was meant.
    shapes: Mapped[list] = mapped_column(JSONB, nullable=False)
    # {"groups": [slug, ...], "channels": [...]}: empty lists mean everyone, every channel.
    filters: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")
    area = mapped_column(Geometry("MULTIPOLYGON", srid=BNG, spatial_index=False))
    # A follow-up (update, all-clear) of an earlier alert; with audience "parent" it
    # goes to the residents the earlier one reached, wherever the area now is.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    audience: Mapped[str] = mapped_column(String(10), nullable=False, server_default="area")
    # Voice calls play this recording instead of speaking the text.
    recording_id: Mapped[int | None] = mapped_column(ForeignKey("alert_recordings.id"))
    # A quick question at the end ("Did you see anything?") and its options, answered
    # by replying or pressing the option's number (1, 2...).
    question: Mapped[str | None] = mapped_column(Text)
    answer_options: Mapped[list | None] = mapped_column(JSONB(none_as_null=True))
    # The same question and answers in Welsh, for an alert written in both (migration
    # 0070): a resident who chose Welsh is asked them; the answers' order is the same.
    question_cy: Mapped[str | None] = mapped_column(Text)
    answer_options_cy: Mapped[list | None] = mapped_column(JSONB(none_as_null=True))
    # "Reply OK or press 1 to confirm you got this": the alert page shows who did.
    confirm_receipt: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="draft")
    recipient_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    send_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    # Its public page, feed entries and CAP document taken down (migration 0069): by
    # an officer, or (none) by the all-clear of a missing person found.
    taken_down_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    taken_down_by_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))

    created_by: Mapped[Officer] = relationship(foreign_keys=[created_by_id])
    decided_by: Mapped[Officer | None] = relationship(foreign_keys=[decided_by_id])
    parent: Mapped[Alert | None] = relationship(remote_side=[id], foreign_keys=[parent_id])
    recording: Mapped[AlertRecording | None] = relationship()

    @property
    def category_label(self) -> str:
        """In the page's language (English outside a request): the catalogue has each
        label (app/i18n.py CATEGORY_LABELS marks them). flask_babel's own gettext, as
        app.i18n imports the models."""
        return gettext(CATEGORIES.get(self.category, self.category))


class AlertTemplate(db.Model):
    """Wording a team reuses (a burglary warning, a missing-person appeal)."""

    __tablename__ = "alert_templates"
    __table_args__ = (UniqueConstraint("force_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    force_id: Mapped[int] = force_column()
    category: Mapped[str] = mapped_column(String(30), nullable=False)
    title: Mapped[str] = mapped_column(String(120), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    # The same words in Welsh, when the alert it was saved from had them (migration 0044).
    title_cy: Mapped[str | None] = mapped_column(String(120))
    body_cy: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class AlertRecording(db.Model):
    """An officer's own recording, played on voice calls instead of the spoken text.
    Twilio fetches it from /media/recordings/<token>: the token is random, not an id."""

    __tablename__ = "alert_recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    content_type: Mapped[str] = mapped_column(String(40), nullable=False)
    seconds: Mapped[float] = mapped_column(Float, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
