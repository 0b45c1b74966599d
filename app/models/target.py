from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from geo.projection import BNG


class Target(db.Model):
    """One way an alert can reach a resident at one of their places: a verified, not
    stopped channel of a resident who has not paused alerts, with the place's point and
    the resident's groups. PostgreSQL keeps these rows in step with residents, their
    channels, places and groups (migration 0022's triggers): nothing writes them here.
    Who an area reaches is found in this one table by its spatial index."""

    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("location_id", "channel"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
        index=True,
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("resident_locations.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    )
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    address: Mapped[str] = mapped_column(String(254), nullable=False)
    group_ids: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), nullable=False, server_default="{}"
    )
    location = mapped_column(Geometry("POINT", srid=BNG, spatial_index=True), nullable=False)
    # The force of the place (migration 0034): whose officers can reach it.
    force_id: Mapped[int | None] = mapped_column(Integer)
    # One place and no address anyone else holds: counted ahead in target_squares.
    simple: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())


# The side of a target square, in metres of the national grid (migration 0031).
SQUARE_M = 500


class TargetSquare(db.Model):
    """How many simple residents (see Target.simple) have their place in one SQUARE_M
    square of the national grid (i, j: its corner divided by SQUARE_M), in exactly these
    groups, reachable on exactly these channels. PostgreSQL keeps it in step with the
    targets (migration 0031): nothing writes it here. The preview adds these up for the
    squares wholly inside an area."""

    __tablename__ = "target_squares"

    force_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: no force
    i: Mapped[int] = mapped_column(Integer, primary_key=True)
    j: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), primary_key=True)
    channels: Mapped[list[str]] = mapped_column(ARRAY(Text), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, nullable=False)
