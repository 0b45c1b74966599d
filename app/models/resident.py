from __future__ import annotations

import uuid
from datetime import datetime, time

from geoalchemy2 import Geometry
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.force import force_column
from geo.projection import BNG

resident_groups = Table(
    "resident_groups",
    db.metadata,
    Column("resident_id", ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("interest_groups.id", ondelete="CASCADE"), primary_key=True),
)

# The forces a resident stopped hearing from (migration 0036): their places in those
# forces' areas are not targets. None: they hear from every force their places are in.
resident_force_stops = Table(
    "resident_force_stops",
    db.metadata,
    Column("resident_id", ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True),
    Column("force_id", ForeignKey("forces.id", ondelete="CASCADE"), primary_key=True),
    Column("stopped_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class Resident(db.Model):
    """A member of the public who asked to hear from the police."""

    __tablename__ = "residents"
    __table_args__ = (CheckConstraint("language IN ('en', 'cy')", name="language_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The identifier that may appear in URLs and logs; the integer id never leaves us.
    reference: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), unique=True, nullable=False, default=uuid.uuid4
    )
    name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # The consent statement exactly as shown, its version and when it was given.
    consent_version: Mapped[str | None] = mapped_column(String(40))
    consent_text: Mapped[str | None] = mapped_column(Text)
    consent_given_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # "web", or "import:<file>" for residents brought over from another system.
    source: Mapped[str] = mapped_column(String(80), nullable=False, server_default="web")
    # When the resident first confirmed any way to reach them (None: never).
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Paused: nothing is sent until the resident resumes (their details are kept).
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Quiet hours (UK local time): non-urgent alerts wait until quiet_until.
    quiet_from: Mapped[time | None] = mapped_column(Time)
    quiet_until: Mapped[time | None] = mapped_column(Time)
    # The language of their pages and of what we send them: "en" or "cy" (app/i18n.py).
    language: Mapped[str] = mapped_column(String(2), nullable=False, server_default="en")
    # Raised by signing out: a page opened under an earlier one is closed, in every
    # browser, and a copy of its cookie opens nothing (migration 0058).
    session_generation: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")

    locations: Mapped[list[ResidentLocation]] = relationship(
        back_populates="resident", cascade="all, delete-orphan"
    )
    channels: Mapped[list[ResidentChannel]] = relationship(
        back_populates="resident", cascade="all, delete-orphan"
    )
    groups: Mapped[list[InterestGroup]] = relationship(secondary=resident_groups)
    # What they agreed to for each force they came to hear from after signing up.
    later_consents: Mapped[list[ResidentConsent]] = relationship(
        cascade="all, delete-orphan", order_by="ResidentConsent.given_at"
    )


class ResidentConsent(db.Model):
    """A force's consent statement a resident agreed to after signing up: when they
    added a place in the area of a force they did not hear from (migration 0049). The
    one they agreed to at sign-up is on the resident."""

    __tablename__ = "resident_consents"

    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True
    )
    force_id: Mapped[int] = mapped_column(
        ForeignKey("forces.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[str] = mapped_column(String(40), nullable=False)
    statement: Mapped[str] = mapped_column(Text, nullable=False)
    given_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class ResidentLocation(db.Model):
    """A place a resident wants alerts for (home, farm, business), at its postcode's point.

    The point is copied from the postcode when the location is saved, so a postcode
    that is later terminated or moved does not silently drop the resident.
    """

    __tablename__ = "resident_locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True
    )
    label: Mapped[str] = mapped_column(String(40), nullable=False, server_default="Home")
    postcode: Mapped[str] = mapped_column(String(8), nullable=False, index=True)
    location = mapped_column(Geometry("POINT", srid=BNG, spatial_index=True), nullable=False)
    # The force whose area holds it: PostgreSQL decides it whenever the postcode or point
    # is written (migration 0034's location_force); nothing writes it here.
    force_id: Mapped[int | None] = force_column(nullable=True, ondelete="SET NULL")

    resident: Mapped[Resident] = relationship(back_populates="locations")


class ResidentChannel(db.Model):
    """One way to reach a resident: a mobile for SMS, a phone for voice, an e-mail."""

    __tablename__ = "resident_channels"
    __table_args__ = (
        CheckConstraint("channel IN ('sms', 'voice', 'email')", name="channel_known"),
        CheckConstraint("unsubscribed_by IN ('text', 'link')", name="unsubscribed_by_known"),
        # STOP, replies, "is this number taken?" and manage-link requests look it up.
        Index("ix_resident_channels_address", "address"),
    )

    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    address: Mapped[str] = mapped_column(String(254), nullable=False)  # E.164 or e-mail
    # Set when the resident stopped this channel (SMS STOP, one-click unsubscribe):
    # nothing more is sent to it, and the record shows when and why.
    unsubscribed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # How (migration 0052): "text" (STOP, or the provider's opt-out), which START undoes,
    # or "link" (an unsubscribe link), undone on the resident's page; None on a channel
    # stopped before this was kept, taken as "text".
    unsubscribed_by: Mapped[str | None] = mapped_column(String(8))
    # Nothing is sent to a channel until the resident proves it is theirs: a link for
    # e-mail, a 6-digit code for SMS and voice (only its hash is kept, for 10 minutes).
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verify_code_hash: Mapped[str | None] = mapped_column(String(128))
    verify_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verify_attempts: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="0")
    # A new address for a confirmed channel, waiting to be proved (migration 0043): until
    # then alerts still go to `address`, and the code or link goes here.
    pending_address: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    resident: Mapped[Resident] = relationship(back_populates="channels")

    @property
    def proving_address(self) -> str:
        """Where the code or link to prove goes: the new address, if one waits."""
        return self.pending_address or self.address

    @property
    def awaiting_proof(self) -> bool:
        """Whether a code or link for this channel waits to be used."""
        return self.verified_at is None or self.pending_address is not None

    def proved(self) -> str | None:
        """The code or link was used: the channel (its new address, if one waited) gets
        alerts from now on. The address it had before, when this changed it."""
        before = None
        if self.pending_address is not None:
            before = self.address if self.address != self.pending_address else None
            self.address, self.pending_address = self.pending_address, None
        self.verified_at = func.now()
        return before


class InterestGroup(db.Model):
    """A group residents can join (Neighbourhood Watch, Farm Watch...), set by the force."""

    __tablename__ = "interest_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    name_cy: Mapped[str | None] = mapped_column(Text)  # its name on Welsh pages


class ResidentImport(db.Model):
    """A subscriber list brought over from another system: the file (dropped once
    imported), whether to tell the residents, and the report of every row."""

    __tablename__ = "resident_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    content: Mapped[str | None] = mapped_column(Text)
    notify: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    # Its administrator's force: only its staff see the file's rows and report.
    force_id: Mapped[int] = force_column()
    # queued, checked (dry run done), running, done, failed
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="queued")
    report: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
