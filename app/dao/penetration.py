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


def count_confirmed_residents_by_ward(session) -> list[tuple[str | None, str | None, int]]:
    """(ward code, district code, confirmed residents) for every ward code residents
    are in, as last counted (app/dao/figures.py: ward_residents); codes are None where
    neither the directory nor a boundary places them."""
    rows = session.execute(
        text(
            "SELECT nullif(ward_code, ''), nullif(district_code, ''), residents FROM ward_residents"
        )
    ).all()
    return [tuple(row) for row in rows]
