"""Teams (neighbourhood policing teams): their officers, the supervisors who approve
for them, the areas they may send to, and which teams an alert belongs to."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.force import force_column
from app.models.officer import Officer
from app.models.place import Place
from geo.projection import BNG


def _link(name: str, officer_column: str = "officer_id") -> Table:
    return Table(
        name,
        db.metadata,
        Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
        Column(
            officer_column,
            ForeignKey("officers.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


# The officers of a team; an officer may be in several.
team_members = _link("team_members")
# The supervisors who approve the team's alerts (and are told when one waits).
team_supervisors = _link("team_supervisors")

# The teams an alert belongs to: its author's teams when it was created. Written by a
# trigger on alerts (migration 0023) for every new alert, whatever wrote it.
alert_teams = Table(
    "alert_teams",
    db.metadata,
    Column("alert_id", ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Team(db.Model):
    """A neighbourhood policing team. `area` is the union of its permitted areas (BNG),
    kept by services/teams.py whenever they change; NULL when it has none, which
    means its officers may send anywhere in the force."""

    __tablename__ = "teams"
    __table_args__ = (Index("uq_teams_name", "force_id", func.lower("name"), unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    force_id: Mapped[int] = force_column()
    area = mapped_column(Geometry("MULTIPOLYGON", srid=BNG, spatial_index=False))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    members: Mapped[list[Officer]] = relationship(
        secondary=team_members, order_by=Officer.name, lazy="selectin"
    )
    supervisors: Mapped[list[Officer]] = relationship(
        secondary=team_supervisors, order_by=Officer.name, lazy="selectin"
    )
    areas: Mapped[list[TeamArea]] = relationship(
        back_populates="team",
        cascade="all, delete-orphan",
        order_by="TeamArea.label",
        lazy="selectin",
    )


class TeamArea(db.Model):
    """One permitted area of a team: a ward or district (a places row), or a shape an
    administrator drew (BNG)."""

    __tablename__ = "team_areas"
    __table_args__ = (
        CheckConstraint("(place_id IS NULL) <> (shape IS NULL)", name="place_or_shape"),
        UniqueConstraint("team_id", "place_id", name="uq_team_areas_team_id_place_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True
    )
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id", ondelete="CASCADE"))
    # What the page shows: the place's name and kind, or the name given to a shape.
    label: Mapped[str] = mapped_column(Text, nullable=False)
    shape = mapped_column(Geometry("MULTIPOLYGON", srid=BNG, spatial_index=False))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    team: Mapped[Team] = relationship(back_populates="areas")
    place: Mapped[Place | None] = relationship()
