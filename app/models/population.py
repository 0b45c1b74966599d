"""Population estimates per ward, for reach against population (penetration)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class WardPopulation(db.Model):
    """One ward's population in one year's estimates (ONS mid-year, by ward code).

    Matched to wards by code only: a ward whose code is not here has no figure, and
    the reports say so rather than count it as nobody. `data_load_id` names the load
    (data_loads) that wrote it: the file, and in its summary the year, the
    boundaries' edition and the attribution to show with every figure.
    """

    __tablename__ = "ward_population"
    __table_args__ = (CheckConstraint("adults >= 0 AND all_ages >= adults", name="counts_add_up"),)

    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    ward_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    adults: Mapped[int] = mapped_column(Integer, nullable=False)  # aged 18 and over
    all_ages: Mapped[int] = mapped_column(Integer, nullable=False)
    data_load_id: Mapped[int] = mapped_column(
        ForeignKey("data_loads.id", ondelete="CASCADE"), nullable=False, index=True
    )
