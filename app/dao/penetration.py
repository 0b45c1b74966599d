"""Reach against population: ward population figures and confirmed residents per
ward. Reads and writes that never commit (the services own the transaction)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, text

from app.models import DataLoad, Place, WardPopulation


@dataclass(frozen=True)
class WardPlace:
    code: str
    name: str
    district_code: str | None


@dataclass(frozen=True)
class PopulationEdition:
    year: int
    data_load_id: int
    dataset: str
    summary: dict


def find_data_load(session, dataset: str, sha256: str) -> DataLoad | None:
    return session.scalar(
        select(DataLoad).where(DataLoad.dataset == dataset, DataLoad.sha256 == sha256)
    )


def count_population_rows_of_load(session, data_load_id: int) -> int:
    return session.scalar(select(func.count()).where(WardPopulation.data_load_id == data_load_id))


def replace_ward_population(
    session, *, year: int, data_load_id: int, rows: Iterable[tuple[str, int, int]]
) -> int:
    """Put (ward_code, adults, all_ages) rows in place of the year's: the year's
    figures are one edition, never a mix of two files."""
    session.execute(delete(WardPopulation).where(WardPopulation.year == year))
    values = [
        {
            "year": year,
            "ward_code": code,
            "adults": adults,
            "all_ages": everyone,
            "data_load_id": data_load_id,
        }
        for code, adults, everyone in rows
    ]
    if values:
        session.execute(insert(WardPopulation), values)
    return len(values)


def find_latest_population(session) -> tuple[PopulationEdition | None, dict[str, tuple]]:
    """The newest year's edition and {ward_code: (adults, all_ages)}; (None, {})
    when no population was loaded."""
    year = session.scalar(select(func.max(WardPopulation.year)))
    if year is None:
        return None, {}
    rows = session.execute(
        select(
            WardPopulation.ward_code,
            WardPopulation.adults,
            WardPopulation.all_ages,
            WardPopulation.data_load_id,
        ).where(WardPopulation.year == year)
    ).all()
    load_id = rows[0][3]
    load = session.get(DataLoad, load_id)
    edition = PopulationEdition(year, load_id, load.dataset, dict(load.summary or {}))
    return edition, {code: (adults, everyone) for code, adults, everyone, _ in rows}


def find_wards_of_districts(session, district_codes: Iterable[str]) -> list[WardPlace]:
    """The wards (newest boundary release of each code) whose district, as the
    boundary file gives it (property lad23cd), is one of these."""
    codes = list(district_codes)
    if not codes:
        return []
    district = Place.properties["lad23cd"].astext
    rows = session.execute(
        select(Place.code, Place.name, district)
        .where(Place.kind == "ward", district.in_(codes))
        .distinct(Place.code)
        .order_by(Place.code, Place.release.desc())
    ).all()
    return [WardPlace(code, name, lad) for code, name, lad in rows]


def find_ward_places(session, codes: Iterable[str]) -> dict[str, WardPlace]:
    """Wards by code, whatever their district (newest release of each)."""
    codes = list(codes)
    if not codes:
        return {}
    rows = session.execute(
        select(Place.code, Place.name, Place.properties["lad23cd"].astext)
        .where(Place.kind == "ward", Place.code.in_(codes))
        .distinct(Place.code)
        .order_by(Place.code, Place.release.desc())
    ).all()
    return {code: WardPlace(code, name, lad) for code, name, lad in rows}


def find_district_names(session, codes: Iterable[str]) -> dict[str, str]:
    codes = list(codes)
    if not codes:
        return {}
    rows = session.execute(
        select(Place.code, Place.name)
        .where(Place.kind == "district", Place.code.in_(codes))
        .distinct(Place.code)
        .order_by(Place.code, Place.release.desc())
    ).all()
    return dict(rows)


# Each confirmed resident counted once, at the first place they registered (their
# home, as a rule): a population counts people where they live, and one count per
# resident makes a district exactly the sum of its wards. "Confirmed": a way to reach
# them that they proved is theirs and have not stopped (a paused resident still
# counts: they are registered). The ward is the one the postcode directory gives the
# postcode (ONS assigns each postcode to one ward); without one (a postcode the
# directory no longer has, or holds without codes) the ward boundary the point falls
# in, by code; the district likewise.
_RESIDENTS_BY_WARD = """
WITH counted AS (
    SELECT DISTINCT ON (rl.resident_id) rl.resident_id, rl.postcode, rl.location
    FROM resident_locations rl
    WHERE EXISTS (
        SELECT 1 FROM resident_channels c
        WHERE c.resident_id = rl.resident_id
          AND c.verified_at IS NOT NULL AND c.unsubscribed_at IS NULL
    )
    ORDER BY rl.resident_id, rl.id
), placed AS (
    SELECT
        COALESCE(
            p.admin_ward_code,
            (SELECT w.code FROM places w
             WHERE w.kind = 'ward' AND ST_Covers(w.boundary, counted.location)
             ORDER BY w.release DESC, w.code LIMIT 1)
        ) AS ward_code,
        COALESCE(
            p.admin_district_code,
            (SELECT d.code FROM places d
             WHERE d.kind = 'district' AND ST_Covers(d.boundary, counted.location)
             ORDER BY d.release DESC, d.code LIMIT 1)
        ) AS district_code
    FROM counted
    LEFT JOIN postcodes p ON p.postcode = counted.postcode
)
SELECT ward_code, district_code, count(*) FROM placed GROUP BY ward_code, district_code
"""


def count_confirmed_residents_by_ward(session) -> list[tuple[str | None, str | None, int]]:
    """(ward code, district code, confirmed residents) for every ward code residents
    are in; codes are None where neither the directory nor a boundary places them."""
    return [tuple(row) for row in session.execute(text(_RESIDENTS_BY_WARD)).all()]
