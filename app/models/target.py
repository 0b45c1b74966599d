from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
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
        ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True
    )
    location_id: Mapped[int] = mapped_column(
        ForeignKey("resident_locations.id", ondelete="CASCADE"), nullable=False
    )
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    address: Mapped[str] = mapped_column(String(254), nullable=False)
    group_ids: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), nullable=False, server_default="{}"
    )
    location = mapped_column(Geometry("POINT", srid=BNG, spatial_index=True), nullable=False)
